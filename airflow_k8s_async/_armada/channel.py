"""gRPC channels from a serializable description: one channel per (description, event loop).

A :class:`ChannelSpec` is small and hashable. Its ``auth`` is a *description* (a class path and
JSON keyword arguments), never a credential: the plugin object is built in the process that
opens the channel, so a triggerer rebuilds it from trigger kwargs that hold no secret.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from airflow_k8s_async._kube.perloop import PerLoop
from airflow_k8s_async.errors import ConfigurationError


@dataclass(frozen=True)
class ChannelSpec:
    """How to reach one Armada server. ``auth`` is ``(class path, canonical JSON kwargs)``."""

    target: str
    options: tuple[tuple[str, Any], ...] = ()
    compression: int | None = None
    auth: tuple[str, str] | None = None

    def describe(self) -> str:
        how = f"auth {self.auth[0]}" if self.auth else "insecure"
        return f"{self.target} ({how})"


def import_object(classpath: str) -> Any:
    """The class (or callable) a dotted path names; a clear error when it cannot be imported."""
    module_name, _, name = classpath.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"cannot import {classpath!r}: {exc}") from exc


def describe_object(value: Any, *, what: str) -> tuple[str, dict[str, Any]]:
    """``value.serialize()`` -> ``(class path, kwargs)``, checked to be JSON-safe.

    Objects that travel to the triggerer (auth plugins, token retrievers) describe themselves
    this way, like triggers do; the kwargs are stored in plain JSON, so they must name where a
    secret lives (a connection id, a file, a variable), never hold it.
    """
    serialize = getattr(value, "serialize", None)
    if not callable(serialize):
        raise ConfigurationError(
            f"{what} {type(value).__name__} cannot travel to the triggerer: give it a serialize() "
            "method returning (class path, JSON-safe kwargs) without secrets (see docs/armada-operator.md)"
        )
    classpath, kwargs = serialize()
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{what} {classpath}: serialize() kwargs are not JSON-safe: {exc}") from exc
    return str(classpath), dict(kwargs)


def build_object(classpath: str, kwargs: Mapping[str, Any]) -> Any:
    """The inverse of :func:`describe_object`."""
    return import_object(classpath)(**kwargs)


def channel_options(options: Sequence[Sequence[Any]] | None) -> tuple[tuple[str, Any], ...]:
    return tuple((str(key), value) for key, value in options or ())


# HTTP/2 pings while a call is open, so a half-open connection (a lost node, a load balancer's idle
# timeout) fails the event stream within ~80 s and it resumes from its last message, instead of
# waiting forever. A server whose enforcement policy allows fewer pings (grpc-go's default: one per
# 5 min) answers GOAWAY "too_many_pings": the stream resumes and gRPC doubles its ping interval.
# The user's channel options win.
KEEPALIVE_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.ping_timeout_ms", 20_000),  # gRPC core waits this (default 60 s) for the ack
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
)


def channel_options_with_keepalive(options: tuple[tuple[str, Any], ...]) -> list[tuple[str, Any]]:
    return list({**dict(KEEPALIVE_OPTIONS), **dict(options)}.items())


def open_channel(spec: ChannelSpec) -> grpc.aio.Channel:
    """A new channel; insecure without auth (as armada-airflow), else TLS plus the auth plugin."""
    compression = None if spec.compression is None else grpc.Compression(spec.compression)
    options = channel_options_with_keepalive(spec.options)
    if spec.auth is None:
        return grpc.aio.insecure_channel(spec.target, options=options, compression=compression)
    plugin = build_object(spec.auth[0], json.loads(spec.auth[1]))
    credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(), grpc.metadata_call_credentials(plugin)
    )
    return grpc.aio.secure_channel(spec.target, credentials, options=options, compression=compression)


# One channel per spec per loop.
async def _close(channel: grpc.aio.Channel) -> None:
    await channel.close()


CHANNELS: PerLoop[ChannelSpec, grpc.aio.Channel] = PerLoop("gRPC channels", close=_close, order=3)


def get_channel(spec: ChannelSpec) -> grpc.aio.Channel:
    """The shared channel for ``spec`` on the running loop (gRPC multiplexes every call on it)."""
    return CHANNELS.get_now(spec, lambda: open_channel(spec))


async def close_channels() -> None:
    """Close the running loop's channels (end of a worker's ``asyncio.run``, tests)."""
    await CHANNELS.close()

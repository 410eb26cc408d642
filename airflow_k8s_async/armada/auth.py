"""Credentials for Armada and for the job's pods, described without secrets.

``TokenRetriever`` is armada-airflow's protocol (``get_token() -> str``). Ours also
``serialize()`` to ``(class path, kwargs)``, so the triggerer builds them again from trigger
kwargs that name where the token lives (a file, an environment variable), not the token.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import grpc

from airflow_k8s_async._armada.channel import build_object, describe_object
from airflow_k8s_async.errors import ConfigurationError

__all__ = [
    "BearerTokenAuth",
    "EnvTokenRetriever",
    "FileTokenRetriever",
    "TokenRetriever",
    "describe_token_retriever",
    "token_retriever_from",
]


@runtime_checkable
class TokenRetriever(Protocol):
    """Fetches a bearer token; called in the process that needs it (worker or triggerer)."""

    def get_token(self) -> str: ...


def _classpath(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class FileTokenRetriever:
    """Reads the token from a file at each call (e.g. a projected service-account token)."""

    def __init__(self, *, path: str) -> None:
        self.path = path

    def get_token(self) -> str:
        return Path(self.path).read_text().strip()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return _classpath(self), {"path": self.path}


class EnvTokenRetriever:
    """Reads the token from an environment variable of the process that calls it."""

    def __init__(self, *, variable: str) -> None:
        self.variable = variable

    def get_token(self) -> str:
        try:
            return os.environ[self.variable]
        except KeyError:
            raise ConfigurationError(f"environment variable {self.variable} (the token) is not set") from None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return _classpath(self), {"variable": self.variable}


def token_retriever_from(description: Sequence[Any] | None) -> TokenRetriever | None:
    """Build a retriever from ``[class path, kwargs]`` (trigger kwargs), or None."""
    if not description:
        return None
    retriever: TokenRetriever = build_object(str(description[0]), dict(description[1]))
    return retriever


def describe_token_retriever(retriever: TokenRetriever | None) -> list[Any] | None:
    if retriever is None:
        return None
    classpath, kwargs = describe_object(retriever, what="k8s_token_retriever")
    return [classpath, kwargs]


class BearerTokenAuth(grpc.AuthMetadataPlugin):  # type: ignore[misc]
    """``authorization: Bearer <token>`` on every Armada call, the token from a retriever."""

    def __init__(self, *, token_retriever: TokenRetriever | Sequence[Any]) -> None:
        if isinstance(token_retriever, (list, tuple)):
            token_retriever = build_object(str(token_retriever[0]), dict(token_retriever[1]))
        self.token_retriever: TokenRetriever = token_retriever  # type: ignore[assignment]

    def __call__(self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback) -> None:
        try:
            callback((("authorization", f"Bearer {self.token_retriever.get_token()}"),), None)
        except Exception as exc:  # gRPC fails the call with this error
            callback((), exc)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return _classpath(self), {"token_retriever": describe_token_retriever(self.token_retriever)}

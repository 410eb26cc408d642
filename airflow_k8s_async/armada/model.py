"""GrpcChannelArgs and RunningJobContext: armada-airflow's names, serializable without secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, ClassVar

from armada_client.typings import JobState

from airflow_k8s_async._armada.channel import ChannelSpec, build_object, channel_options, describe_object
from airflow_k8s_async._armada.states import TERMINAL, UNKNOWN, as_job_state
from airflow_k8s_async.errors import ConfigurationError

__all__ = [
    "GrpcChannelArgs",
    "RunningJobContext",
]


class GrpcChannelArgs:
    """How to reach the Armada server: ``target`` (``host:port``), channel ``options``,
    ``compression`` (a ``grpc.Compression``) and ``auth`` (a ``grpc.AuthMetadataPlugin``).

    ``auth`` travels to the triggerer as its ``serialize()`` description (class path and
    kwargs, e.g. :class:`~airflow_k8s_async.armada.auth.BearerTokenAuth` naming a token file),
    never as a credential. Without ``auth`` the channel is insecure, as in armada-airflow.
    """

    __version__: ClassVar[int] = 2

    def __init__(
        self,
        target: str,
        options: Sequence[tuple[str, Any]] | None = None,
        compression: Any = None,
        auth: Any = None,
    ) -> None:
        if not isinstance(target, str) or not target.strip():
            raise ConfigurationError("GrpcChannelArgs needs target='host:port' of the Armada server")
        self.target = target
        self.options = options
        self.compression = compression
        self.auth = auth

    def _auth_description(self) -> dict[str, Any] | None:
        if self.auth is None:
            return None
        classpath, kwargs = describe_object(self.auth, what="GrpcChannelArgs auth")
        return {"classpath": classpath, "kwargs": kwargs}

    def serialize(self) -> dict[str, Any]:
        """JSON-safe; ``deserialize(data, GrpcChannelArgs.__version__)`` gives it back."""
        return {
            "target": self.target,
            "options": [list(option) for option in channel_options(self.options)],
            "compression": None if self.compression is None else int(self.compression),
            "auth": self._auth_description(),
        }

    @staticmethod
    def deserialize(data: Mapping[str, Any], version: int) -> GrpcChannelArgs:
        """Version 1 is armada-airflow's layout (``auth`` the plugin object itself, or None)."""
        if version > GrpcChannelArgs.__version__:
            raise TypeError(
                f"serialized GrpcChannelArgs version {version} > class version {GrpcChannelArgs.__version__}"
            )
        auth = data.get("auth")
        if version >= 2 and auth is not None:
            auth = build_object(str(auth["classpath"]), auth.get("kwargs") or {})
        options = [tuple(option) for option in data.get("options") or []] or None
        return GrpcChannelArgs(
            str(data["target"]), options=options, compression=data.get("compression"), auth=auth
        )

    def spec(self) -> ChannelSpec:
        """The hashable channel description the gRPC plumbing keys its shared channels on."""
        auth = self._auth_description()
        return ChannelSpec(
            target=self.target,
            options=channel_options(self.options),
            compression=None if self.compression is None else int(self.compression),
            auth=None if auth is None else (auth["classpath"], json.dumps(auth["kwargs"], sort_keys=True)),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GrpcChannelArgs) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(self.spec())

    def __repr__(self) -> str:
        return (
            f"GrpcChannelArgs(target={self.target!r}, auth={type(self.auth).__name__ if self.auth else None})"
        )


@dataclass(frozen=True)
class RunningJobContext:
    """A submitted Armada job, as the operator knows it (kept in XCom ``job_context``)."""

    armada_queue: str
    job_id: str
    job_set_id: str
    submit_time: datetime
    cluster: str | None = None
    last_log_time: datetime | None = None
    job_state: str = UNKNOWN

    @property
    def state(self) -> JobState:
        """As armada-airflow's: the ``JobState`` member (``job_state`` keeps its name)."""
        return as_job_state(self.job_state)

    @property
    def terminal(self) -> bool:
        return self.job_state in TERMINAL

    def with_state(self, state: str, *, cluster: str | None = None) -> RunningJobContext:
        return replace(self, job_state=state, cluster=cluster or self.cluster)

    def to_xcom(self) -> dict[str, Any]:
        """The layout armada-airflow pushes as XCom ``job_context``."""
        return {
            "armada_queue": self.armada_queue,
            "armada_job_id": self.job_id,
            "armada_job_set_id": self.job_set_id,
            "armada_job_submit_time": self.submit_time.isoformat(),
            "armada_job_state": self.job_state,
            "armada_job_last_log_time": None
            if self.last_log_time is None
            else self.last_log_time.isoformat(),
        }

    @staticmethod
    def from_xcom(value: Mapping[str, Any]) -> RunningJobContext:
        def when(text: Any) -> datetime | None:
            return None if not text else datetime.fromisoformat(str(text))

        return RunningJobContext(
            armada_queue=str(value["armada_queue"]),
            job_id=str(value["armada_job_id"]),
            job_set_id=str(value["armada_job_set_id"]),
            submit_time=when(value.get("armada_job_submit_time")) or datetime.now(timezone.utc),
            last_log_time=when(value.get("armada_job_last_log_time")),
            job_state=str(value.get("armada_job_state") or UNKNOWN),
        )

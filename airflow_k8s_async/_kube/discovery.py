"""apiVersion + kind -> the API resource (plural, scope), from the API server's own discovery answer.

``GET /api/v1`` lists the core kinds, ``GET /apis/{group}/{version}`` the kinds of a group version
(custom kinds included, once their CRD is established). Plurals come from the server, never from
appending "s" (``Proxy`` -> ``proxies``, ``Endpoints`` -> ``endpoints``). Answers are cached on the
client, by apiVersion; a kind missing from a cached answer is looked up once more, since its CRD
may have been installed since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, KubeNotFoundError
from .client import KubeClient
from .mapping import as_list, as_map
from .subscription import Resource

_Kinds = dict[str, Resource]


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    if not version or "/" in group or (not group and api_version != version):
        raise ConfigurationError(f"apiVersion {api_version!r} is malformed: use 'v1' or 'group/version'")
    return group, version


def _not_found(kind: str, api_version: str, kinds: _Kinds | None) -> ConfigurationError:
    message = f"kind {kind} not found in apiVersion {api_version} on the cluster (is the CRD installed?)"
    if kinds is not None:
        near = [k for k in kinds if k.lower() == kind.lower()]
        if near:
            message += f"; did you mean {near[0]}?"
    return ConfigurationError(message)


async def _fetch(client: KubeClient, api_version: str) -> _Kinds:
    group, version = _split(api_version)
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    try:
        answer: Any = await client.request("GET", path)
    except KubeNotFoundError:
        return {}
    kinds: _Kinds = {}
    for item in as_list(as_map(answer).get("resources")):
        name = item.get("name", "")
        if not name or "/" in name or "kind" not in item:  # "pods/log" and other subresources
            continue
        kinds.setdefault(
            item["kind"],
            Resource(
                group=group,
                version=version,
                plural=name,
                kind=item["kind"],
                namespaced=bool(item.get("namespaced")),
            ),
        )
    return kinds


async def _kinds(client: KubeClient, api_version: str, *, fresh: bool) -> _Kinds:
    per_client: dict[str, asyncio.Task[_Kinds]] = client.discovered
    task = per_client.get(api_version)
    if task is None or (fresh and task.done()):
        # One lookup per (client, apiVersion) at a time, in a task of its own: a caller that is
        # cancelled does not cancel it for the others waiting on it.
        task = asyncio.get_running_loop().create_task(_fetch(client, api_version))
        per_client[api_version] = task

        def forget_failed(done: asyncio.Task[_Kinds]) -> None:
            if (done.cancelled() or done.exception() is not None) and per_client.get(api_version) is done:
                del per_client[api_version]

        task.add_done_callback(forget_failed)
    return await asyncio.shield(task)


async def resolve(client: KubeClient, *, api_version: str, kind: str) -> Resource:
    """The resource for ``kind`` in ``api_version`` as the cluster serves it.

    Raises ConfigurationError when the group version or the kind is unknown to the cluster; API
    errors other than 404 (403, connection errors) are raised as they are.
    """
    kinds = await _kinds(client, api_version, fresh=False)
    if kind not in kinds:
        kinds = await _kinds(client, api_version, fresh=True)
    if kind not in kinds:
        raise _not_found(kind, api_version, kinds)
    return kinds[kind]


async def resolve_all(
    client: KubeClient, *, resources: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], Resource]:
    """Every distinct (apiVersion, kind) of ``resources``, resolved concurrently."""
    keys = list(dict.fromkeys((str(r.get("apiVersion")), str(r.get("kind"))) for r in resources))
    found = await asyncio.gather(*(resolve(client, api_version=v, kind=k) for v, k in keys))
    return dict(zip(keys, found, strict=True))


def forget(client: KubeClient) -> None:
    """Drop what is cached for ``client`` (after CRDs changed, or in tests)."""
    client.discovered.clear()

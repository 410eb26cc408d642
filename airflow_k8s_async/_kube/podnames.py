"""Pod names as KubernetesPodOperator makes them: the ``name`` keyword, the task id, the random suffix."""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import secrets
import string
import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar

from ..errors import ConfigurationError

POD_NAME_MAX_LENGTH = 63  # as the provider: a pod's hostname is its name, and HOST_NAME_MAX is 64
_SUFFIX_CHARS = string.ascii_lowercase + string.digits
_SEEDED: ContextVar[random.Random | None] = ContextVar("airflow_k8s_async_seeded_names", default=None)


def seed_of(*parts: object) -> int:
    """A number derived from ``parts``, the same in every process."""
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


@contextlib.contextmanager
def stable_suffixes(*parts: object) -> Iterator[None]:
    """Within it, the "random" name suffixes come from ``parts`` (a task instance and try): the same
    resources built twice get the same names, so a second create meets the first objects."""
    token = _SEEDED.set(random.Random(seed_of(*parts)))
    try:
        yield
    finally:
        _SEEDED.reset(token)


def random_token(length: int) -> str:
    """``length`` random [a-z0-9]: from :func:`stable_suffixes` when inside it."""
    seeded = _SEEDED.get()
    if seeded is not None:
        return "".join(seeded.choice(_SUFFIX_CHARS) for _ in range(length))
    return "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(length))


def add_unique_suffix(
    name: str, *, rand_len: int = 8, max_len: int = POD_NAME_MAX_LENGTH, token: str | None = None
) -> str:
    """``name`` cut to fit, ``-.`` stripped from its ends, then ``-`` and ``rand_len`` random [a-z0-9]
    (or ``token``, for a name that must come out the same twice)."""
    suffix = "-" + (token or random_token(rand_len))
    return name[: max_len - len(suffix)].strip("-.") + suffix


def name_from_keyword(name: str) -> str:
    """The ``name`` keyword as the provider uses it: lowercased, runs of [^a-z0-9-] -> "-"."""
    if len(name) > 220 or not re.fullmatch(r"[\w.-]+", name):
        raise ConfigurationError(
            f"name {name!r} is invalid: use at most 220 letters, digits, '-', '_' and '.' "
            "(it is lowercased and every run of other characters becomes '-')"
        )
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def name_from_task_id(task_id: str, *, unique: bool) -> str:
    """A pod name from the task id (slugified, <= 63 chars), with a random suffix when ``unique``."""
    ascii_id = unicodedata.normalize("NFKD", task_id).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_id.lower())[:POD_NAME_MAX_LENGTH].strip(".-")
    if not slug:
        raise ConfigurationError(f"cannot make a pod name from task id {task_id!r}: pass name=")
    return add_unique_suffix(slug) if unique else slug

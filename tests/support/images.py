"""An image with Python for ``@task.kubernetes_async`` tasks, where nothing can be pulled.

``E2E_PYTHON_IMAGE`` names one (e.g. ``python:3.12-slim`` on kind); otherwise ``python:local`` is
imported into the local cluster's docker (``../shared/k8s-local``) from this interpreter: its
executable, the shared libraries it links and its standard library, at the same paths, with
``python`` on the image's PATH. Nothing of Airflow or of this package is in it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

LOCAL = "python:local"
_SKIP = {"site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip"}


def python_image() -> str:
    """The image's name; built once per docker (it stays until ``down.sh --purge``)."""
    given = os.environ.get("E2E_PYTHON_IMAGE")
    if given:
        return given
    docker = _docker()
    present = subprocess.run([*docker, "image", "inspect", LOCAL], capture_output=True)
    if present.returncode == 0:
        return LOCAL
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "rootfs.tar"
        _rootfs(archive)
        with archive.open("rb") as stream:
            subprocess.run(
                [*docker, "import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-", LOCAL],
                stdin=stream,
                check=True,
                capture_output=True,
            )
    return LOCAL


def _docker() -> list[str]:
    """The docker CLI of the local cluster's docker (../shared/k8s-local)."""
    home = Path(os.environ.get("K8S_LOCAL_HOME", "/var/cache/k8s-local"))
    return ["docker", "-H", f"unix://{home / 'run' / 'docker.sock'}"]


def _libraries(executable: str) -> list[str]:
    """The shared libraries ``executable`` links (ldd), loader included."""
    out = subprocess.run(["ldd", executable], capture_output=True, text=True, check=True).stdout
    return [path for path in re.findall(r"(/\S+)", out) if os.path.exists(path)]


def _rootfs(archive: Path) -> None:
    executable = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    # The modules of lib-dynload link libraries of their own (zlib, ...): theirs too.
    dynload = Path(stdlib) / "lib-dynload"
    files = {executable, *_libraries(executable)}
    files |= {lib for module in dynload.glob("*.so") for lib in _libraries(str(module))}
    with tarfile.open(archive, "w") as tar:
        for path in sorted(files):
            if not path.startswith(stdlib):  # (the standard library comes whole below)
                tar.add(os.path.realpath(path), arcname=path.lstrip("/"))

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = set(Path(info.name).parts)
            return None if parts & _SKIP or "__pycache__" in parts else info

        tar.add(stdlib, arcname=stdlib.lstrip("/"), filter=keep)
        link = tarfile.TarInfo("usr/local/bin/python")
        link.type, link.linkname = tarfile.SYMTYPE, executable
        tar.addfile(link)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)


BASH = "bash:local"
_BASH_DOCKERFILE = """\
FROM busybox:local
RUN printf '#!/bin/sh\\nexec /bin/sh "$@"\\n' > /bin/bash && chmod 755 /bin/bash
ENTRYPOINT ["bash"]
"""


def bash_image() -> str:
    """An image whose entrypoint is ``bash`` (busybox's shell under that name), for examples written
    for ``bash:5.2`` (``E2E_BASH_IMAGE`` elsewhere)."""
    given = os.environ.get("E2E_BASH_IMAGE")
    if given:
        return given
    docker = _docker()
    if subprocess.run([*docker, "image", "inspect", BASH], capture_output=True).returncode == 0:
        return BASH
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "Dockerfile").write_text(_BASH_DOCKERFILE)
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        subprocess.run([*docker, "build", "-q", "-t", BASH, folder], check=True, capture_output=True, env=env)
    return BASH


if __name__ == "__main__":  # python -m tests.support.images: build them now
    print(python_image(), bash_image())

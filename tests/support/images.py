"""Images for tests where nothing can be pulled: Python for ``@task.kubernetes_async`` tasks, perl
and bash for the provider's examples.

``E2E_PYTHON_IMAGE`` names one (e.g. ``python:3.12-slim`` on kind); otherwise ``python:local`` is
imported into the local cluster's docker (``../shared/k8s-local``) from this interpreter: its
executable, the shared libraries it links and its standard library, at the same paths, with
``python`` on the image's PATH. Nothing of Airflow or of this package is in it. ``perl:local`` is
made the same way from this machine's perl (``E2E_PERL_IMAGE``).
"""

from __future__ import annotations

import os
import re
import shutil
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
    stdlib = sysconfig.get_paths()["stdlib"]
    return _local_image(
        LOCAL,
        given=os.environ.get("E2E_PYTHON_IMAGE"),
        executable=sys.executable,
        trees=[stdlib],  # (its lib-dynload modules link libraries of their own: zlib, ...)
        command="python",
    )


PERL = "perl:local"


def perl_image() -> str:
    """``perl:local`` from this machine's perl and its core modules (``E2E_PERL_IMAGE`` elsewhere),
    for examples written for ``perl:5.34.0``."""
    perl = shutil.which("perl")
    assert perl, "perl:local is built from this machine's perl, and there is none"
    out = subprocess.run([perl, "-e", "print join(qq{\n}, @INC)"], capture_output=True, text=True, check=True)
    trees = [path for path in out.stdout.splitlines() if os.path.isdir(path)]
    return _local_image(
        PERL,
        given=os.environ.get("E2E_PERL_IMAGE"),
        executable=perl,
        trees=trees,
        command="perl",
    )


def _local_image(name: str, *, given: str | None, executable: str, trees: list[str], command: str) -> str:
    """``given``, else ``name`` imported into the cluster's docker once: ``executable``, the shared
    libraries it and the trees' ``.so`` modules link, the ``trees`` whole, at the same paths, with
    ``command`` on the image's PATH."""
    if given:
        return given
    docker = _docker()
    present = subprocess.run([*docker, "image", "inspect", name], capture_output=True)
    if present.returncode == 0:
        return name
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "rootfs.tar"
        _rootfs(archive, executable=os.path.realpath(executable), trees=trees, command=command)
        with archive.open("rb") as stream:
            subprocess.run(
                [*docker, "import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-", name],
                stdin=stream,
                check=True,
                capture_output=True,
            )
    return name


def _docker() -> list[str]:
    """The docker CLI of the local cluster's docker (../shared/k8s-local)."""
    home = Path(os.environ.get("K8S_LOCAL_HOME", "/var/cache/k8s-local"))
    return ["docker", "-H", f"unix://{home / 'run' / 'docker.sock'}"]


def _libraries(executable: str) -> list[str]:
    """The shared libraries ``executable`` links (ldd), loader included."""
    out = subprocess.run(["ldd", executable], capture_output=True, text=True, check=True).stdout
    return [path for path in re.findall(r"(/\S+)", out) if os.path.exists(path)]


def _rootfs(archive: Path, *, executable: str, trees: list[str], command: str) -> None:
    files = {executable, *_libraries(executable)}
    modules = [m for tree in trees for m in Path(tree).rglob("*.so") if not set(m.parts) & _SKIP]
    files |= {lib for module in modules for lib in _libraries(str(module))}
    real_trees = [os.path.realpath(tree) for tree in trees]
    added: set[str] = set()
    with tarfile.open(archive, "w") as tar:
        for path in sorted(files):
            # (the trees come whole below)
            if not any(os.path.realpath(path).startswith(tree) for tree in real_trees):
                tar.add(os.path.realpath(path), arcname=path.lstrip("/"))

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = set(Path(info.name).parts)
            return None if parts & _SKIP or "__pycache__" in parts else info

        for tree in trees:
            real = os.path.realpath(tree)
            if real not in added:  # (perl's @INC names a tree twice: 5.36 -> 5.36.0)
                added.add(real)
                tar.add(real, arcname=real.lstrip("/"), filter=keep)
            if real != tree:
                alias = tarfile.TarInfo(tree.lstrip("/"))
                alias.type, alias.linkname = tarfile.SYMTYPE, real
                tar.addfile(alias)
        link = tarfile.TarInfo(f"usr/local/bin/{command}")
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
    print(python_image(), bash_image(), perl_image())

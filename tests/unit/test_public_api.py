"""What crosses a module boundary is named: ``__all__`` in every public module, complete, no
private name imported from another module, and the layers of DESIGN.md as a contract.

Public modules are those outside ``_kube`` and ``_armada``. "Complete": every class and function
the module defines without a leading underscore, and every name another module of the package
imports from it, is in its ``__all__``; every name in ``__all__`` exists.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

import airflow_k8s_async

PACKAGE = Path(airflow_k8s_async.__file__).parent

# layer -> the layers it may import (a layer is the first part under the package; "root" is the
# package's __init__). Airflow is allowed only where listed in AIRFLOW.
LAYERS: dict[str, set[str]] = {
    "root": set(),
    "errors": set(),
    "settings": {"errors"},
    "_kube": {"root", "errors"},
    "_armada": {"_kube", "errors"},
    "kinds": {"_kube"},
    "secret": {"_kube"},
    "armada": {"_armada", "_kube", "errors"},
    "hooks": {"_kube", "errors", "settings"},
    "triggers": {"triggers", "hooks", "_kube", "_armada", "armada", "errors", "settings"},
    "operators": {"operators", "triggers", "hooks", "_kube", "_armada", "armada", "errors", "settings"},
    "decorators": {"operators", "errors"},
    "get_provider_info": {"root", "settings"},
}
AIRFLOW = {"armada", "hooks", "triggers", "operators", "decorators", "settings"}


def module_name(path: Path) -> str:
    parts = ["airflow_k8s_async", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "root"


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from ... import`` and ``import`` in ``path``, made absolute."""
    found: list[tuple[str, list[str]]] = []
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base) if node.level else node.module
            found.append((str(target), [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def public(module: str) -> bool:
    return not any(part.startswith("_") for part in module.split(".")[1:])


def test_every_module_keeps_to_its_layer() -> None:
    assert set(LAYERS) == {layer(m) for m in MODULES}, "a new layer: give it its place in LAYERS"
    wrong = []
    for module, path in MODULES.items():
        mine = layer(module)
        for target, _ in imports(path):
            if target.split(".")[0] == "airflow" and mine not in AIRFLOW:
                wrong.append(f"{module} imports {target}")
            elif target.startswith("airflow_k8s_async") and layer(target) not in LAYERS[mine] | {mine}:
                wrong.append(f"{module} imports {target}")
    assert not wrong


def test_no_private_name_crosses_a_module() -> None:
    crossing = [
        f"{module} imports {target}.{name}"
        for module, path in MODULES.items()
        for target, names in imports(path)
        if target.startswith("airflow_k8s_async")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not crossing


def imported_from() -> dict[str, set[str]]:
    used: dict[str, set[str]] = defaultdict(set)
    for path in MODULES.values():
        for target, names in imports(path):
            used[target].update(n for n in names if f"{target}.{n}" not in MODULES and not n.startswith("__"))
    return used


@pytest.mark.parametrize("module", [m for m in MODULES if public(m)])
def test_a_public_module_names_what_it_offers(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and not node.name.startswith("_")
    }
    offered = defined | imported_from().get(module, set())
    loaded = importlib.import_module(module)
    names = getattr(loaded, "__all__", None)
    if names is None:
        assert not offered, f"{module} has no __all__; it offers {sorted(offered)}"
        return
    assert offered <= set(names), f"{module}.__all__ lacks {sorted(offered - set(names))}"
    assert all(hasattr(loaded, name) for name in names), f"{module}.__all__ names what it lacks"


def test_the_checks_see_imports_and_layers() -> None:
    """Guards the test itself."""
    found = dict(imports(PACKAGE / "kinds.py"))
    assert "register_kind" in found["airflow_k8s_async._kube.kinds"]
    assert layer("airflow_k8s_async._kube.watch") == "_kube"
    assert "register_kind" in imported_from().get("airflow_k8s_async._kube.kinds", set())

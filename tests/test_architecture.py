"""Imports run one way: api/cli → routes → service → models (ARCHITECTURE.md, STYLE.md).

Every module under ``src/xinyong`` is parsed with :mod:`ast`; imports inside functions count
as much as those at the top, since they create the same dependency.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import xinyong

PACKAGE_ROOT = Path(xinyong.__file__).parent


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def filename(self) -> str:
        return self.path.name


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        name, is_package = _module_name(path)
        found.append(Module(name, path, is_package))
    return tuple(found)


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    # A package's relative imports start from the package itself.
    base = base if module.is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def imports_of(module: Module) -> frozenset[str]:
    """Every module ``module`` imports, including ``from pkg import submodule`` targets."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found.add(target)
            # `from xinyong.identity import routes` imports the routes module.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _is_routes(name: str) -> bool:
    return name.startswith("xinyong.") and name.split(".")[-1] == "routes"


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violations(rule: str, offenders: list[tuple[str, str]]) -> list[str]:
    return [f"{rule}: {module} imports {target}" for module, target in offenders]


# --- the walker itself ------------------------------------------------------------------------


def test_the_walker_sees_the_whole_package() -> None:
    names = {module.name for module in modules()}
    assert {"xinyong", "xinyong.api.app", "xinyong.identity.service", "xinyong.cli.main"} <= names
    assert len(names) >= 30


def test_the_walker_sees_known_edges() -> None:
    """Guards the rules below against a walker that finds nothing."""
    by_name = {module.name: module for module in modules()}
    assert "xinyong.identity.routes" in imports_of(by_name["xinyong.api.app"])
    assert "xinyong.identity.crypto" in imports_of(by_name["xinyong.institutions.service"])
    # Function-level imports count: the CLI commands import the console lazily.
    assert "xinyong.cli.main" in imports_of(by_name["xinyong.cli.ingest"])


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    module = Module("xinyong.identity.routes", tmp_path / "routes.py", is_package=False)
    node = ast.parse("from ..institutions import service").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve(module, node) == "xinyong.institutions"
    package = Module("xinyong.identity", tmp_path / "__init__.py", is_package=True)
    node = ast.parse("from .service import x").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve(package, node) == "xinyong.identity.service"


# --- the rules ----------------------------------------------------------------------------------


def test_only_the_api_imports_routes() -> None:
    offenders = [
        (module.name, target)
        for module in modules()
        if not _in(module.name, "xinyong.api")
        for target in imports_of(module)
        if _is_routes(target) and not _in(target, module.name)
    ]
    assert _violations("routes are composed only by xinyong.api", offenders) == []


@pytest.mark.parametrize("filename", ["service.py", "models.py"])
def test_services_and_models_do_not_import_upwards(filename: str) -> None:
    offenders = [
        (module.name, target)
        for module in modules()
        if module.filename == filename
        for target in imports_of(module)
        if _in(target, "xinyong.api") or _in(target, "xinyong.cli") or _is_routes(target)
    ]
    assert _violations(f"{filename} must not depend on api, cli or routes", offenders) == []


def test_models_do_not_import_services() -> None:
    offenders = [
        (module.name, target)
        for module in modules()
        if module.filename == "models.py"
        for target in imports_of(module)
        if target.startswith("xinyong.") and target.split(".")[-1] == "service"
    ]
    assert _violations("models must not depend on services", offenders) == []

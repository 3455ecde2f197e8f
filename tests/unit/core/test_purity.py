"""The core is pure: no Kafka, no asyncio, no clock (README, "Data flow").

Every module under ``workers/core/`` is read as source: a replay on another machine must give
the stories the stream gave, so the core may not reach for the runtime, the network, the wall
clock or chance. Its time is what the item and its Kafka record say.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import workers.core

CORE = Path(workers.core.__file__).parent
MODULES = sorted(CORE.rglob("*.py"))

# Imports that would let the core see the runtime: Kafka and Faust, the event loop and
# threads, the clock, chance, the process's environment and the network.
FORBIDDEN_IMPORTS = {
    "aiokafka",
    "faust",
    "mode",
    "workers.stream",
    "workers.settings",
    "asyncio",
    "threading",
    "concurrent",
    "time",
    "random",
    "secrets",
    "uuid",
    "os",
    "socket",
    "subprocess",
}
# The clock through the datetime module, which the core imports for its types.
FORBIDDEN_CALLS = {"now", "utcnow", "today"}


def _imported(tree: ast.AST, package: str = "workers.core") -> list[str]:
    """The modules a module imports, relative imports resolved against its ``package``."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            names.append(importlib.util.resolve_name(relative, package) if node.level else relative)
    return names


def _package(path: Path) -> str:
    return ".".join(("workers", "core", *path.relative_to(CORE).parent.parts))


def _forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN_IMPORTS)


def test_the_core_has_modules_to_check() -> None:
    assert len(MODULES) > 10, MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_a_core_module_imports_nothing_of_the_runtime(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert [name for name in _imported(tree, _package(path)) if _forbidden(name)] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_a_core_module_never_reads_the_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    calls = [
        ast.unparse(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in FORBIDDEN_CALLS
    ]
    assert calls == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import asyncio", True),
        ("from aiokafka.errors import KafkaError", True),
        ("import os.path", True),
        ("from workers.stream.state import BucketState", True),
        ("from ..stream.state import BucketState", True),
        ("from . import keys", False),
        ("from datetime import datetime", False),
        ("import orjson", False),
        ("from workers.core.keys import fold", False),
    ],
)
def test_the_import_check_catches_what_it_names(source: str, caught: bool) -> None:
    assert any(_forbidden(name) for name in _imported(ast.parse(source))) is caught

"""The layout's rules, read from the source: imports point one way between the layers of
``bot``, and neither ``bot`` nor ``actions`` imports ``rasa`` (the action server runs in a slim
rasa-sdk environment)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.platform.settings import PROJECT_ROOT

# Each layer and the layers it must never import.
FORBIDDEN = {
    "bot.platform": ("bot.shop", "bot.meta", "bot.api", "bot.cli", "bot.launcher"),
    "bot.shop": ("bot.meta", "bot.api", "bot.cli", "bot.launcher"),
    "bot.meta": ("bot.api", "bot.cli", "bot.launcher"),
    "bot.api": ("bot.cli", "bot.launcher"),
    "bot": ("rasa", "connectors", "actions", "devtools", "bench", "tests"),
    "actions": ("rasa", "connectors", "devtools", "bench", "tests"),
}


def modules(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package.replace(".", "/")).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module the file imports, wherever the import statement stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def breaks(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == layer or name.startswith(f"{layer}.") for layer in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_one_way(layer: str) -> None:
    wrong = {
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in modules(layer)
        for name in imported(path)
        if breaks(name, FORBIDDEN[layer])
    }
    assert wrong == set()


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The rule above is able to fail: a platform module importing the shop domain is caught,
    inside a function too."""
    source = tmp_path / "wrong.py"
    source.write_text("def f():\n    from bot.shop import orders\n    import rasa.core\n")
    names = imported(source)
    assert breaks("bot.shop.orders", FORBIDDEN["bot.platform"]) and "bot.shop.orders" in names
    assert any(breaks(name, FORBIDDEN["bot"]) for name in names)


def test_every_package_says_what_belongs_there() -> None:
    packages = [
        p for p in (PROJECT_ROOT / "bot").rglob("__init__.py") if "migrations" not in str(p)
    ]
    undocumented = [
        str(path.relative_to(PROJECT_ROOT))
        for path in packages
        if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert len(packages) >= 5 and undocumented == []

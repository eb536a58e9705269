"""The shape of qa/ (docs/ARCHITECTURE.md): packages one level deep, no import cycle counting
every import statement at any depth, no module over 500 lines, nothing imported from
benchmarks/ or tests/, environment variables read only in qa/config.py. Read with ast, so
nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

QA = ROOT / "qa"
MAX_LINES = 500
DATA_FOLDERS = {"static", "data"}  # package data (CSS and JS, shipped question sets): no Python


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(QA.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every qa module ``path`` imports, at module level or inside a function, resolved to the
    module (``from qa.indexing import table`` is qa.indexing.table; ``from qa.indexing.table import X``
    is qa.indexing.table)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else None
            assert base is not None, f"{path}: relative import"
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    graph = {name: imported_modules(path) - {name} for name, path in MODULES.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_module_over_the_limit() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_packages_are_one_level_deep() -> None:
    for folder in sorted(p for p in QA.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        depth = len(folder.relative_to(QA).parts)
        if folder.name in DATA_FOLDERS or folder.parent.name in DATA_FOLDERS:
            assert not list(folder.rglob("*.py")), f"{folder} is a data folder: no Python in it"
            continue
        assert depth == 1, f"{folder} is nested: qa/ packages are one level deep"
        assert (folder / "__init__.py").is_file(), f"{folder} has no __init__.py"
    assert len([p for p in QA.iterdir() if (p / "__init__.py").is_file()]) >= 4


def test_qa_imports_neither_benchmarks_nor_tests() -> None:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            assert not {"benchmarks", "tests", "conftest"} & set(roots), f"{name} imports {roots}"


def test_environment_is_read_only_in_config() -> None:
    for name, path in MODULES.items():
        if name == "qa.config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "unsetenv"):
                raise AssertionError(f"{name}:{node.lineno} uses os.{node.attr}: read it in qa/config.py")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                assert not {"environ", "getenv"} & {a.name for a in node.names}, f"{name} imports os.environ"


def test_no_test_module_imports_another() -> None:
    tests = ROOT / "tests"
    own = {path.stem for path in tests.glob("test_*.py")}
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            else:
                continue
            assert not roots & own, f"{path.name} imports {roots & own}: shared corpora go in tests/corpora.py"

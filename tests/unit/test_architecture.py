"""Architecture rules read from the source: a pure domain core, a sorted `__all__` everywhere."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import offload

PACKAGE_DIR = Path(offload.__file__).resolve().parent
DOMAIN_DIR = PACKAGE_DIR / "domain"

#: Adapters the domain core must never reach for (house style, architecture rule 1).
FORBIDDEN_IN_DOMAIN = frozenset(
    {
        "aiohttp",
        "aiosqlite",
        "alembic",
        "asyncpg",
        "engineio",
        "fastapi",
        "httpx",
        "socketio",
        "sqlalchemy",
        "starlette",
        "subprocess",
        "uvicorn",
    }
)


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE_DIR.parent).as_posix()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> Iterator[str]:
    """Every module an `import` statement anywhere in the file names, relative ones resolved."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def _top_level_bindings(body: list[ast.stmt]) -> set[str]:
    """Names a module binds at import time (descending into if/try/with, not into defs)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody"):
                names |= _top_level_bindings(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                names |= _top_level_bindings(handler.body)
    return names


def _dunder_all(path: Path) -> tuple[ast.Module, ast.expr | None]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    value: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = node.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "__all__"
        ):
            value = node.value
    return tree, value


def isort_style_key(name: str) -> tuple[int, list[int | str]]:
    """ruff RUF022 order: SCREAMING_CASE (2+ chars), then CamelCase, then the rest; natural sort."""
    if len(name) > 1 and name.upper() == name and any(c.isalpha() for c in name):
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    return category, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


DOMAIN_MODULES = _modules(DOMAIN_DIR)
ALL_MODULES = _modules(PACKAGE_DIR)


def test_the_walk_sees_the_package() -> None:
    """The rules below run over every module, including the domain core and package inits."""
    assert {"errors.py", "jobs.py", "payloads.py", "runners.py", "tokens.py"} <= {
        p.name for p in DOMAIN_MODULES
    }
    assert PACKAGE_DIR / "__init__.py" in ALL_MODULES


class TestPureDomain:
    @pytest.mark.parametrize("path", DOMAIN_MODULES, ids=_rel)
    def test_domain_imports_no_adapter(self, path: Path) -> None:
        """No domain module imports a database, web, socket, HTTP-client or process library."""
        found = sorted(
            {m for m in _imported_modules(path) if m.split(".")[0] in FORBIDDEN_IN_DOMAIN}
        )

        assert [] == found

    @pytest.mark.parametrize("path", DOMAIN_MODULES, ids=_rel)
    def test_domain_imports_stdlib_and_domain_only(self, path: Path) -> None:
        """The domain core uses the standard library and other domain modules, nothing else."""
        found = sorted(
            {
                m
                for m in _imported_modules(path)
                if m.split(".")[0] not in sys.stdlib_module_names
                and not (m == "offload.domain" or m.startswith("offload.domain."))
            }
        )

        assert [] == found


#: What the runner process must never load: the instance's web and database stack.
FORBIDDEN_IN_RUNNER = ("alembic", "fastapi", "sqlalchemy", "starlette")
#: The runner's own modules, the job-type registry and the processing steps it runs.
RUNNER_SIDE = (
    "offload.runner.daemon",
    "offload.runner.client",
    "offload.jobs.registry",
    "offload.media.processors",
)


def test_the_runner_side_loads_no_instance_stack() -> None:
    """Importing the runner daemon and the job-type registry (every type's runner half) loads
    no web framework, ORM or migration tool: a job type's instance half stays off that path."""
    probe = "\n".join(
        [
            "import sys",
            *(f"import {name}" for name in RUNNER_SIDE),
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN_IN_RUNNER)!r}))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert "[]" == result.stdout.strip()


class TestDunderAll:
    @pytest.mark.parametrize("path", ALL_MODULES, ids=_rel)
    def test_module_defines_a_literal_all(self, path: Path) -> None:
        """Every module and package `__init__` defines `__all__` as a literal list of strings."""
        _, value = _dunder_all(path)

        assert value is not None, f"{_rel(path)} has no __all__"
        names = ast.literal_eval(value)
        assert isinstance(names, (list, tuple))
        assert all(isinstance(n, str) for n in names)

    @pytest.mark.parametrize("path", ALL_MODULES, ids=_rel)
    def test_all_is_sorted_without_duplicates(self, path: Path) -> None:
        """`__all__` is sorted the way ruff's RUF022 sorts it, with no name twice."""
        _, value = _dunder_all(path)
        names = list(ast.literal_eval(value)) if value is not None else []

        assert sorted(set(names), key=isort_style_key) == names

    @pytest.mark.parametrize("path", ALL_MODULES, ids=_rel)
    def test_all_names_exist(self, path: Path) -> None:
        """Each name in `__all__` is bound at the module's top level."""
        tree, value = _dunder_all(path)
        names = list(ast.literal_eval(value)) if value is not None else []

        assert [] == sorted(set(names) - _top_level_bindings(tree.body))


@pytest.mark.parametrize(
    ("unsorted", "expected"),
    [
        (["b", "A", "C_D", "_p", "T", "HTTP2"], ["C_D", "HTTP2", "A", "T", "_p", "b"]),
        (["x10", "x9"], ["x9", "x10"]),
        (
            ["VERSION_RE", "Runner", "LIVE_RE", "is_uuid_v4"],
            ["LIVE_RE", "VERSION_RE", "Runner", "is_uuid_v4"],
        ),
    ],
)
def test_isort_style_key(unsorted: list[str], expected: list[str]) -> None:
    """The sort key puts constants, then classes, then the rest, with numbers in natural order."""
    assert expected == sorted(unsorted, key=isort_style_key)


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    """ruff from this venv (else PATH) on the package, the tests and the benchmarks."""
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff)] if ruff.exists() else [shutil.which("ruff") or "ruff"]
    root = Path(offload.__file__).resolve().parents[2]
    return subprocess.run(
        [*command, *args, "--no-cache", "src", "tests", "bench"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_finds_nothing() -> None:
    """The lint rules in pyproject.toml hold for the package, the tests and the benchmarks."""
    result = _ruff("check")
    assert 0 == result.returncode, result.stdout + result.stderr


def test_the_tree_is_ruff_formatted() -> None:
    """`ruff format` has nothing to change in the package, the tests and the benchmarks."""
    result = _ruff("format", "--check")
    assert 0 == result.returncode, result.stdout + result.stderr


def test_mypy_strict_finds_nothing(tmp_path: Path) -> None:
    """The package type-checks under `mypy --strict` (settings in pyproject.toml)."""
    root = Path(offload.__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == result.returncode, result.stdout + result.stderr

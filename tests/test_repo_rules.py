"""Repository rules checked by reading the source (STYLE.md "Layout" and "Torch internals").

1. No module imports another module's private name
   (``from airgraph_x.y import _name``). A package may import its own
   private modules (``from airgraph_core import _torch_compat``), and a
   package's own tests may too; nothing else may.
2. Private torch APIs (``torch._dynamo``, ``torch._inductor``, ``torch._C._x``,
   ``torch.utils._pytree``, underscore attributes such as ``_dynamo_source``)
   are used only in each package's compat module, where every use says why
   and which torch version it was checked with.

Each failure names ``file:line`` and what to do instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Where code lives; generated protobuf modules are not ours.
SCANNED = (
    "packages/*/src/**/*.py",
    "packages/*/tests/**/*.py",
    "tests/**/*.py",
    "tools/**/*.py",
    "benchmarks/**/*.py",
    "examples/**/*.py",
    "noxfile.py",
)

#: The one module per package layer allowed to touch torch internals.
COMPAT_MODULES = frozenset(
    {
        "packages/core/src/airgraph_core/_torch_compat.py",
        "packages/gears/src/airgraph_gears/_torch_compat.py",
        "packages/dynamo_backend/src/airgraph_dynamo/_dynamo_compat.py",
        "packages/cache/src/airgraph_cache/_dynamo_compat.py",
        "packages/cli/src/airgraph_cli/_torch_compat.py",
    }
)

#: Library code: torch internals only through the compat modules, no exceptions.
LIBRARY = ("packages/*/src/**/*.py", "examples/**/*.py")

#: Private names still imported across modules, each with why it waits.
#: The test fails when an entry is no longer needed, so the list only shrinks.
PENDING_PRIVATE_IMPORTS: set[tuple[str, str]] = set()

#: Torch internals outside a compat module, each with why.
ALLOWED_TORCH_INTERNALS = {
    # The demo times stock torch.compile with Inductor and counts its traces
    # by wrapping Inductor's compile entry point; a user script has no compat module.
    ("examples/demo.py", "torch._inductor.compile_fx"),
}

#: Underscore attributes torch puts on its objects (nodes, tensors) for itself.
TORCH_PRIVATE_ATTRIBUTES = re.compile(r"^_(dynamo|inductor|functorch|guards)_\w+$")


def _files(patterns: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in ROOT.glob(pattern) if not p.name.endswith("_pb2.py"))
    return sorted(found)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _own_package(rel: str) -> str | None:
    """The import name of the package a file belongs to (its src or its tests), if any."""
    match = re.match(r"packages/[^/]+/(src|tests)/", rel)
    if match is None:
        return None
    if match.group(1) == "src":
        return rel.split("/")[3]
    src = next((ROOT / rel.split("/tests/")[0] / "src").iterdir(), None)
    return src.name if src is not None else None


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` (``airgraph_core._torch_compat``) names a module of ours."""
    parts = dotted.split(".")
    for src in ROOT.glob(f"packages/*/src/{parts[0]}"):
        path = src.joinpath(*parts[1:])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return True
    return False


def _private_name_imports(path: Path) -> list[str]:
    rel = _rel(path)
    own = _own_package(rel)
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), rel)):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        top = node.module.split(".")[0]
        if not top.startswith("airgraph"):
            continue
        module_parts = node.module.split(".")[1:]
        private_module = next((p for p in module_parts if p.startswith("_")), None)
        if private_module is not None and top != own:
            problems.append(
                f"{rel}:{node.lineno}: imports from {node.module}, a private module of "
                f"{top}: use {top}'s public API"
            )
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or name.startswith("__"):
                continue
            if _is_module(f"{node.module}.{name}"):
                if top != own:
                    problems.append(
                        f"{rel}:{node.lineno}: imports {top}'s private module {name}: "
                        f"use {top}'s public API"
                    )
                continue
            if (rel, name) in PENDING_PRIVATE_IMPORTS:
                continue
            problems.append(
                f"{rel}:{node.lineno}: imports the private name {name} from {node.module}: "
                "give it a public name (and a docstring) where it is defined, or move it "
                "to a shared module"
            )
    return problems


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_private_torch_path(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] != "torch" or len(parts) < 2:
        return False
    if parts[1] == "ops":  # operator namespaces (torch.ops._c10d_functional) are not Python API
        return False
    return any(p.startswith("_") and not p.startswith("__") for p in parts[1:])


def _torch_internals(path: Path) -> list[str]:
    rel = _rel(path)
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), rel)):
        used = None
        if isinstance(node, ast.Import):
            used = next((a.name for a in node.names if _is_private_torch_path(a.name)), None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch"):
            if _is_private_torch_path(node.module):
                used = node.module
            else:
                used = next(
                    (
                        f"{node.module}.{a.name}"
                        for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")
                    ),
                    None,
                )
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if node.attr.startswith("_") and dotted and _is_private_torch_path(dotted):
                used = dotted
            elif TORCH_PRIVATE_ATTRIBUTES.match(node.attr):
                used = node.attr
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and TORCH_PRIVATE_ATTRIBUTES.match(node.value)
        ):
            used = node.value  # getattr(x, "_dynamo_source")
        if used is not None and (rel, used) not in ALLOWED_TORCH_INTERNALS:
            problems.append(
                f"{rel}:{getattr(node, 'lineno', 0)}: uses the torch internal {used}: call it "
                "through the package's compat module (one function with why and the torch "
                "version checked)"
            )
    return problems


def test_no_module_imports_another_modules_private_names():
    problems = [p for path in _files(SCANNED) for p in _private_name_imports(path)]
    assert not problems, "private names imported across modules:\n" + "\n".join(problems)


def test_the_pending_list_only_names_imports_that_still_exist():
    still = set()
    for rel, name in PENDING_PRIVATE_IMPORTS:
        tree = ast.parse((ROOT / rel).read_text(), rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
                still.add((rel, name))
    assert still == PENDING_PRIVATE_IMPORTS, (
        f"fixed, remove from PENDING_PRIVATE_IMPORTS: {sorted(PENDING_PRIVATE_IMPORTS - still)}"
    )


def test_torch_internals_only_in_compat_modules():
    problems = [
        p
        for path in _files(LIBRARY)
        if _rel(path) not in COMPAT_MODULES
        for p in _torch_internals(path)
    ]
    assert not problems, "torch internals outside the compat modules:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from airgraph_core.x import _hidden\n", "private name _hidden"),
        ("import torch._dynamo\n", "torch internal torch._dynamo"),
        ("import torch\ntorch._C._foo()\n", "torch internal torch._C"),
        ("from torch.utils._pytree import tree_map\n", "torch internal torch.utils._pytree"),
        ("x = getattr(t, '_dynamo_static_indices', ())\n", "_dynamo_static_indices"),
    ],
)
def test_the_rules_catch_what_they_promise(source, expected, monkeypatch):
    path = ROOT / "packages" / "core" / "src" / "airgraph_core" / "_rules_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    found = _private_name_imports(path) + _torch_internals(path)
    assert any(expected in p for p in found), found


def test_the_rules_allow_operator_namespaces_and_own_private_modules(monkeypatch):
    source = (
        "import torch\n"
        "from airgraph_core import _torch_compat\n"
        "op = torch.ops._c10d_functional.all_reduce\n"
    )
    path = ROOT / "packages" / "core" / "src" / "airgraph_core" / "_rules_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert _private_name_imports(path) + _torch_internals(path) == []

"""Shape guards' expressions, made safe to compile into the warm path's checks.

Dynamo states shape guards as Python text over its own names: ``L['x']`` (a
local, or a free variable of the frame), ``G['name']`` (a global),
``f.__closure__[i].cell_contents`` (a nested function's cell). Before
:mod:`airgraph_cache.checks` compiles one, :func:`rewrite_names` replaces
those names with the generated function's, and :func:`validate_expression`
refuses anything but comparisons, arithmetic, int/float/str constants,
``.size()``/``.stride()``-style reads and a few pure helpers.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

__all__ = ["HELPER_NAMES", "rewrite_names", "validate_expression"]

#: The generated checks' helpers an expression may name after :func:`rewrite_names`.
HELPER_NAMES = frozenset({"_glob", "_cell", "_math", "_max", "_min"})

_SIZE_METHODS = frozenset({"size", "stride", "storage_offset", "numel", "dim"})
# Pure predicates Dynamo puts in guards on float values (``math.isnan``).
_MATH_FUNCTIONS = frozenset({"isnan", "isinf", "isfinite", "floor", "ceil", "trunc"})
_AST_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Call,
)


def rewrite_names(text: str, local: Callable[[Any], str]) -> ast.Expression:
    """Parse a shape guard and put the generated code's names in place of Dynamo's.

    Args:
        text: Dynamo's expression, e.g. ``"L['x'].size()[0] <= 8"``.
        local: gives the expression text of a local as Dynamo names it (an argument,
            or a closure variable's cell contents); raises ValueError for others.

    Returns:
        The rewritten expression tree, not yet validated.
    """
    return ast.fix_missing_locations(_Rewrite(local).visit(ast.parse(text, mode="eval")))


class _Rewrite(ast.NodeTransformer):
    """Dynamo's names in a shape guard (``L[...]``, ``G[...]``, closures) to the writer's."""

    def __init__(self, local: Callable[[Any], str]) -> None:
        self.local = local

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        base, key = node.value, node.slice
        if isinstance(base, ast.Name) and isinstance(key, ast.Constant):
            if base.id == "L":
                return ast.parse(self.local(key.value), mode="eval").body
            if base.id == "G" and isinstance(key.value, str):
                return ast.Call(ast.Name("_glob", ast.Load()), [key], [])
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # ``f.__closure__[i].cell_contents`` (a nested function's cell): ``_cell(f, i)``.
        inner = node.value
        if (
            node.attr == "cell_contents"
            and isinstance(inner, ast.Subscript)
            and isinstance(inner.value, ast.Attribute)
            and inner.value.attr == "__closure__"
            and isinstance(inner.slice, ast.Constant)
            and type(inner.slice.value) is int
        ):
            fn = self.visit(inner.value.value)
            return ast.Call(ast.Name("_cell", ast.Load()), [fn, inner.slice], [])
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        # The module (and the builtins), not parameters that happen to be named so:
        # guards name the frame's locals only as L[...].
        renamed = {"math": "_math", "max": "_max", "min": "_min"}.get(node.id)
        return node if renamed is None else ast.Name(id=renamed, ctx=ast.Load())


def validate_expression(tree: ast.AST, allowed_names: set[str], text: str) -> None:
    """Refuse anything in a rewritten shape guard but comparisons, arithmetic and size reads.

    Args:
        tree: the expression from :func:`rewrite_names`.
        allowed_names: the names it may use (the method's parameters, the cells
            the writer handed out, :data:`HELPER_NAMES`).
        text: Dynamo's original text, for the message.

    Raises:
        ValueError: a node, name, constant, attribute or call that is not allowed.
    """
    for node in ast.walk(tree):
        if not isinstance(node, _AST_NODES):
            raise ValueError(f"checks: {type(node).__name__} in shape guard {text!r}")
        if isinstance(node, ast.Name) and node.id not in allowed_names:
            raise ValueError(f"checks: name {node.id!r} in shape guard {text!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ValueError(f"checks: constant {node.value!r} in shape guard {text!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            raise ValueError(f"checks: attribute {node.attr!r} in shape guard {text!r}")
        if isinstance(node, ast.Call):
            func = node.func
            method_ok = isinstance(func, ast.Attribute) and func.attr in _SIZE_METHODS
            # ``_max``/``_min``: e.g. ``max(1, L['n']) == L['n']`` from torch.ones([m, n]).
            glob_ok = isinstance(func, ast.Name) and func.id in ("_glob", "_cell", "_max", "_min")
            # Dynamo guards float attributes with e.g. ``not math.isnan(L['self'].scale)``.
            math_ok = (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "_math"
                and func.attr in _MATH_FUNCTIONS
            )
            if not (method_ok or glob_ok or math_ok) or node.keywords:
                raise ValueError(f"checks: call in shape guard {text!r}")

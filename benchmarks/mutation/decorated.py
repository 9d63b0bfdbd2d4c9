"""Let mutmut 3.8.1 mutate the decorated functions of the money path too.

mutmut leaves every decorated function alone (only ``@staticmethod`` and ``@classmethod`` pass),
because it copies a function once per mutant and would copy the decorator with it. Here that
would skip the heart of the scope: the Litestar route handlers (``pay``, ``payment_notify``,
``redeem`` ...), ``Wallets.change`` (``@asynccontextmanager``) and a few ``@property``.

For the decorators below the copies can simply go without them: the decorator stays on the one
function the module exposes (mutmut's trampoline, which keeps the name, signature and
annotations of the original through ``functools.wraps``), and the trampoline calls the plain
copy of the original or of the active mutant. Decorator arguments are still never mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst
from mutmut.mutation import file_mutation

# Decorators whose function may be called through mutmut's trampoline: Litestar's route
# decorators (they read the signature and type hints, which the trampoline keeps), and
# wrappers that take a plain function.
TRAMPOLINED = {"get", "post", "put", "patch", "delete", "route", "asynccontextmanager", "contextmanager", "property"}
KEPT_ON_COPIES = {"staticmethod", "classmethod"}  # mutmut handles these itself


def _name(decorator: cst.Decorator) -> str:
    node: cst.BaseExpression = decorator.decorator
    if isinstance(node, cst.Call):
        node = node.func
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return node.value if isinstance(node, cst.Name) else ""


def trampolined(function: cst.FunctionDef) -> bool:
    """A decorated function this patch lets mutmut mutate."""
    names = {_name(d) for d in function.decorators}
    return bool(names) and names <= TRAMPOLINED


def install() -> None:
    """Patch mutmut (in this process, before it generates mutants)."""
    visitor = file_mutation.MutationVisitor
    skip: Callable[[Any, cst.CSTNode], bool] = visitor._skip_node_and_children
    arrange = file_mutation.function_trampoline_arrangement

    def skip_node_and_children(self: Any, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef) and trampolined(node):
            return skip(self, node.with_changes(decorators=[]))
        return skip(self, node)

    def trampoline_arrangement(function: cst.FunctionDef, mutants: Any, class_name: str | None) -> Any:
        if not trampolined(function):
            return arrange(function, mutants, class_name)
        # Mutants are found in the copies by node identity: dropping the decorators keeps the body's nodes.
        declarations, methods, assignments, names = arrange(function.with_changes(decorators=[]), mutants, class_name)
        trampoline = methods[0]
        methods = [trampoline.with_changes(decorators=[*function.decorators, *trampoline.decorators]), *methods[1:]]
        return declarations, methods, assignments, names

    visitor._skip_node_and_children = skip_node_and_children
    file_mutation.function_trampoline_arrangement = trampoline_arrangement

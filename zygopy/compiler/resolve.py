"""Resolve a callee expression to the object it names, where that is static."""

from __future__ import annotations

import ast
import builtins


class Env:
    """What names mean where the function was defined: its globals and closure."""

    def __init__(self, fn, local):
        self.globals = getattr(fn, "__globals__", {})
        code = fn.__code__
        cells = fn.__closure__ or ()
        self.closure = {name: cell for name, cell in zip(code.co_freevars, cells)}
        self.local = local

    def lookup(self, name):
        """(found, value) for a non-local name."""
        if name in self.local:
            return False, None
        if name in self.closure:
            try:
                return True, self.closure[name].cell_contents
            except ValueError:
                return False, None
        if name in self.globals:
            return True, self.globals[name]
        if hasattr(builtins, name):
            return True, getattr(builtins, name)
        return False, None


def static_value(expr, env):
    """The object `expr` (a name or dotted name of a global) names, or None."""
    if isinstance(expr, ast.Name):
        found, value = env.lookup(expr.id)
        return value if found else None
    if isinstance(expr, ast.Attribute):
        base = static_value(expr.value, env)
        if base is None:
            return None
        import types

        if not isinstance(base, types.ModuleType):
            return None  # attributes of objects may change: not static
        return getattr(base, expr.attr, None)
    return None


def dotted(expr):
    """'np.linalg.norm' for a dotted name expression, else None."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = dotted(expr.value)
        return None if base is None else f"{base}.{expr.attr}"
    return None

"""Constructing objects of user classes inside differentiated code.

`Poly([a, 2 * a])(x)`: the object's fields are computed from the arguments by
its `__init__`, and the gradient of a field must reach the arguments it came
from. For a class whose `__init__` only computes and assigns fields of `self`
(reads of fields it has assigned, of class attributes; no method calls on
`self`, no `self` passed elsewhere), zygopy differentiates a *field function*
made from `__init__` itself: each `self.name` becomes a local variable and
the function returns them all. It keeps `__init__`'s file and line numbers,
so errors and tracebacks point at the user's source. The object is then
built by setting those fields on `cls.__new__(cls)`; its pullback hands each
field's cotangent to the field function's pullback.

Other classes (a custom `__new__`, `super().__init__`, methods called in
`__init__`) keep the clear refusal: `NoRuleError` naming the class.
"""

from __future__ import annotations

import ast
import copy
import types

from .sources import function_ast, register_ast
from .tangents import ZERO, Tangent

_FIELDS: dict = {}  # class -> (field function, field names) or (None, why)
_ABSENT = Ellipsis  # a field a branch of __init__ did not assign


def field_function(cls):
    """(function of __init__'s arguments returning the fields, field names), or
    (None, the reason zygopy cannot build `cls` this way)."""
    found = _FIELDS.get(cls)
    if found is None:
        try:
            found = _make(cls)
        except _Unsupported as exc:
            found = (None, str(exc))
        _FIELDS[cls] = found
    return found


class _Unsupported(Exception):
    pass


def _make(cls):
    init = getattr(cls, "__init__", None)
    if type(cls) is not type or cls.__new__ is not object.__new__:
        raise _Unsupported("a custom __new__ or metaclass")
    if hasattr(cls, "__dataclass_fields__") and hasattr(cls, "__post_init__"):
        raise _Unsupported("a dataclass with __post_init__ (its generated __init__ "
                           "calls it: compute those fields in an __init__ of its own)")
    if not isinstance(init, types.FunctionType):
        raise _Unsupported("its __init__ is not a Python function")
    if "__class__" in init.__code__.co_freevars:
        raise _Unsupported("its __init__ calls super() (call Base.__init__ outside, or "
                           "set the fields in this __init__)")
    if init.__code__.co_freevars:
        raise _Unsupported("its __init__ reads variables of an enclosing function")
    try:
        node, filename = function_ast(init)
    except OSError as exc:
        raise _Unsupported(f"no source for its __init__ ({exc})") from exc
    if not isinstance(node, ast.FunctionDef) or not node.args.args:
        raise _Unsupported("its __init__ takes no self")
    node = copy.deepcopy(node)
    node.decorator_list = []
    self_name = node.args.args[0].arg
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
           and n is not node for n in ast.walk(node)):
        raise _Unsupported("a function or class defined inside its __init__")
    names = _assigned_fields(node, self_name)
    _Localise(self_name, names).visit(node)
    _check_no_self(node, self_name)
    fields = ast.Tuple([ast.Name(_local(n), ast.Load()) for n in names], ast.Load())
    first, last = node.body[0], node.body[-1]
    # a field starts as the class attribute of its name, if any, else absent
    start = [ast.copy_location(ast.Assign(
        [ast.Name(_local(n), ast.Store())],
        ast.Attribute(ast.Name(self_name, ast.Load()), n, ast.Load()) if hasattr(cls, n)
        else ast.Constant(_ABSENT)), first) for n in names]
    done = ast.Return(fields)
    ast.copy_location(done, last)
    done.lineno = done.end_lineno = last.end_lineno or last.lineno
    node.body = start + [_Returns(fields).visit(s) for s in node.body] + [done]
    ast.fix_missing_locations(node)
    module = ast.Module([node], [])
    namespace: dict = {}
    exec(compile(module, filename, "exec"), init.__globals__, namespace)  # noqa: S102
    fn = namespace[node.name]
    fn.__qualname__ = init.__qualname__
    register_ast(fn, node, filename)
    return fn, tuple(names)


def _local(name):
    return f"_field_{name}"


def _assigned_fields(node, self_name):
    """The fields `__init__` assigns (`self.name = ...`, `self.name += ...`), in order."""
    names = []
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) \
                and isinstance(n.value, ast.Name) and n.value.id == self_name \
                and n.attr not in names:
            names.append(n.attr)
    if not names:
        raise _Unsupported("its __init__ assigns no field of self")
    return names


class _Localise(ast.NodeTransformer):
    """`self.name` (a field __init__ assigns) as the local `_field_name`."""

    def __init__(self, self_name, names):
        self.self_name, self.names = self_name, set(names)

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == self.self_name \
                and node.attr in self.names:
            return ast.copy_location(ast.Name(_local(node.attr), node.ctx), node)
        return node


def _check_no_self(node, self_name):
    """Left after localising: reads of class attributes (`self.CONST`). Any
    other use of self (a method call, self passed or returned) is refused."""
    parents = {child: parent for parent in ast.walk(node)
               for child in ast.iter_child_nodes(parent)}
    for n in ast.walk(node):
        if not (isinstance(n, ast.Name) and n.id == self_name) or n is node.args.args[0]:
            continue
        parent = parents.get(n)
        if not isinstance(parent, ast.Attribute):
            raise _Unsupported(f"its __init__ uses `{self_name}` other than for its fields")
        if isinstance(parents.get(parent), ast.Call) and parents[parent].func is parent:
            raise _Unsupported(f"its __init__ calls the method `{self_name}.{parent.attr}`")


class _Returns(ast.NodeTransformer):
    """A bare `return` in __init__ returns the fields."""

    def __init__(self, fields):
        self.fields = fields

    def visit_Return(self, node):
        return ast.copy_location(ast.Return(copy.deepcopy(self.fields)), node)


def build(cls, values, names):
    """An instance of `cls` with the fields its field function computed."""
    obj = cls.__new__(cls)
    for name, value in zip(names, values):
        if value is not _ABSENT:
            setattr(obj, name, value)
    return obj


class ConstructorPullback:
    """The pullback of `cls(*args)`: the object's cotangent, field by field,
    through the field function's pullback to the arguments."""

    __slots__ = ("names", "pb")

    def __init__(self, pb, names):
        self.pb, self.names = pb, names

    def __call__(self, dy):
        if dy is ZERO or dy is None:
            d_fields = ZERO
        elif isinstance(dy, Tangent):
            d_fields = tuple(dy._fields.get(k, ZERO) for k in self.names)
        else:
            d_fields = tuple(getattr(dy, k, ZERO) for k in self.names)
        grads = self.pb(d_fields)
        return (None,) + tuple(grads[2:])  # the class takes no cotangent, nor does self

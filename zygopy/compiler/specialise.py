"""Specialise a function on the structure of its object arguments.

`gradient(loss, model, x, y)` on a Chain of Dense layers runs, in general, one
dispatched call per layer, per activation and per loss helper, each way, and
builds a structural tangent per object: Python overhead that a training step of
a small model spends more time on than on its arithmetic. This pass writes
instead one flat function of arrays, the program the call makes *for this
model's structure*: the methods and functions it calls on the model inlined,
loops over the model's layers unrolled, conditions on its fields decided
(`if self.bias is not None`), every array of the model a parameter:

    def loss__Chain(model_layers_0_weight, model_layers_0_bias, ..., x, y):
        # model(x): Chain.__call__
        # layer(x): Dense.__call__
        check_size(_obj0, 'input features (last axis)', ...)
        y_2 = x @ model_layers_0_weight.T
        y_2 = y_2 + model_layers_0_bias
        x_1 = relu(y_2)
        ...

The flat function is differentiated like any other (and fused by the fast
path); `runtime.specialised` guards each call (the same types, the same
fields, the same constants, the same code as when it was made), extracts the
arrays and rebuilds the structural gradient from the flat one.

Only what is certain is specialised: anything this pass does not understand
(a field written, a property, a starred call, a comprehension over the model,
a return inside a branch, ...) raises `Unspecialisable`, and the call goes the
general way. The inlined code is the user's code: values the program computes
stay computations; only the model's structure is fixed.
"""

from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import types
import weakref

import numpy as np

from ..rules.registry import RULES, is_nondifferentiable
from ..runtime import sources
from ..runtime.structure import object_fields

_MAX_DEPTH = 24  # nested inlined calls
_MAX_UNROLL = 256  # iterations of a loop over a static sequence


class Unspecialisable(Exception):
    """The call cannot be specialised (the reason is the message); the general
    path runs it."""


# -- abstract values ------------------------------------------------------------


class Static:
    """An object, tuple, list, dict or closure whose type and structure the guard
    checks; `var` is its name in the guard function, `field`: whether its arrays
    are differentiated (part of an argument) or constants (of the environment)."""

    __slots__ = ("field", "obj", "path", "reads", "var")

    def __init__(self, obj, var, field, path):
        self.obj, self.var, self.field, self.path = obj, var, field, path
        self.reads = {}  # (attribute?, field name or index) -> (abstract value, its var)


class Const:
    """A value fixed by the guard (a function, None, a string, a flag)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Dyn:
    """A value the flat code computes: an expression of it; `kind`: the type of
    a parameter of the flat function (an argument's array, say), else None."""

    __slots__ = ("kind", "node")

    def __init__(self, node, kind=None):
        self.node, self.kind = node, kind


class Method:
    """A function bound to a Static object (`self.forward`)."""

    __slots__ = ("fn", "self_")

    def __init__(self, self_, fn):
        self.self_, self.fn = self_, fn


_LITERALS = (int, float, complex, str, bytes, bool, type(None))
_CONSTANT_TYPES = (types.BuiltinFunctionType, types.ModuleType, type, np.ufunc, np.dtype,
                   types.FunctionType, types.BuiltinMethodType)


@dataclasses.dataclass
class Leaf:
    """An array (or number) of the arguments: a parameter of the flat function."""

    name: str  # its parameter name
    var: str  # its name in the guard function
    differentiable: bool  # part of an argument (its gradient is returned)
    kind: type  # its type, checked by the guard


class Specialisation:
    """What `specialise` makes: the flat function's source, its globals, and the
    guard's lines; `runtime.specialised` turns them into functions."""

    def __init__(self, fn, params):
        self.fn = fn
        self.params = params  # the original parameter names
        self.guard_lines: list[str] = []  # body of guard(_f, *args) -> flat args | None
        self.guard_names: dict = {}  # name -> object the guard compares with
        self.leaves: list[Leaf] = []
        self.namespace: dict = {}  # the flat function's globals
        self.inlined: dict = {}  # id(function) -> function (guarded by code)
        self.objects: list = []  # guard vars of the structures the flat code is handed
        self.statics: list = []  # guard vars of every structure (the builder reads them)
        self.build_text = ""  # build(_s, _g) -> the gradient of each argument
        self.lines: dict = {}  # line of `text` -> (user line, file, function)
        self.build_names: dict = {}
        self.arguments: list = []  # per original argument: its abstract value
        self.text = ""
        self.name = ""

    # -- the guard ---------------------------------------------------------------

    def var(self, expr):
        name = f"_v{len(self.guard_lines)}"
        self.guard_lines.append(f"{name} = {expr}")
        return name

    def check(self, condition):
        self.guard_lines.append(f"if not ({condition}): return None")

    def guard_constant(self, value):
        name = f"_k{len(self.guard_names)}"
        self.guard_names[name] = value
        return name


class Specialiser:
    """Inline `fn(*args)` into one flat function (see the module docstring)."""

    def __init__(self, fn, args, mask):
        self.spec = Specialisation(fn, _param_names(fn))
        self.fn = fn
        self.mask = mask
        self.body: list = []  # statements of the flat function being written
        self.used_names: set = set()
        self.depth = 0
        self.frames = 0
        self.spellings: dict = {}  # id(value) -> (value, module, attribute) read as
        self.globals_read: dict = {}  # (id(globals), name) -> abstract value
        self.inert = 0  # > 0 while writing an error message
        self.fresh_values: set = set()  # flat names holding values the code made

    # -- classification of values read from arguments and the environment --------

    def classify(self, value, var, field, path, library=False):
        """The abstract value of `value` (read by the guard as `var`): `field`,
        part of a differentiated argument; `library`, an attribute of numpy or
        math (`np.pi`: a constant)."""
        spec = self.spec
        t = type(value)
        if t is np.ndarray or isinstance(value, np.generic) and value.dtype.kind in "fc":
            floating = value.dtype.kind in "fc"  # (differentiated or not: checked)
            spec.check(f"type({var}) is {spec.guard_constant(t)} and "
                       f"({var}.dtype.kind in 'fc') is {floating}")
            return self.leaf(var, path, field and floating, t)
        if t is int and field or t is float and not library:
            # a number of a model is differentiated, as in general; one of the
            # environment is read each call (a temperature a schedule changes)
            spec.check(f"type({var}) is {t.__name__}")
            return self.leaf(var, path, field, t)
        if t in _LITERALS:
            if t in (bool, type(None)):
                spec.check(f"{var} is {value!r}")
            elif t in (int, str, bytes):
                spec.check(f"type({var}) is {t.__name__} and {var} == {value!r}")
            else:  # -0.0 is not 0.0, nan is nan
                k, r = spec.guard_constant(value), spec.guard_constant(repr(value))
                spec.check(f"{var} is {k} or type({var}) is {t.__name__} and repr({var}) == {r}")
            return Const(value)
        if t is tuple or t is list:
            spec.check(f"type({var}) is {t.__name__} and len({var}) == {len(value)}")
            return self.static(value, var, field, path)
        if t is dict:  # (in order: the gradient's keys follow it)
            k = spec.guard_constant(tuple(value))
            spec.check(f"type({var}) is dict and tuple({var}) == {k}")
            return self.static(value, var, field, path)
        if t is types.FunctionType:
            k = spec.guard_constant(value.__code__)
            if value.__closure__:
                spec.check(f"type({var}) is _FunctionType and {var}.__code__ is {k}")
                return self.static(value, var, field, path)
            spec.check(f"{var} is {spec.guard_constant(value)}")
            return Const(value)
        if isinstance(value, _CONSTANT_TYPES) or _library_callable(value):
            spec.check(f"{var} is {spec.guard_constant(value)}")
            return Const(value)
        if getattr(value, "dtype", None) is not None or hasattr(value, "__array__"):
            raise Unspecialisable(f"a {t.__name__} (not a numpy array) at {path}")
        if not _plain_object(value):
            raise Unspecialisable(f"a {t.__name__} at {path}")
        k = spec.guard_constant(tuple(value.__dict__))
        spec.check(f"type({var}) is {spec.guard_constant(t)} and tuple({var}.__dict__) == {k}")
        return self.static(value, var, field, path)

    def static(self, value, var, field, path):
        self.spec.statics.append(var)
        return Static(value, var, field, path)

    def leaf(self, var, path, differentiable, kind):
        name = self.fresh(_identifier(path))
        self.spec.leaves.append(Leaf(name, var, differentiable, kind))
        return Dyn(ast.Name(name, ast.Load()), kind)

    def fresh(self, base):
        name, k = base, 1
        while name in self.used_names or hasattr(builtins, name) or name in _RESERVED:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    # -- reading fields, elements and closure cells of Static values -------------

    def read(self, static, key, attribute):
        found = static.reads.get((attribute, key))
        if found is not None:
            return found[0]
        obj = static.obj
        if attribute:
            value = obj.__dict__[key]
            var = self.spec.var(f"{static.var}.{key}")
            path = f"{static.path}.{key}"
        elif isinstance(obj, types.FunctionType):  # a closure's cell, by name
            i = obj.__code__.co_freevars.index(key)
            value = obj.__closure__[i].cell_contents
            var = self.spec.var(f"{static.var}.__closure__[{i}].cell_contents")
            path = f"{static.path}.{key}"
        else:
            value = obj[key]
            var = self.spec.var(f"{static.var}[{key!r}]")
            path = f"{static.path}[{key!r}]"
        out = self.classify(value, var, static.field, path)
        static.reads[(attribute, key)] = (out, var)
        return out

    def attribute(self, static, name, node):
        obj = static.obj
        if isinstance(obj, (tuple, list, dict, types.FunctionType)):
            raise Unspecialisable(f"`.{name}` of a {type(obj).__name__}", node)
        cls_attr = _class_attribute(type(obj), name)
        if name in obj.__dict__:
            if cls_attr is not None and _is_data_descriptor(cls_attr):
                raise Unspecialisable(f"`.{name}` is a descriptor", node)
            return self.read(static, name, True)
        if isinstance(cls_attr, types.FunctionType):
            if _has_rule(cls_attr) or _has_method_rule(obj, name):
                raise Unspecialisable(f"{type(obj).__name__}.{name} has a rule", node)
            self.guard_class_attribute(type(obj), name, cls_attr)
            return Method(static, cls_attr)
        if cls_attr is not None and type(cls_attr) in _LITERALS:
            self.guard_class_attribute(type(obj), name, cls_attr)
            return Const(cls_attr)
        raise Unspecialisable(f"`.{name}` of {type(obj).__name__} is not a plain field",
                              node)

    def module_attribute(self, module, name, node):
        """`module.name`, read each call by the guard (a module's attribute may
        be rebound, or the module reloaded)."""
        key = (id(module), name)
        found = self.globals_read.get(key)
        if found is not None:
            return found
        try:
            value = getattr(module, name)
        except AttributeError:
            raise Unspecialisable(f"{module.__name__}.{name}", node) from None
        var = self.spec.var(f"{self.spec.guard_constant(module)}.{name}")
        library = module.__name__.partition(".")[0] in ("numpy", "math", "cupy", "scipy")
        found = self.globals_read[key] = self.classify(value, var, False,
                                                      f"{module.__name__}.{name}", library)
        if isinstance(found, Const) and type(value) not in _LITERALS:
            self.spellings[id(value)] = (value, module, name)  # `np.maximum`, as written
        return found

    def guard_class_attribute(self, cls, name, value):
        c, v = self.spec.guard_constant(cls), self.spec.guard_constant(value)
        self.spec.check(f"getattr({c}, {name!r}, None) is {v}")

    # -- the entry -----------------------------------------------------------------

    def run(self, args):
        spec, fn = self.spec, self.fn
        values = {}
        for i, (name, a) in enumerate(zip(spec.params, args)):
            var = f"_a{i}"
            if _is_structure(a):
                value = self.classify(a, var, bool(self.mask[i]), name)
            elif type(a) in (bool, type(None), str):
                value = self.classify(a, var, False, name)
            else:  # an array, a number, anything else: an input of the flat function
                self.used_names.add(name)
                kind = type(a)
                spec.check(f"type({var}) is {spec.guard_constant(kind)}")
                if not (kind in (float, int) or issubclass(kind, (np.ndarray, np.generic))):
                    raise Unspecialisable(f"argument {name} is a {kind.__name__}")
                spec.leaves.append(Leaf(name, var, bool(self.mask[i]), kind))
                value = Dyn(ast.Name(name, ast.Load()), kind)
            values[name] = value
            spec.arguments.append(value)
        top = self.static(fn, "_f", False, fn.__name__) if fn.__closure__ else None
        result = self.inline(fn, values, top, None)
        ret = self.materialise(result, None)
        self.body.append(ast.Return(ret))
        structure = next((type(a).__name__ for a in args if _is_structure(a)), "structure")
        spec.name = f"{fn.__name__}__{structure}".replace("<lambda>", "lambda")
        params = [ast.arg(leaf.name) for leaf in spec.leaves]
        fdef = ast.FunctionDef(spec.name, ast.arguments([], params, None, [], [], None, []),
                               self.body or [ast.Pass()], [], None)
        module = ast.fix_missing_locations(ast.Module([fdef], []))
        spec.text = ast.unparse(module) + "\n"
        spec.lines = _origins(module, spec.text)
        self.builder()
        spec.arguments = []  # (the structures themselves are not kept)
        return spec

    # -- the structural gradient ---------------------------------------------------

    def builder(self):
        """`build(_s, _g)`: the gradient of each argument from `_g`, the flat
        function's (one per parameter), mirroring what `materialize` makes of
        the general path's: a Tangent per object with every field, a tuple per
        tuple; fields the code never read get the zero of their value (`_s`:
        the structures, as the guard found them)."""
        spec = self.spec
        index = {leaf.name: i for i, leaf in enumerate(spec.leaves)}
        names = spec.build_names
        statics = {var: i for i, var in enumerate(spec.statics)}

        def const_name(value):
            for k, v in names.items():
                if v is value:
                    return k
            k = f"_T{len(names)}"
            names[k] = value
            return k

        def unread(access, value):  # (read now: the guard does not check it)
            return f"_zl({access})"

        def constant(access, value):
            return "None" if _zero_like(value) is None else f"_zl({access})"

        def tangent(value, access):
            if isinstance(value, Dyn):
                return f"_g[{index[value.node.id]}]"
            if isinstance(value, Const):
                return constant(access, value.value)
            if not isinstance(value, Static):
                raise Unspecialisable("an argument the builder cannot mirror")
            obj, me = value.obj, f"_s[{statics[value.var]}]"

            def part(attribute, key, sub_access):
                found = value.reads.get((attribute, key))
                if found is None:
                    return unread(sub_access, _part_of(obj, attribute, key))
                return tangent(found[0], sub_access)

            if type(obj) in (tuple, list):
                items = [part(False, i, f"{me}[{i}]") for i in range(len(obj))]
                return f"({', '.join(items)},)" if type(obj) is tuple else f"[{', '.join(items)}]"
            if type(obj) is dict:
                return "{" + ", ".join(f"{k!r}: {part(False, k, f'{me}[{k!r}]')}"
                                       for k in obj) + "}"
            if isinstance(obj, types.FunctionType):
                cells = obj.__code__.co_freevars
                fields = [f"{k!r}: {part(False, k, f'{me}.__closure__[{i}].cell_contents')}"
                          for i, k in enumerate(cells)]
                return f"_Tangent(_FunctionType, **{{{', '.join(fields)}}})"
            fields = [f"{k!r}: {part(True, k, f'{me}.{k}')}" for k in object_fields(obj)]
            return f"_Tangent({const_name(type(obj))}, **{{{', '.join(fields)}}})"

        outs = []
        for value, differentiated, i in zip(spec.arguments, self.mask, range(len(self.mask))):
            if not differentiated:
                outs.append("None")
            elif isinstance(value, Const):
                outs.append(unread(f"_args[{i}]", value.value))
            else:
                outs.append(tangent(value, f"_args[{i}]"))
        spec.build_text = (f"def build(_s, _g, _args):\n"
                           f"    return ({', '.join(outs)},)\n")

    # -- inlining a function ---------------------------------------------------------

    def inline(self, fn, bound, closure, call_node):
        """Write `fn`'s body into the flat function with its parameters `bound`
        (name -> abstract value); its closure is Static `closure`. Returns the
        abstract value it returns."""
        if self.depth >= _MAX_DEPTH:
            raise Unspecialisable("calls nested too deeply", call_node)
        node, _ = _function_ast(fn)
        self.spec.inlined[id(fn)] = fn
        named = {}
        for name, value in bound.items():  # an argument computed in the call: once
            if isinstance(value, Dyn) and not isinstance(value.node, (ast.Name, ast.Constant)):
                tmp = self.fresh(name)
                self.body.append(ast.Assign([ast.Name(tmp, ast.Store())], value.node))
                if isinstance(value.node, (ast.BinOp, ast.UnaryOp)):
                    self.fresh_values.add(tmp)
                bound[name] = Dyn(ast.Name(tmp, ast.Load()))
                named[name] = tmp
        frame = Frame(self, fn, closure, bound, self.frames)
        frame.flat.update(named)
        self.frames += 1
        self.depth += 1
        try:
            body = node.body
            if isinstance(node, ast.Lambda):
                return frame.named(frame.expr(node.body), node)
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]  # the docstring
            if body and isinstance(body[-1], ast.Return):
                *body, ret = body
            else:
                ret = None
            frame.block(body, dynamic=False)
            if ret is None:
                return Const(None)
            if ret.value is None:
                return Const(None)
            return frame.named(frame.expr(ret.value), ret)
        finally:
            self.depth -= 1

    # -- turning abstract values into expressions of the flat code ----------------

    def materialise(self, value, node, inert=False):
        """An expression of the flat code for `value`. A structure becomes the
        object itself (checked by identity) only where no gradient can flow
        through it (`inert`: a non-differentiable helper's argument, an error
        message) or where it holds no arrays."""
        if isinstance(value, Dyn):
            return value.node
        if isinstance(value, Const):
            return self.constant(value.value)
        if isinstance(value, StaticTuple):
            return ast.Tuple([self.materialise(v, node, inert) for v in value.items],
                             ast.Load())
        if isinstance(value, Static):
            if not (inert or self.inert) and _holds_arrays(value.obj):
                raise Unspecialisable("a structure of arrays used as a value", node)
            # the guard hands it over each call (held by identity, it would keep
            # a model alive): `_objects[k]`, a global of the flat function
            objects = self.spec.objects
            if value.var not in objects:
                objects.append(value.var)
            self.spec.namespace.setdefault("_objects", ())
            return ast.Subscript(ast.Name("_objects", ast.Load()),
                                 ast.Constant(objects.index(value.var)), ast.Load())
        raise Unspecialisable("a method used as a value", node)

    def constant(self, value, base=None):
        if type(value) in _LITERALS and not (type(value) is float and not np.isfinite(value)):
            return ast.Constant(value)
        if type(value) is tuple and all(type(v) in _LITERALS for v in value):
            return ast.Constant(value)
        spelled = self.spellings.get(id(value))
        if spelled is not None and spelled[0] is value:  # `np.maximum`, as written
            module, attr = spelled[1], spelled[2]
            if module is None:  # a module, by the name it was read as (`np`)
                base = attr
            else:
                return ast.Attribute(self.constant(module), attr, ast.Load())
        ns = self.spec.namespace
        if base is None:
            base = getattr(value, "__name__", None) or "_const"
            if not base.isidentifier():
                base = "_const"
        for name, held in ns.items():
            if held is value:
                return ast.Name(name, ast.Load())
        name = base if base not in ns and base not in self.used_names else self.fresh(base)
        self.used_names.add(name)
        ns[name] = value
        return ast.Name(name, ast.Load())


_RESERVED = {"np", "math", "_zp", "_saved", "_dout", "_tape", "_redo", "_objects"}


class Frame:
    """One inlined call: its local variables (name -> abstract value)."""

    def __init__(self, sp, fn, closure, bound, number):
        self.sp = sp
        self.fn = fn
        self.closure = closure
        self.env = dict(bound)
        self.flat = {}  # local name -> its name in the flat code
        self.params = set(bound) if number else set()  # still the caller's values
        self.local = _local_names(fn)
        self.top = number == 0

    # -- names -----------------------------------------------------------------------

    def flat_name(self, name):
        found = self.flat.get(name)
        if found is None:
            found = self.flat[name] = self.sp.fresh(name)  # (y, y_2, y_3, ...)
        return found

    def load(self, name, node):
        if name in self.local:
            if name not in self.env:
                raise Unspecialisable(f"`{name}` read before it is assigned", node)
            return self.env[name]
        fn = self.fn
        if name in fn.__code__.co_freevars:
            if self.closure is None:
                raise Unspecialisable(f"closure variable `{name}`", node)
            return self.sp.read(self.closure, name, False)
        return self.global_value(name, node)

    def global_value(self, name, node):
        g = self.fn.__globals__
        sp = self.sp
        found = sp.globals_read.get((id(g), name))
        if found is not None:
            return found
        found = sp.globals_read[(id(g), name)] = self._global_value(g, name, node)
        return found

    def _global_value(self, g, name, node):
        sp = self.sp
        if name in g:
            value = g[name]
            k = sp.spec.guard_constant(g)
            var = sp.spec.var(f"{k}[{name!r}]")
            if isinstance(value, types.ModuleType):
                sp.spellings.setdefault(id(value), (value, None, name))
        elif hasattr(builtins, name):  # (unless the module defines the name later)
            sp.spec.check(f"{name!r} not in {sp.spec.guard_constant(g)}")
            return Const(getattr(builtins, name))
        else:
            raise Unspecialisable(f"the name `{name}` is not defined", node)
        return sp.classify(value, var, False, name)  # (arrays: constants, not differentiated)

    # -- statements --------------------------------------------------------------------

    def block(self, stmts, dynamic):
        for s in stmts:
            self.stmt(s, dynamic)

    def emit(self, stmt, like):
        """Write `stmt`, made from the user's `like` (where its errors point)."""
        stmt = ast.copy_location(stmt, like)
        if hasattr(like, "lineno"):
            _ORIGIN[stmt] = (like.lineno, self.fn.__code__.co_filename, self.fn.__qualname__)
        self.sp.body.append(stmt)

    def stmt(self, s, dynamic):
        if isinstance(s, ast.Assign):
            value = self.expr(s.value)
            if len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) \
                    and isinstance(s.value, ast.Call) \
                    and self.rename_result(value, s.targets[0].id, s, dynamic):
                return
            for target in s.targets:
                self.assign(target, value, dynamic, s)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, self.expr(s.value), dynamic, s)
        elif isinstance(s, ast.AugAssign):
            target = s.target
            old = self.env.get(target.id) if isinstance(target, ast.Name) else None
            if old is None or target.id in self.params or not isinstance(old, (Dyn, Const)):
                raise Unspecialisable("an update in place", s)
            value = self.expr(s.value)
            if isinstance(old, Const):  # a number, a string: `n += 1` rebinds it
                if isinstance(value, Const) and not dynamic:
                    self.env[target.id] = Const(_evaluate(ast.BinOp(None, s.op, None),
                                                          [old.value, value.value]))
                    return
                joined = ast.BinOp(self.sp.materialise(old, s), s.op,
                                   self.sp.materialise(value, s))
                name = self.bind_dynamic(target.id, s, fresh=not dynamic)
                self.sp.fresh_values.add(name)
                self.emit(ast.Assign([ast.Name(name, ast.Store())], joined), s)
                return
            name = self.flat.get(target.id)
            if name is None or name not in self.sp.fresh_values \
                    or old.node is not None and not (isinstance(old.node, ast.Name)
                                                     and old.node.id == name):
                # (it may be an argument's array, changed in place)
                raise Unspecialisable("an update in place of a value it did not make", s)
            self.emit(ast.AugAssign(ast.Name(name, ast.Store()), s.op,
                                    self.sp.materialise(value, s)), s)
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return
            value = self.expr(s.value)
            last = self.last_result(value) if isinstance(s.value, ast.Call) else None
            if last is not None:  # `check(x)`, not `_r = check(x)`
                self.sp.body.pop()
                self.emit(ast.Expr(last.value), s)
            elif isinstance(value, Dyn) and not isinstance(value.node, ast.Name):
                self.emit(ast.Expr(value.node), s)
        elif isinstance(s, ast.If):
            test = self.expr(s.test)
            known = _truth(test)
            if known is not None:
                self.block(s.body if known else s.orelse, dynamic)
                return
            then, orelse = self.branch(s.body), self.branch(s.orelse)
            self.emit(ast.If(self.sp.materialise(test, s), then or [ast.Pass()], orelse), s)
        elif isinstance(s, ast.For):
            self.for_loop(s, dynamic)
        elif isinstance(s, ast.While):
            if s.orelse:
                raise Unspecialisable("while ... else", s)
            self.prepare(s.body)  # (the test reads what the body writes)
            test = self.expr(s.test)
            if not isinstance(test, Dyn) or any(
                    isinstance(n, ast.Call) for n in ast.walk(s.test)):
                raise Unspecialisable("a while loop on a constant or on a call", s)
            body = self.branch(s.body, loop=True)
            self.emit(ast.While(test.node, body or [ast.Pass()], []), s)
        elif isinstance(s, ast.Pass):
            return
        elif isinstance(s, (ast.Break, ast.Continue)) and dynamic == "loop":
            self.emit(type(s)(), s)
        elif isinstance(s, ast.Raise) and dynamic:
            self.sp.inert += 1  # an error message may show a layer
            try:
                exc = self.sp.materialise(self.expr(s.exc), s) if s.exc else None
                cause = self.sp.materialise(self.expr(s.cause), s) if s.cause else None
            finally:
                self.sp.inert -= 1
            self.emit(ast.Raise(exc, cause), s)
        elif isinstance(s, ast.Assert):
            test = self.expr(s.test)
            if _truth(test) is True:
                return
            msg = self.sp.materialise(self.expr(s.msg), s) if s.msg is not None else None
            self.emit(ast.Assert(self.sp.materialise(test, s), msg), s)
        else:
            raise Unspecialisable(f"a {type(s).__name__} statement", s)

    def last_result(self, value):
        """The statement just written that made `value` (`_r = f(x)`), if any."""
        body = self.sp.body
        if isinstance(value, Dyn) and isinstance(value.node, ast.Name) and body \
                and value.node.id.startswith("_r") and isinstance(body[-1], ast.Assign) \
                and isinstance(body[-1].targets[0], ast.Name) \
                and body[-1].targets[0].id == value.node.id:
            return body[-1]
        return None

    def rename_result(self, value, name, s, dynamic):
        """`y = f(x)` written as such rather than `_r = f(x); y = _r`."""
        last = self.last_result(value)
        if last is None:
            return False
        flat = self.bind_dynamic(name, s, fresh=not dynamic)
        last.targets = [ast.Name(flat, ast.Store())]
        return True

    def prepare(self, stmts):
        """Before code decided at run time (a branch, a loop): each variable it
        rebinds gets, first, the flat name its assignments there will use, holding
        its value now. A loop then reads what its last pass wrote (`x = f(x)`), a
        branch not taken leaves the value as it was, and a constant rebound
        there (`total = 0` before a loop adding to it) becomes a variable."""
        sp = self.sp
        for name in sorted(_stored_names(stmts)):
            value = self.env.get(name)
            if value is None:
                continue
            if isinstance(value, Dyn) and isinstance(value.node, ast.Name) \
                    and self.flat.get(name) == value.node.id:
                continue  # already there
            if not isinstance(value, (Dyn, Const)):
                raise Unspecialisable(f"`{name}`, a structure, rebound in a branch or loop",
                                      stmts[0])
            flat = self.bind_dynamic(name, stmts[0], fresh=True)
            if isinstance(value, Const):
                sp.fresh_values.add(flat)
            self.emit(ast.Assign([ast.Name(flat, ast.Store())],
                                 sp.materialise(value, stmts[0])), stmts[0])

    def branch(self, stmts, loop=False):
        """The statements of a branch decided at run time, written apart (after
        `prepare`)."""
        sp = self.sp
        self.prepare(stmts)
        outer, sp.body = sp.body, []
        before = dict(self.env)
        try:
            self.block(stmts, "loop" if loop else True)
            for name, value in self.env.items():
                if before.get(name) is not value and not isinstance(value, Dyn):
                    raise Unspecialisable(f"`{name}` bound to a structure in a branch")
            return sp.body
        finally:
            sp.body = outer

    def for_loop(self, s, dynamic):
        if s.orelse:
            raise Unspecialisable("for ... else", s)
        items = self.iteration(s.iter)
        if items is None:  # a sequence known only at run time: a loop of the flat code
            it = self.sp.materialise(self.expr(s.iter), s)
            target = self.dynamic_target(s.target, s)
            body = self.branch(s.body, loop=True)
            self.emit(ast.For(target, it, body or [ast.Pass()], []), s)
            return
        for item in items:
            self.assign(s.target, item, dynamic, s)
            for stmt in s.body:
                if any(isinstance(n, (ast.Break, ast.Continue)) for n in _own_nodes(stmt)):
                    raise Unspecialisable("break or continue in a loop over a structure", s)
                self.stmt(stmt, dynamic)

    def iteration(self, node):
        """The items of a loop over a sequence known now (a tuple of layers,
        `enumerate` or `zip` of them, a constant range), else None."""
        value = self.expr(node) if not isinstance(node, ast.Call) else None
        if value is None:
            call = node
            fn = self.expr(call.func)
            if isinstance(fn, Const) and fn.value in (enumerate, zip, reversed, range) \
                    and not call.keywords:
                args = [self.iteration(a) if fn.value is not range else None
                        for a in call.args]
                if fn.value is range:
                    values = [self.expr(a) for a in call.args]
                    if all(isinstance(v, Const) and type(v.value) is int for v in values):
                        r = range(*(v.value for v in values))
                        return [Const(i) for i in r] if len(r) <= _MAX_UNROLL else None
                    return None
                if any(a is None for a in args):
                    return None
                if fn.value is enumerate:
                    return [StaticTuple([Const(i), v]) for i, v in enumerate(args[0])]
                if fn.value is reversed:
                    return args[0][::-1]
                return [StaticTuple(list(vs)) for vs in zip(*args)]
            value = self.expr(node)
        if isinstance(value, StaticTuple):
            return value.items
        if isinstance(value, Static) and type(value.obj) in (tuple, list):
            if len(value.obj) > _MAX_UNROLL:
                return None
            return [self.sp.read(value, i, False) for i in range(len(value.obj))]
        if isinstance(value, Static):
            raise Unspecialisable(f"a loop over a {type(value.obj).__name__}", node)
        if isinstance(value, Const) and type(value.value) in (tuple, range) \
                and len(value.value) <= _MAX_UNROLL:
            return [Const(v) for v in value.value]
        return None

    def assign(self, target, value, dynamic, s):
        if isinstance(target, ast.Name):
            if isinstance(value, Const) and dynamic:  # a variable of the flat code there
                value = Dyn(self.sp.materialise(value, s))
            if not isinstance(value, Dyn):
                if dynamic:
                    raise Unspecialisable("a structure bound in a branch or loop", s)
                self.env[target.id] = value
                self.params.discard(target.id)
                return
            made = isinstance(value.node, (ast.BinOp, ast.UnaryOp, ast.Constant))
            name = self.bind_dynamic(target.id, s, fresh=not dynamic)
            if made:  # a value of its own (an arithmetic result, a number)
                self.sp.fresh_values.add(name)
            if isinstance(value.node, ast.Name) and value.node.id == name:
                return
            self.emit(ast.Assign([ast.Name(name, ast.Store())], value.node), s)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                raise Unspecialisable("a starred assignment", s)
            if isinstance(value, StaticTuple) or \
                    isinstance(value, Static) and type(value.obj) in (tuple, list):
                items = value.items if isinstance(value, StaticTuple) else \
                    [self.sp.read(value, i, False) for i in range(len(value.obj))]
                if len(items) != len(target.elts):
                    raise Unspecialisable("an unpacking of another length", s)
                for t, v in zip(target.elts, items):
                    self.assign(t, v, dynamic, s)
                return
            if isinstance(value, Dyn):
                tmp = self.sp.fresh("_unpacked")
                self.emit(ast.Assign([ast.Name(tmp, ast.Store())], value.node), s)
                names = []
                for t in target.elts:
                    if not isinstance(t, ast.Name):
                        raise Unspecialisable("an unpacking into a part", s)
                    names.append(ast.Name(self.bind_dynamic(t.id, s, fresh=not dynamic),
                                          ast.Store()))
                self.emit(ast.Assign([ast.Tuple(names, ast.Store())],
                                     ast.Name(tmp, ast.Load())), s)
                return
            raise Unspecialisable("an unpacking of a constant", s)
        raise Unspecialisable(f"an assignment to a {type(target).__name__}", s)

    def bind_dynamic(self, name, s, fresh=False):
        """The flat name of local `name`, now holding a value of the flat code:
        a new one (`fresh`) where straight-line code rebinds it, so that each
        name of the flat code holds one kind of value (the compiler then knows
        an array from a number); the one it has inside branches and loops,
        whose paths must meet on one name."""
        if fresh and name in self.flat:
            del self.flat[name]
        flat = self.flat_name(name)
        self.sp.fresh_values.discard(flat)
        self.env[name] = Dyn(ast.Name(flat, ast.Load()))
        self.params.discard(name)
        return flat

    def dynamic_target(self, target, s):
        if isinstance(target, ast.Name):
            return ast.Name(self.bind_dynamic(target.id, s), ast.Store())
        if isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            return ast.Tuple([ast.Name(self.bind_dynamic(e.id, s), ast.Store())
                              for e in target.elts], ast.Store())
        raise Unspecialisable("a loop target that is not a name", s)

    # -- expressions -----------------------------------------------------------------

    def expr(self, node):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            return self.generic(node)
        return method(node)

    def expr_Constant(self, node):
        return Const(node.value)

    def expr_Name(self, node):
        return self.load(node.id, node)

    def expr_Attribute(self, node):
        base = self.expr(node.value)
        if isinstance(base, Static):
            return self.sp.attribute(base, node.attr, node)
        if isinstance(base, Const):
            value = base.value
            if isinstance(value, types.ModuleType):
                return self.sp.module_attribute(value, node.attr, node)
            if type(value) in _LITERALS or value is None:
                return Dyn(ast.Attribute(self.sp.materialise(base, node), node.attr, ast.Load()))
            raise Unspecialisable(f"`.{node.attr}` of a constant", node)
        if isinstance(base, Dyn):
            return Dyn(ast.copy_location(ast.Attribute(base.node, node.attr, ast.Load()), node))
        raise Unspecialisable(f"`.{node.attr}` of a method", node)

    def expr_Subscript(self, node):
        base = self.expr(node.value)
        index = self.expr(node.slice)
        if isinstance(base, StaticTuple) and isinstance(index, Const) \
                and type(index.value) is int:
            return base.items[index.value]
        if isinstance(base, Static):
            if not isinstance(index, Const):
                raise Unspecialisable("a structure indexed by a computed value", node)
            key = index.value
            obj = base.obj
            if type(obj) in (tuple, list) and type(key) is int and -len(obj) <= key < len(obj):
                return self.sp.read(base, key % len(obj), False)
            if type(obj) is dict and type(key) in (str, int) and key in obj:
                return self.sp.read(base, key, False)
            raise Unspecialisable("an index of a structure that is not an element", node)
        return Dyn(ast.copy_location(ast.Subscript(self.sp.materialise(base, node),
                                                   self.sp.materialise(index, node),
                                                   ast.Load()), node))

    def expr_Tuple(self, node):
        items = [self.expr(e) for e in node.elts]
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise Unspecialisable("a starred element", node)
        if all(isinstance(v, Const) for v in items):
            return Const(tuple(v.value for v in items))
        if all(isinstance(v, (Dyn, Const)) for v in items):
            return Dyn(ast.Tuple([self.sp.materialise(v, node) for v in items], ast.Load()))
        return StaticTuple([self.named(v, node) for v in items])

    def named(self, value, node):
        """`value`, a computation bound to a name now where it is one (held, it
        would be computed where it is used: later, on other values)."""
        if isinstance(value, Dyn) and not isinstance(value.node, (ast.Name, ast.Constant)):
            tmp = self.sp.fresh("_v")
            self.emit(ast.Assign([ast.Name(tmp, ast.Store())], value.node), node)
            if isinstance(value.node, (ast.BinOp, ast.UnaryOp)):
                self.sp.fresh_values.add(tmp)
            return Dyn(ast.Name(tmp, ast.Load()))
        return value

    def expr_Compare(self, node):
        left = self.expr(node.left)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            right = self.expr(node.comparators[0])
            same = _identical(left, right)
            if same is not None:
                return Const(same if isinstance(node.ops[0], ast.Is) else not same)
        values = [left] + [self.expr(c) for c in node.comparators]
        if all(isinstance(v, Const) for v in values):
            return Const(_evaluate(node, [v.value for v in values]))
        return Dyn(ast.copy_location(ast.Compare(
            self.sp.materialise(values[0], node), node.ops,
            [self.sp.materialise(v, node) for v in values[1:]]), node))

    def expr_UnaryOp(self, node):
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            known = _truth(operand)
            if known is not None:
                return Const(not known)
        if isinstance(operand, Const):
            return Const(_evaluate(node, [operand.value]))
        return Dyn(ast.copy_location(ast.UnaryOp(node.op, self.sp.materialise(operand, node)),
                                     node))

    def expr_BinOp(self, node):
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(left, Const) and isinstance(right, Const):
            return Const(_evaluate(node, [left.value, right.value]))
        return Dyn(ast.copy_location(ast.BinOp(self.sp.materialise(left, node), node.op,
                                               self.sp.materialise(right, node)), node))

    def expr_BoolOp(self, node):
        first = self.expr(node.values[0])
        known = _truth(first)
        if known is None:
            return self.generic(node)
        if known is (isinstance(node.op, ast.Or)):  # `a or b` with a true: a
            return first
        if len(node.values) == 2:
            return self.expr(node.values[1])
        rest = ast.copy_location(ast.BoolOp(node.op, node.values[1:]), node)
        return self.expr_BoolOp(rest)

    def expr_IfExp(self, node):
        test = self.expr(node.test)
        known = _truth(test)
        if known is not None:
            return self.expr(node.body if known else node.orelse)
        return self.generic(node)

    def expr_Call(self, node):
        if any(isinstance(a, ast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords):
            raise Unspecialisable("a call with *args or **kwargs", node)
        fn = self.expr(node.func)
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords}
        sp = self.sp
        if isinstance(fn, Method):
            return self.call_inline(fn.fn, [fn.self_] + args, kwargs, None, node)
        if isinstance(fn, Static):
            obj = fn.obj
            if isinstance(obj, types.FunctionType):  # a closure
                if _has_rule(obj):
                    raise Unspecialisable("a closure with a rule", node)
                return self.call_inline(obj, args, kwargs, fn, node)
            call = _class_attribute(type(obj), "__call__")
            if not isinstance(call, types.FunctionType):
                raise Unspecialisable(f"a call of a {type(obj).__name__}", node)
            sp.guard_class_attribute(type(obj), "__call__", call)
            if _has_rule(call) or _has_method_rule(obj, "__call__"):
                raise Unspecialisable(f"{type(obj).__name__} has a rule", node)
            return self.call_inline(call, [fn] + args, kwargs, None, node)
        inert = False
        if isinstance(fn, Const):
            f = fn.value
            static = self.static_call(f, args, kwargs)
            if static is not None:
                return static
            structures = any(_is_static(v) for v in args + list(kwargs.values()))
            if _inlinable(f) and not sp.inert:
                body, size = sp.body, len(sp.body)
                try:
                    return self.call_inline(f, args, kwargs, None, node, tentative=True)
                except Unspecialisable:
                    if structures:
                        raise
                    del body[size:]  # (it read no structure: nothing else to undo)
            inert = _inert(f) or sp.inert > 0
            if structures and not inert:
                raise Unspecialisable(f"a structure passed to {_name_of(f)}", node)
        elif not isinstance(fn, Dyn):
            raise Unspecialisable("a call of a structure", node)
        call = ast.Call(sp.materialise(fn, node),
                        [sp.materialise(a, node, inert) for a in args],
                        [ast.keyword(k, sp.materialise(v, node, inert))
                         for k, v in kwargs.items()])
        tmp = sp.fresh("_r")
        self.emit(ast.Assign([ast.Name(tmp, ast.Store())], ast.copy_location(call, node)),
                  node)
        return Dyn(ast.Name(tmp, ast.Load()))

    def static_call(self, f, args, kwargs):
        """A builtin's answer on values known now (`len(self.layers)`), else None."""
        if kwargs:
            return None
        if f is len and len(args) == 1:
            a = args[0]
            if isinstance(a, Static) and type(a.obj) in (tuple, list, dict):
                return Const(len(a.obj))
            if isinstance(a, StaticTuple):
                return Const(len(a.items))
        if f in (isinstance, callable, type) and args and all(
                isinstance(a, (Const, Static, Method)) for a in args[:1]):
            obj = _object_of(args[0])
            if f is callable and len(args) == 1:
                return Const(callable(obj))
            if f is type and len(args) == 1:
                return Const(type(obj))
            if f is isinstance and len(args) == 2 and isinstance(args[1], Const):
                return Const(isinstance(obj, args[1].value))
        if f is isinstance and len(args) == 2 and isinstance(args[0], Dyn) \
                and args[0].kind is not None and isinstance(args[1], Const):
            types_ = args[1].value  # the guard checks the parameter's type
            if isinstance(types_, type) or type(types_) is tuple:
                return Const(issubclass(args[0].kind, types_))
        return None

    def call_inline(self, f, args, kwargs, closure, node, tentative=False):
        if f.__code__.co_flags & 0x20 or f.__code__.co_flags & 0x80:  # generator, async
            raise Unspecialisable(f"{_name_of(f)} is a generator", node)
        bound = _bind(f, args, kwargs, node)
        if closure is None and f.__closure__:
            if tentative:
                raise Unspecialisable(f"{_name_of(f)} closes over variables", node)
            closure = self.sp.classify(f, self.sp.spec.var(self.sp.spec.guard_constant(f)),
                                       False, f.__name__)
        self.guard_code(f)
        return self.sp.inline(f, bound, closure, node)

    def guard_code(self, f):
        """The code (and the defaults) of inlined `f` are checked each call."""
        spec = self.sp.spec
        k = spec.guard_constant(f)
        spec.check(f"{k}.__code__ is {spec.guard_constant(f.__code__)} and "
                   f"{k}.__defaults__ is {spec.guard_constant(f.__defaults__)}")

    def generic(self, node):
        """An expression with no call to inline in it (a comprehension, a lambda, a
        conditional expression): copied with its names replaced; a structure in it
        (other than a field that is read) makes it unspecialisable."""
        for child in ast.walk(node):
            if isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                  ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield,
                                  ast.YieldFrom)):
                raise Unspecialisable(f"a {type(child).__name__} in inlined code", node)
        return Dyn(self.rewrite(copy.deepcopy(node)))

    def rewrite(self, node):
        frame = self

        class Names(ast.NodeTransformer):
            def visit_Name(self, n):
                value = frame.load(n.id, n)
                return ast.copy_location(frame.sp.materialise(value, n), n)

            def visit_Attribute(self, n):
                value = frame.expr(n)
                if isinstance(value, Dyn) and isinstance(n.value, ast.Name):
                    return ast.copy_location(value.node, n)
                if isinstance(value, (Const, Static)):
                    return ast.copy_location(frame.sp.materialise(value, n), n)
                self.generic_visit(n)
                return n

            def visit_Call(self, n):
                fn = frame.expr(n.func)
                if isinstance(fn, (Method, Static)):
                    raise Unspecialisable("a call to inline in a conditional expression", n)
                self.generic_visit(n)
                return n

        return Names().visit(node)


class StaticTuple:
    """A tuple written in the code whose items are not all values of the flat
    code (`(self.a, x)`); it stays a tuple of abstract values."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = list(items)


# -- helpers --------------------------------------------------------------------------


def _param_names(fn):
    code = fn.__code__
    return list(code.co_varnames[:code.co_argcount])


def _function_ast(fn):
    try:
        node, filename = sources.function_ast(fn)
    except (OSError, TypeError) as exc:
        raise Unspecialisable(f"no source for {_name_of(fn)}") from exc
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Global,
                          ast.Nonlocal, ast.Try, ast.With, ast.Delete, ast.Yield,
                          ast.YieldFrom, ast.Import, ast.ImportFrom)) and n is not node:
            raise Unspecialisable(f"a {type(n).__name__} in {_name_of(fn)}", n)
        if isinstance(n, ast.Return) and not _is_last_return(node, n):
            raise Unspecialisable(f"a return before the end of {_name_of(fn)}", n)
        if isinstance(n, ast.Name) and n.id in ("super", "locals", "globals", "vars",
                                                 "eval", "exec", "__class__"):
            raise Unspecialisable(f"`{n.id}` in {_name_of(fn)}", n)
    return node, filename


def _is_last_return(fdef, ret):
    if isinstance(fdef, ast.Lambda):
        return False
    return bool(fdef.body) and fdef.body[-1] is ret


def _local_names(fn):
    code = fn.__code__
    return set(code.co_varnames)


def _bind(f, args, kwargs, node):
    code = f.__code__
    if code.co_flags & 0x0C or code.co_kwonlyargcount:  # *args, **kwargs, keyword-only
        raise Unspecialisable(f"{_name_of(f)} takes *args, **kwargs or keyword-only "
                              "arguments", node)
    names = code.co_varnames[:code.co_argcount]
    if len(args) > len(names):
        raise Unspecialisable(f"too many arguments for {_name_of(f)}", node)
    bound = dict(zip(names, args))
    posonly = code.co_posonlyargcount
    for k, v in kwargs.items():
        if k not in names or k in bound or names.index(k) < posonly:
            raise Unspecialisable(f"keyword {k} of {_name_of(f)}", node)
        bound[k] = v
    defaults = f.__defaults__ or ()
    first_default = len(names) - len(defaults)
    for i, name in enumerate(names):
        if name in bound:
            continue
        if i < first_default:
            raise Unspecialisable(f"{_name_of(f)} is missing argument {name}", node)
        value = defaults[i - first_default]
        if type(value) not in _LITERALS and not isinstance(value, _CONSTANT_TYPES) \
                and not _library_callable(value) \
                and not (type(value) is tuple and all(type(v) in _LITERALS for v in value)):
            raise Unspecialisable(f"the default of {name} in {_name_of(f)}", node)
        bound[name] = Const(value)
    return bound


def _library_callable(value):
    """A function of numpy (or another array library): `np.mean` is an
    `_ArrayFunctionDispatcher`, not a Python function."""
    if not callable(value):
        return False
    module = (getattr(type(value), "__module__", None) or "").partition(".")[0]
    return module in ("numpy", "cupy", "scipy", "cupyx")


def _inlinable(f):
    """A Python function zygopy would compile (not a rule, not a library's)."""
    if type(f) is not types.FunctionType or _has_rule(f) or is_nondifferentiable(f):
        return False
    module = (getattr(f, "__module__", None) or "").partition(".")[0]
    from ..runtime.dispatch import LIBRARIES

    return module not in LIBRARIES and module != "zygopy"


_INERT_BUILTINS = frozenset({print, repr, str, id, type, isinstance, callable, hasattr,
                            format, len})


def _inert(f):
    """Whether a call of `f` may be handed a structure: no gradient flows
    through it and it changes nothing: a builtin that only looks, or a check
    of zygopy's or layers' declared non-differentiable (a user's helper so
    declared could change a field the flat code has read already)."""
    try:
        if f in _INERT_BUILTINS:
            return True
        module = (getattr(f, "__module__", None) or "").partition(".")[0]
        return module in ("layers", "zygopy") and is_nondifferentiable(f)
    except TypeError:
        return False


def _has_rule(f):
    from ..rules.registry import NONDIFFERENTIABLE

    try:
        return f in RULES or f in NONDIFFERENTIABLE
    except TypeError:
        return True


def _has_method_rule(obj, name):
    from ..rules.registry import method_key

    return method_key(obj, name) is not None


def _is_structure(value):
    """A value the specialisation sees into: an object, a container, a closure."""
    t = type(value)
    if t is tuple or t is list or t is dict:
        return True
    if t is types.FunctionType:
        return bool(value.__closure__)
    return _plain_object(value)


def _plain_object(value):
    t = type(value)
    if t in _LITERALS or isinstance(value, (_CONSTANT_TYPES, np.ndarray, np.generic)):
        return False
    if isinstance(value, tuple) or "__slots__" in t.__dict__ or \
            any("__slots__" in c.__dict__ for c in t.__mro__[1:-1]):
        return False
    d = getattr(value, "__dict__", None)
    if type(d) is not dict or getattr(t, "zygopy_rules_type", None) is not None \
            or t.__getattribute__ is not object.__getattribute__:
        return False
    if dataclasses.is_dataclass(value):
        return set(object_fields(value)) == set(d)
    return t.__module__ != "builtins" and not hasattr(value, "__array__")


def _holds_arrays(obj, depth=4):
    if isinstance(obj, np.ndarray) or type(obj) in (float, int):
        return True
    if depth == 0:
        return True
    if isinstance(obj, (tuple, list)):
        return any(_holds_arrays(v, depth - 1) for v in obj)
    if isinstance(obj, dict):
        return any(_holds_arrays(v, depth - 1) for v in obj.values())
    if isinstance(obj, types.FunctionType):
        return any(_holds_arrays(c.cell_contents, depth - 1) for c in obj.__closure__ or ())
    d = getattr(obj, "__dict__", None)
    return d is not None and any(_holds_arrays(v, depth - 1) for v in d.values())


def _class_attribute(cls, name):
    for c in cls.__mro__:
        if name in c.__dict__:
            return c.__dict__[name]
    return None


def _is_data_descriptor(attr):
    t = type(attr)
    return hasattr(t, "__set__") or hasattr(t, "__delete__")


def _identifier(path):
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in path.replace("][", "_"))
    out = "_".join(p for p in out.split("_") if p) or "leaf"
    return out if out[0].isalpha() else "p_" + out


def _truth(value):
    """True or False where the truth of `value` is known now, else None."""
    if isinstance(value, Const):
        try:
            return bool(value.value)
        except Exception:  # noqa: BLE001 (an array's ambiguous truth: not known)
            return None
    if isinstance(value, Static):
        if type(value.obj) in (tuple, list, dict):
            return bool(value.obj)
        return None if hasattr(type(value.obj), "__bool__") or \
            hasattr(type(value.obj), "__len__") else True
    if isinstance(value, Method):
        return True
    return None


def _identical(left, right):
    """`left is right` where known now: None against an array or a structure."""
    for a, b in ((left, right), (right, left)):
        if isinstance(b, Const) and b.value is None:
            if isinstance(a, Const):
                return a.value is None
            if isinstance(a, (Static, Method)):
                return False
            if isinstance(a, Dyn) and _is_leaf_name(a):
                return False
    if isinstance(left, Const) and isinstance(right, Const):
        return left.value is right.value
    return None


def _is_leaf_name(dyn):
    return dyn.kind is not None


def _evaluate(node, values):
    names = [f"_x{i}" for i in range(len(values))]
    if isinstance(node, ast.Compare):
        expr = ast.Compare(ast.Name(names[0], ast.Load()), node.ops,
                           [ast.Name(n, ast.Load()) for n in names[1:]])
    elif isinstance(node, ast.UnaryOp):
        expr = ast.UnaryOp(node.op, ast.Name(names[0], ast.Load()))
    else:
        expr = ast.BinOp(ast.Name(names[0], ast.Load()), node.op, ast.Name(names[1], ast.Load()))
    code = compile(ast.fix_missing_locations(ast.Expression(expr)), "<specialise>", "eval")
    return eval(code, {"__builtins__": {}}, dict(zip(names, values)))


def _is_static(value):
    return isinstance(value, (Static, Method, StaticTuple))


def _object_of(value):
    if isinstance(value, Const):
        return value.value
    if isinstance(value, Static):
        return value.obj
    return value.fn.__get__(value.self_.obj)


def _name_of(f):
    return getattr(f, "__qualname__", None) or repr(f)


def _own_nodes(stmt):
    """The nodes of `stmt` outside nested loops (a break there is theirs)."""
    stack = [stmt]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, (ast.For, ast.While)):
                stack.append(child)


def _stored_names(stmts):
    return {n.id for s in stmts for n in ast.walk(s)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _part_of(obj, attribute, key):
    if attribute:
        return obj.__dict__[key]
    if isinstance(obj, types.FunctionType):
        return obj.__closure__[obj.__code__.co_freevars.index(key)].cell_contents
    return obj[key]


def _zero_like(value):
    from ..runtime.tangents import zero_like

    return zero_like(value)


_ORIGIN = weakref.WeakKeyDictionary()  # statement written -> (user line, file, function)


def _origins(module, text):
    """Where each line of the flat function's `text` comes from: the user's
    line, file and function of the statement written there (`module`, the
    tree `text` was unparsed from, parses back to the same shape)."""
    out = {}
    again = ast.parse(text)
    written = [n for n in ast.walk(module) if isinstance(n, ast.stmt)]
    parsed = [n for n in ast.walk(again) if isinstance(n, ast.stmt)]
    for old, new in zip(written, parsed):
        origin = _ORIGIN.get(old)
        if origin is not None:
            compound = hasattr(new, "body")  # (its body's lines are its statements')
            last = new.lineno if compound else (new.end_lineno or new.lineno)
            for line in range(new.lineno, last + 1):
                out[line] = origin  # (inner statements come later in the walk)
    return out

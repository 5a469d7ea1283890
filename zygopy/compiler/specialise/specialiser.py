"""The specialiser: what a call's arguments are (`classify`), the guard that
checks it each call, and the flat function the call's code becomes."""

from __future__ import annotations

import ast
import builtins
import types

import numpy as np

from .builder import write_builder
from .frame import Frame
from .lines import origins
from .objects import (
    attribute_of,
    class_attribute,
    function_ast,
    has_method_rule,
    has_rule,
    holds_arrays,
    identifier,
    is_data_descriptor,
    is_structure,
    library_callable,
    param_names,
    plain_object,
)
from .values import (
    CONSTANT_TYPES,
    LITERALS,
    Const,
    Dyn,
    Leaf,
    Method,
    Static,
    StaticTuple,
    Unspecialisable,
)

MAX_DEPTH = 24  # nested inlined calls




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
        self.objects: list = []  # guard vars of the structures the flat code is handed
        self.statics: list = []  # guard vars of every structure (the builder reads them)
        self.build_text = ""  # build(_s, _g) -> the gradient of each argument
        self.lines: dict = {}  # line of `text` -> (user line, file, function)
        self.build_names: dict = {}
        self.arguments: list = []  # per original argument: its abstract value
        self.text = ""
        self.name = ""
        self.user_names: dict = {}  # flat name of a local -> the user's name (`y_2` -> `y`)

    # -- the guard ---------------------------------------------------------------

    def var(self, expr):
        """A new variable of the guard, holding `expr`."""
        name = f"_v{len(self.guard_lines)}"
        self.guard_lines.append(f"{name} = {expr}")
        return name

    def check(self, condition):
        """A condition the guard requires (else the call is not this specialisation)."""
        self.guard_lines.append(f"if not ({condition}): return None")

    def guard_constant(self, value):
        """A name of the guard's namespace for `value` (compared by the guard)."""
        name = f"_k{len(self.guard_names)}"
        self.guard_names[name] = value
        return name


class Specialiser:
    """Inline `fn(*args)` into one flat function (see the module docstring)."""

    def __init__(self, fn, mask):
        self.spec = Specialisation(fn, param_names(fn))
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
        self.last_call = None  # (call node, the `_r = f(...)` written for it)
        self.class_guards: set = set()  # (class, attribute) checked by the guard
        self.calls_users_code = False  # a call of a user's function is left in the flat code
        self.reads_global_structures = False  # a module's list, dict or object is read

    # -- classification of values read from arguments and the environment --------

    def classify(self, value, var, field, path, library=False):
        """The abstract value of `value` (read by the guard as `var`): `field`,
        part of a differentiated argument; `library`, an attribute of numpy or
        math (`np.pi`: a constant)."""
        spec = self.spec
        t = type(value)
        if t is complex or t is np.ndarray and value.dtype.kind not in "biuf" \
                or isinstance(value, np.generic) and value.dtype.kind == "c":
            raise Unspecialisable(f"a {t.__name__} of dtype {getattr(value, 'dtype', t)} "
                                  f"at {path}")
        if t is np.ndarray or isinstance(value, np.generic) and value.dtype.kind in "fc":
            # the dtype itself (the flat code is compiled for it; a scalar's type says it)
            dtype = f" and {var}.dtype is {spec.guard_constant(value.dtype)}" \
                if t is np.ndarray else ""
            spec.check(f"type({var}) is {spec.guard_constant(t)}{dtype}")
            return self.leaf(var, path, field and value.dtype.kind in "fc", t)
        if t is int and field or t is float and not library:
            # a number of a model is differentiated, as in general; one of the
            # environment is read each call (a temperature a schedule changes)
            spec.check(f"type({var}) is {t.__name__}")
            return self.leaf(var, path, field, t)
        if t in LITERALS:
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
        if t is dict and not all(type(k) is str for k in value):
            raise Unspecialisable(f"a dict with keys other than strings at {path}")
        if t is dict:  # (in order: the gradient's keys follow it)
            k = spec.guard_constant(tuple(value))
            spec.check(f"type({var}) is dict and tuple({var}) == {k}")
            return self.static(value, var, field, path)
        if t is types.FunctionType:
            k = spec.guard_constant(value.__code__)
            if value.__closure__ and not (has_rule(value) and not field):
                # (a closure of the environment with a rule, `conv2d`: called by it)
                spec.check(f"type({var}) is _FunctionType and {var}.__code__ is {k}")
                return self.static(value, var, field, path)
            spec.check(f"{var} is {spec.guard_constant(value)}")
            return Const(value)
        if isinstance(value, CONSTANT_TYPES) or library_callable(value):
            spec.check(f"{var} is {spec.guard_constant(value)}")
            return Const(value)
        if getattr(value, "dtype", None) is not None or hasattr(value, "__array__"):
            raise Unspecialisable(f"a {t.__name__} (not a numpy array) at {path}")
        if not plain_object(value):
            raise Unspecialisable(f"a {t.__name__} at {path}")
        k = spec.guard_constant(tuple(value.__dict__))
        spec.check(f"type({var}) is {spec.guard_constant(t)} and tuple({var}.__dict__) == {k}")
        return self.static(value, var, field, path)

    def static(self, value, var, field, path):
        """A structure, remembered for the builder (which reads it as `_s[k]`)."""
        self.spec.statics.append(var)
        return Static(value, var, field, path)

    def leaf(self, var, path, differentiable, kind):
        """A new parameter of the flat function, read by the guard as `var`."""
        name = self.fresh(identifier(path))
        self.spec.leaves.append(Leaf(name, var, differentiable, kind))
        return Dyn(ast.Name(name, ast.Load()), kind)

    def fresh(self, base):
        """A name of the flat code not used yet, made from `base`."""
        name, k = base, 1
        while name in self.used_names or hasattr(builtins, name) or name in RESERVED:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    # -- reading fields, elements and closure cells of Static values -------------

    def read(self, static, key, attribute):
        """Field `key` of structure `static` (an attribute, a closure cell or an
        item), read once by the guard and classified."""
        found = static.reads.get((attribute, key))
        if found is not None:
            return found[0]
        obj = static.obj
        if attribute:
            value = obj.__dict__[key]
            var = self.spec.var(attribute_of(static.var, key))
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
        """`static.name`: a field read, a method bound, or a class constant;
        refused for anything else (a property, a `__getattr__`)."""
        obj = static.obj
        if isinstance(obj, (tuple, list, dict, types.FunctionType)):
            raise Unspecialisable(f"`.{name}` of a {type(obj).__name__}", node)
        cls_attr = class_attribute(type(obj), name)
        if name in obj.__dict__:
            if cls_attr is not None and is_data_descriptor(cls_attr):
                raise Unspecialisable(f"`.{name}` is a descriptor", node)
            # (a property of that name added to the class later would be read instead)
            self.guard_class_attribute(type(obj), name, cls_attr)
            return self.read(static, name, True)
        if isinstance(cls_attr, types.FunctionType):
            if has_rule(cls_attr) or has_method_rule(obj, name):
                raise Unspecialisable(f"{type(obj).__name__}.{name} has a rule", node)
            self.guard_class_attribute(type(obj), name, cls_attr)
            return Method(static, cls_attr)
        if cls_attr is not None and type(cls_attr) in LITERALS:
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
        if isinstance(found, Const) and type(value) not in LITERALS:
            self.spellings[id(value)] = (value, module, name)  # `np.maximum`, as written
        return found

    def guard_class_attribute(self, cls, name, value):
        """`cls.name` is still `value` (None: still absent) each call."""
        key = (cls, name)
        if key in self.class_guards:
            return
        self.class_guards.add(key)
        c, v = self.spec.guard_constant(cls), self.spec.guard_constant(value)
        self.spec.check(f"getattr({c}, {name!r}, None) is {v}")

    # -- the entry -----------------------------------------------------------------

    def run(self, args):
        """Write the flat function of the call with `args`; returns the
        Specialisation (its text, guard lines and builder)."""
        spec, fn = self.spec, self.fn
        values = {}
        for i, (name, a) in enumerate(zip(spec.params, args)):
            var = f"_a{i}"
            if is_structure(a):
                value = self.classify(a, var, bool(self.mask[i]), name)
            elif type(a) in (bool, type(None), str):
                value = self.classify(a, var, False, name)
            else:  # an array, a number, anything else: an input of the flat function
                self.used_names.add(name)
                kind = type(a)
                dtype = f" and {var}.dtype is {spec.guard_constant(a.dtype)}" \
                    if kind is np.ndarray else ""
                spec.check(f"type({var}) is {spec.guard_constant(kind)}{dtype}")
                if not (kind in (float, int) or issubclass(kind, (np.ndarray, np.generic))):
                    raise Unspecialisable(f"argument {name} is a {kind.__name__}")
                spec.leaves.append(Leaf(name, var, bool(self.mask[i]), kind))
                value = Dyn(ast.Name(name, ast.Load()), kind)
            values[name] = value
            spec.arguments.append(value)
        top = self.static(fn, "_f", False, fn.__name__) if fn.__closure__ else None
        result = self.inline(fn, values, top, None)
        if self.calls_users_code and self.reads_global_structures:
            # the structure is read when the call starts; a user's function the
            # flat code calls could change it before the code reads it
            raise Unspecialisable("it reads a module's list, dict or object and calls a "
                                  "function of the user's that could change it")
        ret = self.materialise(result, None)
        self.body.append(ast.Return(ret))
        structure = next((type(a).__name__ for a in args if is_structure(a)), "structure")
        spec.name = f"{fn.__name__}__{structure}".replace("<lambda>", "lambda")
        params = [ast.arg(leaf.name) for leaf in spec.leaves]
        fdef = ast.FunctionDef(spec.name, ast.arguments([], params, None, [], [], None, []),
                               self.body or [ast.Pass()], [], None)
        module = ast.fix_missing_locations(ast.Module([fdef], []))
        spec.text = ast.unparse(module) + "\n"
        spec.lines = origins(module, spec.text)
        write_builder(spec, self.mask)
        spec.arguments = []  # (the structures themselves are not kept)
        return spec

    # -- inlining a function ---------------------------------------------------------

    def inline(self, fn, bound, closure, call_node, named=None):
        """Write `fn`'s body into the flat function with its parameters `bound`
        (name -> abstract value); its closure is Static `closure`; `named`:
        parameters already held by a flat name of their own (an argument the
        call computed). Returns the abstract value it returns."""
        if self.depth >= MAX_DEPTH:
            raise Unspecialisable("calls nested too deeply", call_node)
        node, _ = function_ast(fn)
        frame = Frame(self, fn, closure, bound, self.frames)
        frame.flat.update(named or {})
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
            if not (inert or self.inert) and holds_arrays(value.obj):
                raise Unspecialisable("a structure of arrays used as a value", node)
            # the guard hands it over each call (held by identity, it would keep
            # a model alive): `_objects.now[k]`, `_objects` a thread-local global
            # of the flat function (two threads may run it at once)
            objects = self.spec.objects
            if value.var not in objects:
                objects.append(value.var)
            self.spec.namespace.setdefault("_objects", None)
            now = ast.Attribute(ast.Name("_objects", ast.Load()), "now", ast.Load())
            return ast.Subscript(now, ast.Constant(objects.index(value.var)), ast.Load())
        raise Unspecialisable("a method used as a value", node)

    def untupled(self, value):
        """A tuple of numbers or arrays (a layer's stride, (2, 2)) as a tuple of
        them, made anew where it is passed on (its identity is nothing a callee
        may rely on); any other value as it is."""
        if isinstance(value, Static) and type(value.obj) is tuple:
            items = [self.read(value, i, False) for i in range(len(value.obj))]
            if all(isinstance(v, (Dyn, Const)) for v in items):
                return Dyn(ast.Tuple([self.materialise(v, None) for v in items], ast.Load()))
        return value

    def constant(self, value, base=None):
        """An expression of the flat code for a constant: a literal, or a name
        bound in its namespace (`np.maximum` as written where it was read)."""
        if type(value) in LITERALS and not (type(value) is float and not np.isfinite(value)):
            return ast.Constant(value)
        if type(value) is tuple and all(type(v) in LITERALS for v in value):
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


RESERVED = {"np", "math", "_zp", "_saved", "_dout", "_tape", "_redo", "_objects"}

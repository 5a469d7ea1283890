"""The compiler: a pipeline of small passes, chained as in DESIGN.md section 2.

    parse -> fence -> (aliases) -> exits -> normalise -> activity -> reverse
          -> optimise -> emit

`aliases` finds in-place updates of shared arrays before the tree changes and
refuses them once activity analysis tells arrays from numbers; `reverse` spells
each call site with `callsites` (inline formula, inline helper, or dispatch).
Specialisation keys: argument kinds ("scalar", "array", "-array" for an
argument the caller does not differentiate, ("any", fields) for an object with
float-array fields), which closure cells hold differentiable values, and
whether implicit parameters are collected.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import inspect
import types
from dataclasses import dataclass, field

from ..errors import NoRuleError, NoSourceError, StaleSourceError
from ..runtime import sources, tracebacks
from . import (
    activity,
    aliases,
    closures,
    emit,
    exits,
    fence,
    fuse,
    naming,
    normalise,
    optimise,
    reverse,
    rewrites,
)
from .resolve import Env, static_value
from .walk import walk


@dataclass
class Compiled:
    """Generated code of one function for one specialisation (cached by code)."""

    forward: types.CodeType
    backward: types.CodeType
    params: tuple  # parameter names, in order (varargs last but for kw-only)
    text: str
    guards: dict  # "np.tanh" -> the object the inlined adjoint assumes
    free: tuple  # closure variables whose adjoints go into the callee tangent
    key: tuple = ()  # (kinds, need_free, implicit): regenerates the trees to fuse
    changed: tuple = ()  # parameters updated in place (c[i] = v) without being rebound
    _fused_code: dict = field(default_factory=dict, repr=False)  # (value, floats) ->

    def gradient_code(self, fn, value=True, floats=False):
        """(code, guards, calls user code, returns floats) of
        `f_withgradient(*args) -> (value, grads)`, or with `value=False` of
        `f_gradient(*args) -> grads`: the forward and backward of `fn` fused
        for a top-level `gradient` call (see `fuse`; `floats`: it only ever
        gets floats; returns floats: its result is surely a tuple of floats
        then). The guards are its own: the callees it inlines are looked up
        again, and may have been rebound since `forward` was made. Made on first request, since most
        compiled functions are only ever called from other generated code;
        the trees are generated again then, rather than kept alive (and
        scanned by every garbage collection) for every compiled function."""
        key = (value, floats)
        if key not in self._fused_code:
            with _collector_paused():
                self._fused_code[key] = self._fuse(fn, value, floats)
        return self._fused_code[key]

    def _fuse(self, fn, value, floats):
        fwd, bwd, guards, _, filename, name, title = _generate(fn, *self.key)
        fname = (naming.withgradient_name if value else naming.gradient_name)(fn.__name__)
        fused = fuse.gradient_def(fname, fwd, bwd, value, floats)
        returns_floats = floats and fuse.returns_floats(fused)  # (before emit edits it)
        text, lines = emit.render_with_lines([fused], filename, title)
        line_map = tracebacks.LineMap(name, filename, lines)
        code, = _code_objects(text, fn, [fused.name], guards, line_map)
        return code, guards, fuse.calls_user_code(fwd), returns_floats


def compile_function(fn, kinds: tuple, need_free: bool, implicit: bool) -> Compiled:
    """Parse `fn`, generate its forward and backward code for argument `kinds`.

    The cyclic garbage collector is paused meanwhile: the passes allocate tens
    of thousands of short-lived AST nodes, and the collections they would set
    off (each scanning every live object of the program) took a third of the
    time of a first call."""
    with _collector_paused():
        return _compile(fn, kinds, need_free, implicit)


@contextlib.contextmanager
def _collector_paused():
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _compile(fn, kinds, need_free, implicit):
    fwd, bwd, guards, (free, changed), filename, name, title = \
        _generate(fn, kinds, need_free, implicit)
    text, lines = emit.render_with_lines([fwd, bwd], filename, title)
    line_map = tracebacks.LineMap(name, filename, lines)
    fcode, bcode = _code_objects(text, fn, [fwd.name, bwd.name], guards, line_map)
    return Compiled(fcode, bcode, tuple(_params(fwd)), text, dict(guards), tuple(free),
                    (kinds, need_free, implicit), changed)


def _generate(fn, kinds, need_free, implicit):
    """The passes up to emit: (forward def, backward def, guards, active free
    variables, filename, the user's name of `fn`, the title line)."""
    try:
        node, filename = sources.function_ast(fn)
    except OSError as exc:
        raise NoSourceError(fn, str(exc)) from exc
    if isinstance(node, ast.FunctionDef):
        node.decorator_list = []  # ran when it was defined: not differentiated code
    rewrites.apply(node, _array_modules(fn))  # (in place)
    fence.check(node, filename)
    fdef = _as_function_def(node, fn)
    _check_fresh(fn, fdef, filename)
    closures.check(fdef, filename)
    params = _params(fdef)
    own_nodes = list(closures.own_nodes(fdef))  # (the two alias passes read them)
    changed = aliases.check_owned_updates(fdef, filename, set(params), own_nodes)
    own, names = _names(fdef)
    local = own | set(params)
    _refuse_reserved(fdef, local, filename)
    fresh = naming.Fresh(names, naming.adjoint_prefix(names))
    conflicts = aliases.guard(fdef, aliases.find(fdef, own_nodes), filename, set(params),
                              local)
    exits.lower(fdef, fresh)
    closure = frozenset(fn.__code__.co_freevars)
    modules = frozenset(k for k, v in fn.__globals__.items() if isinstance(v, types.ModuleType))
    callers = frozenset(params) - own  # parameters never rebound (lower binds fresh names)
    body = normalise.Normaliser(fresh, local, closure, modules, callers).block(fdef.body)
    env = Env(fn, local)
    seeds = {p: (activity.ANY if k == "dual" or type(k) is tuple else k)
             for p, k in zip(params, kinds) if k is not None and k[0] != "-"}
    fields = {p: k[1] for p, k in zip(params, kinds) if type(k) is tuple}
    constants = {p: k[1:] for p, k in zip(params, kinds) if type(k) is str and k[0] == "-"}
    free = _active_free(fn, env, fdef, need_free)
    glob = _implicit_globals(fn, env, fdef) if implicit else []
    seeds.update({n: activity.ANY for n in free + glob})
    try:
        act = activity.analyse(body, seeds, env, implicit, fields, constants)
    except NoRuleError as exc:  # (a random draw with differentiable parameters)
        _note_line(exc, getattr(exc, "node", None), filename, fn)
        raise
    if "dual" not in kinds or "array" in kinds:  # duals of numbers never share memory
        aliases.refuse(conflicts, filename, lambda name: act.kinds.get(name))
    unseeded = [p for p in params if p not in seeds and p in act.active]
    rev = reverse.Reverse(fn.__name__, params, act, env, fresh, free, glob, unseeded)
    rev.user_names = getattr(fn, "zygopy_user_names", {})  # (a specialisation's flat code)
    fwd, bwd = rev.run(body)
    _forward_mode_constants(fwd, env, act)
    optimise.dead_adjoints(bwd, implicit)
    optimise.copies(bwd, naming.adjoint("_t", fresh.prefix))
    name = tracebacks.user_name(fn)
    return fwd, bwd, rev.guards, (free, changed), filename, name, _title(fn, name, filename)


def _forward_mode_constants(fdef, env, act):
    """Calls in the forward that forward-mode Duals (`jvp`, second order) must
    not carry a tangent through: `isinstance(x, float)` and `type(x)` as
    `_zp.isinstance_of` and `_zp.type_of`, which see a Dual's primal (the
    branch taken is the one taken without it); a call of a function declared
    non-differentiable (`stop_gradient`, `@nograd`, `np.argmax`; not builtins
    such as `len`, `range`) on an active value as `_zp.without_tangents(f,
    ...)`, which passes it primals."""
    import builtins

    from ..rules.registry import is_nondifferentiable

    spelled = {builtins.isinstance: "isinstance_of", builtins.type: "type_of"}
    for node in walk(fdef):
        if not isinstance(node, ast.Call) or _is_runtime_call(node):
            continue
        fn = static_value(node.func, env)
        if fn in spelled and not node.keywords and (fn is builtins.isinstance
                                                    or len(node.args) == 1):
            node.func = _runtime_name(spelled[fn], node.func)
        elif fn is not None and getattr(fn, "__module__", None) != "builtins" \
                and _hashable(fn) and is_nondifferentiable(fn) \
                and any(act.is_active(a) for a in node.args + [k.value for k in node.keywords]):
            node.args = [node.func] + node.args
            node.func = _runtime_name("without_tangents", node.func)


def _is_runtime_call(call):
    return isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
        and call.func.value.id == "_zp"


def _runtime_name(name, like):
    return ast.copy_location(ast.Attribute(ast.Name("_zp", ast.Load()), name, ast.Load()),
                             like)


def _hashable(x):
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _array_modules(fn):
    """The global names of `fn` bound to numpy or cupy (or their submodules)."""
    return {k for k, v in fn.__globals__.items() if isinstance(v, types.ModuleType)
            and v.__name__.partition(".")[0] in ("numpy", "cupy")}


# names the generated code itself uses: numpy, math, its runtime, the
# backward's arguments and its tapes (and `_guard0`, ... for the objects its
# inlined formulas assume); a local variable of that name would hide them
_RESERVED = ("np", "math", "_zp", "_saved", "_dout", "_tape", "_redo")


def _refuse_reserved(fdef, local, filename):
    clash = sorted(n for n in local if n in _RESERVED or n.startswith("_guard"))
    if not clash:
        return
    name = clash[0]
    where = next((n for n in walk(fdef) if isinstance(n, ast.Name) and n.id == name),
                 next((a for a in walk(fdef) if isinstance(a, ast.arg) and a.arg == name),
                      fdef))
    what = {"np": "numpy", "math": "the math module", "_zp": "its runtime",
            "_saved": "the values the backward pass gets", "_dout": "the cotangent of "
            "the output", "_tape": "the values loops save", "_redo": "undone updates"}.get(
                name, "the functions its formulas assume")
    fence._refuse(where, filename, f"a local variable named `{name}` (zygopy's generated "
                  f"code uses that name for {what})", [f"rename the variable `{name}`"])


def _check_fresh(fn, fdef, filename):
    """The source read must be the one `fn` was made from: a file edited since
    (without running the definition again) would give the gradient of other
    code. Checked: the name, the parameters and the lines the code spans."""
    code = fn.__code__
    if code.co_name == "<lambda>":
        return
    n = code.co_argcount + code.co_kwonlyargcount + \
        bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    lines = [line for _, _, line in code.co_lines() if line is not None]
    spans = not lines or fdef.lineno <= max(lines) <= (fdef.end_lineno or max(lines))
    if fdef.name != code.co_name or set(_params(fdef)) != set(code.co_varnames[:n]) \
            or not spans:
        raise StaleSourceError(fn, filename)


def _title(fn, name, filename):
    """`f (file.py:12)`: where the user's function is (through generated code,
    for a function nested in one)."""
    line = fn.__code__.co_firstlineno
    where = tracebacks.user_location(filename, line)
    if where is not None:
        filename, line = where[1], where[2]
    return f"{name} ({filename}:{line})"


def _as_function_def(node, fn):
    if isinstance(node, ast.Lambda):
        fdef = ast.FunctionDef("lambda", node.args, [ast.Return(node.body)], [], None)
        ast.copy_location(fdef, node)
        return ast.fix_missing_locations(fdef)
    return node


def _params(fdef):
    a = fdef.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if a.vararg:
        names.append(a.vararg.arg)
    names += [x.arg for x in a.kwonlyargs]
    if a.kwarg:
        names.append(a.kwarg.arg)
    return names


def _names(fdef):
    """(the names `fdef` binds itself, including nested defs; every name and
    parameter in it)."""
    own, every = set(), set()
    for n in walk(fdef):
        if isinstance(n, ast.Name):
            every.add(n.id)
            if isinstance(n.ctx, ast.Store):
                own.add(n.id)
        elif isinstance(n, ast.arg):
            every.add(n.arg)
        elif isinstance(n, ast.FunctionDef) and n is not fdef:
            own.add(n.name)
    return own, every


def _loaded_free(fdef, env):
    return sorted({n.id for n in walk(fdef) if isinstance(n, ast.Name)
                   and isinstance(n.ctx, ast.Load) and n.id not in env.local})


def _active_free(fn, env, fdef, need_free):
    """Closure variables holding differentiable values (their adjoints are
    part of the callee's tangent). `need_free` is False, or one flag per cell
    of `fn` saying whether it holds one now (dispatch.free_signature: it is
    part of the cache key, so a closure rebound to a model recompiles)."""
    if not need_free:
        return []
    if need_free is True:
        from ..runtime.dispatch import free_signature

        need_free = free_signature(fn)
    active = {n for n, flag in zip(fn.__code__.co_freevars, need_free) if flag}
    return [n for n in _loaded_free(fdef, env) if n in env.closure and n in active]


def _has_fields(value, object_fields):
    if isinstance(value, (list, tuple, dict)):
        return True
    if callable(value) and isinstance(value, types.FunctionType):
        return bool(value.__closure__)
    return bool(object_fields(value)) if not isinstance(value, (str, bytes)) else False


def _implicit_globals(fn, env, fdef):
    from ..runtime.structure import object_fields
    from ..runtime.tangents import is_differentiable_value

    out = []
    for name in _loaded_free(fdef, env):
        if name in env.closure:
            continue
        found, value = env.lookup(name)
        if not found or isinstance(value, (types.ModuleType, type)):
            continue
        if is_differentiable_value(value) and hasattr(value, "shape"):
            out.append(name)  # a global array
        elif not isinstance(value, (str, bytes, int, float)) and _has_fields(value, object_fields):
            out.append(name)  # a global model or container holding arrays
    return out


def _code_objects(text, fn, def_names, guards, line_map):
    """The code objects of the defs `def_names` in `text`, compiled so that its functions close over the user's own cells
    (late binding kept) plus cells for `_zp` and the guards; register where
    its lines come from (`line_map`).

    The text goes inside `def _factory():`, written on its title line so that
    a traceback's line numbers are those of `zygopy.source(f)`; the names the
    generated code closes over are assigned at the end (any assignment in the
    factory makes them cells)."""
    freevars = list(fn.__code__.co_freevars)
    helpers = ["_zp"] + [f"_guard{i}" for i in range(len(guards))]
    helpers += [m for m in ("np", "math") if m not in fn.__globals__ and m not in freevars]
    names = freevars + helpers
    title, _, body = text.partition("\n")
    factory = f"def _factory():  {title}\n"
    factory += "".join("    " + line + "\n" if line else "\n" for line in body.split("\n"))
    factory += "    " + " = ".join(names) + " = None\n"
    factory += f"    return {', '.join(def_names)},\n"
    filename = sources.register(factory, line_map.function)
    tracebacks.register(filename, line_map)
    code = compile(factory, filename, "exec")
    outer = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    inner = {c.co_name: c for c in outer.co_consts if isinstance(c, types.CodeType)}
    return tuple(inner[n] for n in def_names)


def _note_line(exc, node, filename, fn):
    """Name the user's line `node` is on in a note of `exc` (compile-time errors
    raised without one)."""
    lineno = getattr(node, "lineno", None)
    if lineno is None or not hasattr(exc, "add_note"):
        return
    line = sources.source_line(filename, lineno).strip()
    exc.add_note(f"zygopy: refused while compiling {fn.__qualname__}:\n"
                 f'  File "{filename}", line {lineno}, in {fn.__name__}\n    {line}')

"""One inlined call: its statements and expressions, written into the flat
function (`Frame`)."""

from __future__ import annotations

import ast
import builtins
import copy
import types

import numpy as np

from .lines import ORIGIN
from .objects import (
    bind,
    class_attribute,
    has_method_rule,
    has_rule,
    inert_callee,
    inlinable,
    local_names,
    name_of,
    own_nodes,
    rebinds_globals,
    stored_names,
    users_code,
)
from .values import (
    LITERALS,
    Const,
    Dyn,
    Method,
    Static,
    StaticTuple,
    Unspecialisable,
    evaluate,
    identical,
    is_static,
    object_of,
    truth,
)

MAX_UNROLL = 256  # iterations of a loop over a static sequence written out

# numpy functions that write into an argument (np.copyto(self.buf, x)): the
# general path refuses them where it must; the flat code would not
_WRITES_INTO_ARGUMENTS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal",
                                    "put_along_axis"})


# numpy functions whose result is always an array of their own (never a view
# of an argument); so are every ufunc's and `.copy()`'s
_NEW_ARRAYS = frozenset({"zeros", "ones", "empty", "full", "zeros_like", "ones_like",
                         "empty_like", "full_like", "copy", "arange", "linspace", "eye",
                         "identity", "dot", "outer", "concatenate", "stack", "vstack",
                         "hstack"})


def _makes_new_array(fn, kwargs):
    """Whether the call of `fn` surely returns a new array (`h = np.tanh(z);
    h += x` then updates the flat code's own value in place)."""
    if isinstance(fn, Const):
        f = fn.value
        if isinstance(f, np.ufunc):
            return True
        return getattr(f, "__name__", None) in _NEW_ARRAYS and \
            (getattr(f, "__module__", None) or "").startswith("numpy") or \
            f is np.array and not kwargs
    return isinstance(fn, Dyn) and isinstance(fn.node, ast.Attribute) \
        and fn.node.attr == "copy" and not kwargs


class Frame:
    """One inlined call: its local variables (name -> abstract value)."""

    def __init__(self, sp, fn, closure, bound, number):
        self.sp = sp
        self.fn = fn
        self.closure = closure
        self.env = dict(bound)
        self.flat = {}  # local name -> its name in the flat code
        self.params = set(bound) if number else set()  # still the caller's values
        self.local = local_names(fn)

    # -- names -----------------------------------------------------------------------

    def flat_name(self, name):
        """The name local `name` has in the flat code now."""
        found = self.flat.get(name)
        if found is None:
            found = self.flat[name] = self.sp.fresh(name)  # (y, y_2, y_3, ...)
            self.sp.spec.user_names[found] = name  # (what errors call it)
        return found

    def load(self, name, node):
        """The abstract value of the name `name` read here: a local, a closure
        cell or a global."""
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
        """The abstract value of global `name` (read once per specialisation)."""
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
            if type(value) in (float, np.ndarray) or isinstance(value, np.generic):
                # data of the module (not differentiated): read where the code reads
                # it (a helper may rebind it before), `_globals['name']`; the guard
                # checks it still exists (deleted, the general path's NameError)
                sp.spec.check(f"{name!r} in {sp.spec.guard_constant(g)}")
                return Dyn(ast.Subscript(sp.constant(g, "_globals"), ast.Constant(name),
                                         ast.Load()))
            k = sp.spec.guard_constant(g)
            var = sp.spec.var(f"{k}[{name!r}]")
            if isinstance(value, types.ModuleType):
                sp.spellings.setdefault(id(value), (value, None, name))
        elif hasattr(builtins, name):  # (unless the module defines the name later)
            sp.spec.check(f"{name!r} not in {sp.spec.guard_constant(g)}")
            return Const(getattr(builtins, name))
        else:
            raise Unspecialisable(f"the name `{name}` is not defined", node)
        found = sp.classify(value, var, False, name)  # (arrays: constants, not differentiated)
        if isinstance(found, Static):
            sp.reads_global_structures = True
        return found

    # -- statements --------------------------------------------------------------------

    def block(self, stmts, dynamic):
        """Write statements `stmts` (`dynamic`: inside code decided at run time)."""
        for s in stmts:
            self.stmt(s, dynamic)

    def emit(self, stmt, like):
        """Write `stmt`, made from the user's `like` (where its errors point)."""
        self.sp.body.append(self.located(stmt, like))

    def located(self, stmt, like):
        """`stmt`, its errors pointing at the user's line of `like`."""
        stmt = ast.copy_location(stmt, like)
        if hasattr(like, "lineno"):
            ORIGIN[stmt] = (like.lineno, self.fn.__code__.co_filename, self.fn.__qualname__)
        return stmt

    def stmt(self, s, dynamic):
        """Write one statement: folded where its decisions are known now, copied
        (with names replaced) where they are not; refused where unsupported.
        `dynamic`: inside code decided at run time ("loop" inside a loop)."""
        method = getattr(self, "stmt_" + type(s).__name__, None)
        if method is None:
            raise Unspecialisable(f"a {type(s).__name__} statement", s)
        method(s, dynamic)

    def stmt_Assign(self, s, dynamic):
        value = self.expr(s.value)
        if len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) \
                and self.rename_result(s.value, value, s.targets[0].id, dynamic):
            return
        if len(s.targets) > 1:  # `a = b = f(x)`: one value, bound twice
            value = self.named(value, s)
        for target in s.targets:
            self.assign(target, value, dynamic, s)

    def stmt_AnnAssign(self, s, dynamic):
        if s.value is None:
            raise Unspecialisable("an annotation without a value", s)
        self.assign(s.target, self.expr(s.value), dynamic, s)

    def stmt_AugAssign(self, s, dynamic):
        target = s.target
        old = self.env.get(target.id) if isinstance(target, ast.Name) else None
        if old is None or target.id in self.params or not isinstance(old, (Dyn, Const)):
            raise Unspecialisable("an update in place", s)
        value = self.expr(s.value)
        if isinstance(old, Const):  # a number, a string: `n += 1` rebinds it
            if isinstance(value, Const) and not dynamic:
                self.env[target.id] = Const(evaluate(ast.BinOp(None, s.op, None),
                                                      [old.value, value.value]))
                return
            joined = ast.BinOp(self.sp.materialise(old, s), s.op,
                               self.sp.materialise(value, s))
            name = self.bind_dynamic(target.id, fresh=not dynamic)
            self.sp.fresh_values.add(name)
            self.emit(ast.Assign([ast.Name(name, ast.Store())], joined), s)
            return
        name = self.flat.get(target.id)
        if name is None or name not in self.sp.fresh_values \
                or not (isinstance(old.node, ast.Name) and old.node.id == name):
            # (it may be an argument's array, changed in place)
            raise Unspecialisable("an update in place of a value it did not make", s)
        self.emit(ast.AugAssign(ast.Name(name, ast.Store()), s.op,
                                self.sp.materialise(value, s)), s)

    def stmt_Expr(self, s, dynamic):
        if isinstance(s.value, ast.Constant):
            return
        value = self.expr(s.value)
        last = self.last_result(s.value, value)
        if last is not None:  # `check(x)`, not `_r = check(x)`
            self.sp.body.pop()
            self.emit(ast.Expr(last.value), s)
        elif isinstance(value, Dyn) and not isinstance(value.node, ast.Name):
            self.emit(ast.Expr(value.node), s)

    def stmt_If(self, s, dynamic):
        test = self.expr(s.test)
        known = truth(test)
        if known is not None:
            self.block(s.body if known else s.orelse, dynamic)
            return
        before = set(self.env)
        then, orelse = self.branch(s.body), self.branch(s.orelse)
        self.emit(ast.If(self.sp.materialise(test, s), then or [ast.Pass()], orelse), s)
        self.forget_unbound(before, stored_names(s.body) & stored_names(s.orelse))

    def stmt_While(self, s, dynamic):
        if s.orelse:
            raise Unspecialisable("while ... else", s)
        self.prepare(s.body)  # (the test reads what the body writes)
        test = self.expr(s.test)
        if not isinstance(test, Dyn) or any(isinstance(n, ast.Call) for n in ast.walk(s.test)):
            raise Unspecialisable("a while loop on a constant or on a call", s)
        body = self.branch(s.body, loop=True)
        self.emit(ast.While(test.node, body or [ast.Pass()], []), s)

    def stmt_Pass(self, s, dynamic):
        pass

    def stmt_Break(self, s, dynamic):
        if dynamic != "loop":  # (in a loop over a structure, or in a branch of one)
            raise Unspecialisable(f"a {type(s).__name__.lower()} outside a loop of the "
                                  "flat code", s)
        self.emit(type(s)(), s)

    stmt_Continue = stmt_Break

    def stmt_Raise(self, s, dynamic):
        if not dynamic:
            raise Unspecialisable("a raise not under a condition", s)
        self.sp.inert += 1  # an error message may show a layer
        try:
            exc = self.sp.materialise(self.expr(s.exc), s) if s.exc else None
            cause = self.sp.materialise(self.expr(s.cause), s) if s.cause else None
        finally:
            self.sp.inert -= 1
        self.emit(ast.Raise(exc, cause), s)

    def stmt_Assert(self, s, dynamic):
        test = self.expr(s.test)
        if truth(test) is True:
            return
        msg = self.sp.materialise(self.expr(s.msg), s) if s.msg is not None else None
        self.emit(ast.Assert(self.sp.materialise(test, s), msg), s)

    def last_result(self, node, value):
        """The statement `_r = f(x)` just written for the call `node` itself (not
        inlined: its result is then seen by nothing else yet), if any."""
        body, last = self.sp.body, self.sp.last_call
        if last is not None and last[0] is node and body and body[-1] is last[1] \
                and isinstance(value, Dyn) and isinstance(value.node, ast.Name) \
                and last[1].targets[0].id == value.node.id:
            return last[1]
        return None

    def rename_result(self, node, value, name, dynamic):
        """`y = f(x)` written as such rather than `_r = f(x); y = _r`."""
        last = self.last_result(node, value)
        if last is None:
            return False
        made = value.node.id in self.sp.fresh_values
        flat = self.bind_dynamic(name, fresh=not dynamic)
        last.targets = [ast.Name(flat, ast.Store())]
        if made:
            self.sp.fresh_values.add(flat)
        return True

    def prepare(self, stmts):
        """Before code decided at run time (a branch, a loop): each variable it
        rebinds gets, first, the flat name its assignments there will use, holding
        its value now. A loop then reads what its last pass wrote (`x = f(x)`), a
        branch not taken leaves the value as it was, and a constant rebound
        there (`total = 0` before a loop adding to it) becomes a variable."""
        sp = self.sp
        for name in sorted(stored_names(stmts)):
            value = self.env.get(name)
            if value is None:
                continue
            if isinstance(value, Dyn) and isinstance(value.node, ast.Name) \
                    and self.flat.get(name) == value.node.id:
                continue  # already there
            if not isinstance(value, (Dyn, Const)):
                raise Unspecialisable(f"`{name}`, a structure, rebound in a branch or loop",
                                      stmts[0])
            flat = self.bind_dynamic(name, fresh=True)
            if isinstance(value, Const):
                sp.fresh_values.add(flat)
            self.emit(ast.Assign([ast.Name(flat, ast.Store())],
                                 sp.materialise(value, stmts[0])), stmts[0])

    def forget_unbound(self, before, everywhere):
        """After a branch decided at run time: the names it first bound (not
        in `before`) on one side only (not in `everywhere`) are forgotten, so
        that reading one is refused and the general path raises Python's
        UnboundLocalError where it happens (an inlined method's `return y` is
        read on its caller's line in the flat code). A
        loop that may not run keeps what it binds (`for t in ...: h, out =
        cell(h, x[t])`, then `out` read): the flat code checks the read, by the
        user's name (`Specialisation.user_names`)."""
        for name in [n for n in self.env if n not in before and n not in everywhere]:
            del self.env[name]

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

    def stmt_For(self, s, dynamic):
        """A loop over a structure written out item by item; any other loop
        written as a loop of the flat code."""
        if s.orelse:
            raise Unspecialisable("for ... else", s)
        body, size = self.sp.body, len(self.sp.body)
        items = self.iteration(s.iter)
        if items is None:  # a sequence known only at run time: a loop of the flat code
            del body[size:]  # (what `iteration` wrote: the sequence is computed once, here)
            value = self.expr(s.iter)
            if isinstance(value, Static):
                raise Unspecialisable(f"a loop over more than {MAX_UNROLL} items of a "
                                      "structure", s)
            it = self.sp.materialise(value, s)
            target = self.dynamic_target(s.target, s)
            body = self.branch(s.body, loop=True)
            self.emit(ast.For(target, it, body or [ast.Pass()], []), s)
            return
        for item in items:
            self.assign(s.target, item, dynamic, s)
            for stmt in s.body:
                if any(isinstance(n, (ast.Break, ast.Continue)) for n in own_nodes(stmt)):
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
                        return [Const(i) for i in r] if len(r) <= MAX_UNROLL else None
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
            if len(value.obj) > MAX_UNROLL:
                return None
            return [self.sp.read(value, i, False) for i in range(len(value.obj))]
        if isinstance(value, Static):
            raise Unspecialisable(f"a loop over a {type(value.obj).__name__}", node)
        if isinstance(value, Const) and type(value.value) in (tuple, range) \
                and len(value.value) <= MAX_UNROLL:
            return [Const(v) for v in value.value]
        return None

    def assign(self, target, value, dynamic, s):
        """Bind `target` to abstract `value` (a structure stays a binding of the
        pass; a value of the flat code is written to a flat name)."""
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
            if not made:
                self.shared(value)  # `g = h`, `v = h[0]`: h is no longer updated in place
            name = self.bind_dynamic(target.id, fresh=not dynamic)
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
                    names.append(ast.Name(self.bind_dynamic(t.id, fresh=not dynamic),
                                          ast.Store()))
                self.emit(ast.Assign([ast.Tuple(names, ast.Store())],
                                     ast.Name(tmp, ast.Load())), s)
                return
            raise Unspecialisable("an unpacking of a constant", s)
        raise Unspecialisable(f"an assignment to a {type(target).__name__}", s)

    def bind_dynamic(self, name, fresh=False):
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
        """The flat target of a loop decided at run time."""
        if isinstance(target, ast.Name):
            return ast.Name(self.bind_dynamic(target.id), ast.Store())
        if isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            return ast.Tuple([ast.Name(self.bind_dynamic(e.id), ast.Store())
                              for e in target.elts], ast.Store())
        raise Unspecialisable("a loop target that is not a name", s)

    # -- expressions -----------------------------------------------------------------

    def expr(self, node):
        """The abstract value of expression `node` (calls it makes are written)."""
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
            if type(value) in LITERALS or value is None:
                return Dyn(ast.Attribute(self.sp.materialise(base, node), node.attr, ast.Load()))
            raise Unspecialisable(f"`.{node.attr}` of a constant", node)
        if isinstance(base, Dyn):
            return Dyn(ast.copy_location(ast.Attribute(base.node, node.attr, ast.Load()), node))
        raise Unspecialisable(f"`.{node.attr}` of a method", node)

    def expr_Subscript(self, node):
        base, index = self.operands([node.value, node.slice])
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
        items = self.operands(node.elts)
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise Unspecialisable("a starred element", node)
        if all(isinstance(v, Const) for v in items):
            return Const(tuple(v.value for v in items))
        if all(isinstance(v, (Dyn, Const)) for v in items):
            return Dyn(ast.Tuple([self.sp.materialise(v, node) for v in items], ast.Load()))
        return StaticTuple([self.named(v, node, held=True) for v in items])

    def shared(self, value):
        """The flat names `value` reads may now be shared with another name (a
        view, an alias, what a callee keeps): their updates in place are no
        longer the flat code's own to make (`+=` on them is refused)."""
        if isinstance(value, Dyn) and not isinstance(value.node, ast.Constant):
            for n in ast.walk(value.node):
                if isinstance(n, ast.Name):
                    self.sp.fresh_values.discard(n.id)
        elif isinstance(value, StaticTuple):
            for item in value.items:
                self.shared(item)

    def named(self, value, node, held=False):
        """`value`, a computation bound to a name now where it is one (held, it
        would be computed where it is used: later, on other values); `held`: a
        variable's value is copied too (a tuple keeps the object, while a loop
        of the flat code may write the variable again)."""
        local = held and isinstance(value, Dyn) and isinstance(value.node, ast.Name) \
            and value.kind is None
        if local:
            self.shared(value)
        if local or isinstance(value, Dyn) and \
                not isinstance(value.node, (ast.Name, ast.Constant)):
            tmp = self.sp.fresh("_v")
            self.emit(ast.Assign([ast.Name(tmp, ast.Store())], value.node), node)
            if isinstance(value.node, (ast.BinOp, ast.UnaryOp)):
                self.sp.fresh_values.add(tmp)
            return Dyn(ast.Name(tmp, ast.Load()))
        return value

    def expr_Compare(self, node):
        values = self.operands([node.left] + node.comparators)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            same = identical(values[0], values[1])
            if same is not None:
                return Const(same if isinstance(node.ops[0], ast.Is) else not same)
        if all(isinstance(v, Const) for v in values):
            return Const(evaluate(node, [v.value for v in values]))
        return Dyn(ast.copy_location(ast.Compare(
            self.sp.materialise(values[0], node), node.ops,
            [self.sp.materialise(v, node) for v in values[1:]]), node))

    def expr_UnaryOp(self, node):
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            known = truth(operand)
            if known is not None:
                return Const(not known)
        if isinstance(operand, Const):
            return Const(evaluate(node, [operand.value]))
        return Dyn(ast.copy_location(ast.UnaryOp(node.op, self.sp.materialise(operand, node)),
                                     node))

    def operands(self, nodes):
        """The abstract values of `nodes`, evaluated left to right as Python
        does: an operand computed in place (`h * 2.0`) is bound to a name
        before the statements a later operand writes (a call, which may change
        `h` in place) rather than computed after them."""
        out, body = [], self.sp.body
        for n in nodes:
            size = len(body)
            value = self.expr(n)
            if len(body) > size:
                for i, earlier in enumerate(out):
                    if isinstance(earlier, Dyn) and \
                            not isinstance(earlier.node, (ast.Name, ast.Constant)):
                        tmp = self.sp.fresh("_v")
                        stmt = ast.Assign([ast.Name(tmp, ast.Store())], earlier.node)
                        body.insert(size, self.located(stmt, nodes[i]))
                        size += 1
                        if isinstance(earlier.node, (ast.BinOp, ast.UnaryOp)):
                            self.sp.fresh_values.add(tmp)
                        out[i] = Dyn(ast.Name(tmp, ast.Load()))
            out.append(value)
        return out

    def expr_BinOp(self, node):
        left, right = self.operands([node.left, node.right])
        if isinstance(left, Const) and isinstance(right, Const):
            return Const(evaluate(node, [left.value, right.value]))
        return Dyn(ast.copy_location(ast.BinOp(self.sp.materialise(left, node), node.op,
                                               self.sp.materialise(right, node)), node))

    def expr_BoolOp(self, node):
        first = self.decided(node.values[0])
        known = truth(first) if first is not None else None
        if known is None:
            return self.generic(node)
        if known is (isinstance(node.op, ast.Or)):  # `a or b` with a true: a
            return first
        if len(node.values) == 2:
            return self.expr(node.values[1])
        rest = ast.copy_location(ast.BoolOp(node.op, node.values[1:]), node)
        return self.expr_BoolOp(rest)

    def decided(self, test):
        """The abstract value of `test` where its truth is known now, else None
        with nothing written (the expression holding it is then copied whole,
        and a call in it must run once, there)."""
        body, size = self.sp.body, len(self.sp.body)
        value = self.expr(test)
        if truth(value) is None:
            del body[size:]
            return None
        return value

    def expr_IfExp(self, node):
        test = self.decided(node.test)
        known = truth(test) if test is not None else None
        if known is not None:
            return self.expr(node.body if known else node.orelse)
        return self.generic(node)

    def expr_Call(self, node):
        if any(isinstance(a, ast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords):
            raise Unspecialisable("a call with *args or **kwargs", node)
        # (the callee first: a computed receiver, `(h * 2.0).sum(...)`, is
        # computed before the arguments' calls, as Python does)
        fn, *values = self.operands([node.func] + node.args + [k.value for k in node.keywords])
        if any(k.arg == "out" for k in node.keywords) or isinstance(fn, Const) and \
                getattr(fn.value, "__name__", None) in _WRITES_INTO_ARGUMENTS:
            raise Unspecialisable("a call writing into its argument", node)
        args = values[:len(node.args)]
        kwargs = {k.arg: v for k, v in zip(node.keywords, values[len(node.args):])}
        sp = self.sp
        for v in values:  # what a callee is handed may come back as a view of it,
            self.shared(v)  # or be kept: updated in place, no longer the flat code's own
        if isinstance(fn, Method):
            return self.call_inline(fn.fn, [fn.self_] + args, kwargs, None, node)
        if isinstance(fn, Static):
            obj = fn.obj
            if isinstance(obj, types.FunctionType):  # a closure
                if has_rule(obj):
                    raise Unspecialisable("a closure with a rule", node)
                return self.call_inline(obj, args, kwargs, fn, node)
            call = class_attribute(type(obj), "__call__")
            if not isinstance(call, types.FunctionType):
                raise Unspecialisable(f"a call of a {type(obj).__name__}", node)
            sp.guard_class_attribute(type(obj), "__call__", call)
            if has_rule(call) or has_method_rule(obj, "__call__"):
                raise Unspecialisable(f"{type(obj).__name__} has a rule", node)
            return self.call_inline(call, [fn] + args, kwargs, None, node)
        inert = False
        if isinstance(fn, Const):
            f = fn.value
            static = self.static_call(f, args, kwargs)
            if static is not None:
                return static
            if not (inlinable(f) and not sp.inert):  # (an inlined callee sees the tuple)
                args = [sp.untupled(a) for a in args]
                kwargs = {k: sp.untupled(v) for k, v in kwargs.items()}
            structures = any(is_static(v) for v in args + list(kwargs.values()))
            if inlinable(f) and not sp.inert:
                body, size = sp.body, len(sp.body)
                try:
                    return self.call_inline(f, args, kwargs, None, node, tentative=True)
                except Unspecialisable:
                    if structures:
                        raise
                    del body[size:]  # (it read no structure: nothing else to undo)
            inert = inert_callee(f) or sp.inert > 0
            if rebinds_globals(f):
                raise Unspecialisable(f"{name_of(f)} rebinds module globals", node)
            if users_code(f):  # (it may change a global list the flat code has read)
                sp.calls_users_code = True
            if structures and not inert:
                raise Unspecialisable(f"a structure passed to {name_of(f)}", node)
        elif not isinstance(fn, Dyn):
            raise Unspecialisable("a call of a structure", node)
        call = ast.Call(sp.materialise(fn, node),
                        [sp.materialise(a, node, inert) for a in args],
                        [ast.keyword(k, sp.materialise(v, node, inert))
                         for k, v in kwargs.items()])
        tmp = sp.fresh("_r")
        self.emit(ast.Assign([ast.Name(tmp, ast.Store())], ast.copy_location(call, node)),
                  node)
        sp.last_call = (node, sp.body[-1])  # (`y = f(x)` may name its result y)
        if _makes_new_array(fn, kwargs):
            sp.fresh_values.add(tmp)  # (updated in place later: `acc += ...`)
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
            obj = object_of(args[0])
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
        """Inline a call of Python function `f` here."""
        if f.__code__.co_flags & 0x20 or f.__code__.co_flags & 0x80:  # generator, async
            raise Unspecialisable(f"{name_of(f)} is a generator", node)
        bound = bind(f, args, kwargs, node)
        if closure is None and f.__closure__:
            if tentative:
                raise Unspecialisable(f"{name_of(f)} closes over variables", node)
            closure = self.sp.classify(f, self.sp.spec.var(self.sp.spec.guard_constant(f)),
                                       False, f.__name__)
        self.guard_code(f)
        named = {}
        for name, value in bound.items():  # an argument computed in the call: once,
            held = self.named(value, node)  # on the caller's line
            if held is not value:
                bound[name], named[name] = held, held.node.id
        return self.sp.inline(f, bound, closure, node, named)

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
        """A copy of `node` with its names replaced by the flat code's."""
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
                if isinstance(fn, (Method, Static)) or \
                        isinstance(fn, Const) and inlinable(fn.value):
                    # (a user's function there would be compiled only when the
                    # flat code runs: refused then, after the code before it ran)
                    raise Unspecialisable("a call to inline in a conditional expression", n)
                self.generic_visit(n)
                return n

        return Names().visit(node)

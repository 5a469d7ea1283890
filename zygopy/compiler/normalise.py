"""Normalise to A-normal form: every statement becomes `name = op(atoms)`.

Atoms are names and constants. Nested calls, attribute chains, subscripts,
augmented assignments, chained comparisons, boolean operators, conditional
expressions, lambdas, list comprehensions and nested unpacking are lowered
to sequences of simple statements, each carrying its user source line.
"""

from __future__ import annotations

import ast

from . import facts as ann
from .build import LOAD, STORE


class Normaliser:
    """Turns a function body into A-normal form; `local` names are the
    function's own variables (everything else is global or free)."""

    def __init__(self, fresh, local, closure=frozenset(), modules=frozenset(),
                 callers=frozenset()):
        self.fresh = fresh
        self.local = local
        self.callers = callers  # parameters never rebound: the caller's objects
        self.closure = closure  # variables of enclosing functions
        self.modules = modules  # global names bound to modules (np, math, ...)
        self.out = None
        self.line = None

    # -- statements ---------------------------------------------------------
    def block(self, stmts):
        saved, self.out = self.out, []
        for stmt in stmts:
            saved_line, self.line = self.line, stmt
            getattr(self, "stmt_" + type(stmt).__name__)(stmt)
            self.line = saved_line
        out, self.out = self.out, saved
        return out

    def emit(self, node):
        if self.line is not None:
            ann.copy(self.line, node)
            ann.set_(node, "line", getattr(self.line, "lineno", None))
        self.out.append(node)
        return node

    def stmt_Assign(self, node):
        value = node.value
        if len(node.targets) == 1 and _list_method(value, self.local - self.callers) == "pop":
            # v = xs.pop(i) on a local list: xs, v = _zp.list_pop(xs, i)
            lst = value.func.value.id
            self.assign(ast.Tuple([_store(lst), node.targets[0]], STORE),
                        _zp_list("list_pop", lst, value.args))
            return
        for target in node.targets[1:]:
            # a = b = value: evaluate once, then copy
            self.stmt_Assign(ast.Assign([target], value))
            value = _name_of(target) if isinstance(target, ast.Name) else value
        self.assign(node.targets[0], value)

    def stmt_AnnAssign(self, node):
        if node.value is not None:
            self.assign(node.target, node.value)

    def stmt_AugAssign(self, node):
        target = node.target
        load = _as_load(target)
        self.assign(target, ann.set_(ast.BinOp(load, node.op, node.value), "augmented", True))

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            rhs = self.rhs(value)
            if target.id in _names_in(rhs) and not isinstance(rhs, ast.Name):
                tmp = self.fresh()
                self.emit(_assign(tmp, rhs))
                rhs = _load(tmp)
            self.emit(_assign(target.id, rhs))
        elif isinstance(target, (ast.Tuple, ast.List)):
            src = self.atom(value, force_name=True)
            names = []
            nested = []
            for elt in target.elts:
                if isinstance(elt, ast.Name):
                    names.append(elt.id)
                else:
                    tmp = self.fresh()
                    names.append(tmp)
                    nested.append((elt, tmp))
            tup = ast.Tuple([ast.Name(n, STORE) for n in names], STORE)
            self.emit(ast.Assign([tup], src))
            for elt, tmp in nested:
                self.assign(elt, _load(tmp))
        elif isinstance(target, ast.Subscript):
            obj = self.atom(target.value, force_name=True)
            index = self.index(target.slice)
            val = self.atom(value)
            self.emit(ast.Assign([ast.Subscript(obj, index, STORE)], val))
        elif isinstance(target, ast.Attribute):
            obj = self.atom(target.value, force_name=True)
            val = self.atom(value)
            self.emit(ast.Assign([ast.Attribute(obj, target.attr, STORE)], val))
        else:  # fenced already
            raise NotImplementedError(type(target).__name__)

    def stmt_Expr(self, node):
        value = node.value
        if isinstance(value, ast.Constant):
            return  # docstrings and bare constants
        method = _list_method(value, self.local - self.callers)
        if method in ("append", "extend"):
            # xs.append(v) on a local list: functional form the reverse pass knows
            # (on a parameter's list, the caller's, it stays a method call: refused
            # when it holds differentiable values, as the caller would read them)
            lst = value.func.value.id
            args = [self.atom(a) for a in value.args]
            self.emit(_assign(lst, _zp_list("list_" + method, lst, args)))
            return
        if method == "pop":  # xs.pop(i), its value unused
            self.assign(ast.Tuple([_store(value.func.value.id), _store(self.fresh())], STORE),
                        _zp_list("list_pop", value.func.value.id, value.args))
            return
        if isinstance(value, ast.Call) and self._touches_own_values(value):
            # a call for its effect on this function's values (or its
            # enclosing function's): bound to an unused name, so that the
            # reverse pass dispatches it when they are differentiable (a method
            # changing a list of them in place has no rule: an error, not a
            # gradient left pointing at the old contents). Calls on globals
            # (a log list) run as they are.
            self.emit(_assign(self.fresh(), self.rhs(value)))
            return
        self.emit(ast.Expr(self.rhs(value)))

    def _touches_own_values(self, call):
        own = self.local | self.closure
        func = call.func
        if isinstance(func, ast.Attribute):  # a method: what matters is its object
            root = func.value
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name) and root.id not in self.modules:
                return root.id in own  # (a global's: a log list, runs as it is)
            # a module's function, or a method of a value made in the statement
            # (`default_rng(0).shuffle(x)`): what matters is its arguments
        if isinstance(func, ast.Name) and func.id in own:
            return True  # a nested function: it may change what it closes over
        return any(isinstance(n, ast.Name) and n.id in own
                   for a in call.args + [k.value for k in call.keywords] for n in ast.walk(a))

    def stmt_Return(self, node):
        value = node.value if node.value is not None else ast.Constant(None)
        self.emit(ast.Return(self.atom(value)))

    def test(self, expr):
        """The branch condition as a fresh name: the branches may reassign the
        variable it came from, and the backward needs the value tested."""
        atom = self.atom(expr, force_name=True)
        tmp = self.fresh("_c")
        self.emit(_assign(tmp, atom))
        return _load(tmp)

    def stmt_If(self, node):
        test = self.test(node.test)
        body = self.block(node.body) or [ast.Pass()]
        orelse = self.block(node.orelse)
        self.emit(ast.If(test, body, orelse))

    def stmt_For(self, node):
        iterable = self.atom(node.iter)
        item = self.fresh("_item")
        self.line, saved = node, self.line
        body = []
        saved_out, self.out = self.out, body
        self.assign(node.target, _load(item))
        self.out = saved_out
        body += self.block(node.body)
        self.line = saved
        self.emit(ast.For(ast.Name(item, STORE), iterable, body, []))

    def stmt_While(self, node):
        # exits.lower made every while loop `while True:` with a test inside
        self.emit(ast.While(ast.Constant(True), self.block(node.body), []))

    def stmt_Break(self, node):
        self.emit(ast.Break())

    def stmt_Continue(self, node):  # lowered by exits; kept for safety
        self.emit(ast.Continue())

    def stmt_Pass(self, node):
        pass

    def stmt_Raise(self, node):
        """`raise E(...)`: kept as written (it leaves the forward pass; no
        gradient flows through an exception)."""
        self.emit(node)

    def stmt_Assert(self, node):
        test = self.atom(node.test)
        msg = self.atom(node.msg) if node.msg is not None else None
        self.emit(ast.Assert(test, msg))

    def stmt_FunctionDef(self, node):
        self.emit(node)  # nested functions are compiled when called

    # -- expressions --------------------------------------------------------
    def atom(self, expr, force_name=False):
        """`expr` as a Name or Constant, emitting statements for its parts."""
        if isinstance(expr, ast.Name):
            return _load(expr.id)
        if isinstance(expr, ast.Constant) and not force_name:
            return expr
        rhs = self.rhs(expr)
        if isinstance(rhs, ast.Name):
            return rhs
        tmp = self.fresh()
        self.emit(_assign(tmp, rhs))
        return _load(tmp)

    def rhs(self, expr):
        """`expr` as one operation over atoms (the right side of an assignment)."""
        method = getattr(self, "expr_" + type(expr).__name__, None)
        if method is None:
            return expr
        return method(expr)

    def expr_Name(self, e):
        return _load(e.id)

    def expr_Constant(self, e):
        return e

    def expr_BinOp(self, e):
        out = ast.BinOp(self.atom(e.left), e.op, self.atom(e.right))
        if ann.get(e, "augmented"):  # `x op= y`: objects may define __iop__
            ann.set_(out, "augmented", True)
        return out

    def expr_UnaryOp(self, e):
        return ast.UnaryOp(e.op, self.atom(e.operand))

    def expr_Compare(self, e):
        if len(e.ops) == 1:
            return ast.Compare(self.atom(e.left), e.ops, [self.atom(e.comparators[0])])
        # a < b < c  ->  (a < b) and (b < c), b evaluated once
        left = self.atom(e.left)
        parts = []
        for op, right in zip(e.ops, e.comparators):
            right = self.atom(right, force_name=True)
            parts.append(ast.Compare(left, [op], [right]))
            left = right
        return self.expr_BoolOp(ast.BoolOp(ast.And(), parts))

    def expr_BoolOp(self, e):
        # short-circuit: t = a; if t: t = b  (for `and`)
        tmp = self.fresh()
        self.emit(_assign(tmp, self.rhs(e.values[0])))
        for value in e.values[1:]:
            test = _load(tmp) if isinstance(e.op, ast.And) else \
                ast.UnaryOp(ast.Not(), _load(tmp))
            cond = self.test(test)
            saved_out, self.out = self.out, []
            self.emit(_assign(tmp, self.rhs(value)))
            body, self.out = self.out, saved_out
            self.emit(ast.If(cond, body, []))
        return _load(tmp)

    def expr_NamedExpr(self, e):
        """`(n := value)`: the assignment, then the name."""
        self.assign(e.target, e.value)
        return _load(e.target.id)

    def expr_IfExp(self, e):
        tmp = self.fresh()
        test = self.test(e.test)
        saved_out = self.out
        self.out = []
        self.emit(_assign(tmp, self.rhs(e.body)))
        body = self.out
        self.out = []
        self.emit(_assign(tmp, self.rhs(e.orelse)))
        orelse, self.out = self.out, saved_out
        self.emit(ast.If(test, body, orelse))
        return _load(tmp)

    def expr_Call(self, e):
        func = self.callee(e.func)
        args = [ast.Starred(self.atom(a.value), LOAD) if isinstance(a, ast.Starred)
                else self.atom(a) for a in e.args]
        keywords = [ast.keyword(k.arg, self.atom(k.value)) for k in e.keywords]
        return ast.Call(func, args, keywords)

    def callee(self, func):
        """Keep `np.linalg.norm` and `obj.method` readable; evaluate the rest."""
        if isinstance(func, ast.Name):
            return _load(func.id)
        if isinstance(func, ast.Attribute):
            root = func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id not in self.local:
                return func  # a dotted global: np.tanh, math.sin, layers.relu
            return ast.Attribute(self.atom(func.value, force_name=True), func.attr,
                                 LOAD)
        return self.atom(func, force_name=True)

    def expr_Attribute(self, e):
        return ast.Attribute(self.atom(e.value, force_name=True), e.attr, LOAD)

    def expr_Subscript(self, e):
        return ast.Subscript(self.atom(e.value, force_name=True), self.index(e.slice),
                             LOAD)

    def index(self, s):
        if isinstance(s, ast.Slice):
            return ast.Slice(*(None if p is None else self.atom(p)
                               for p in (s.lower, s.upper, s.step)))
        if isinstance(s, ast.Tuple):
            return ast.Tuple([self.index(elt) for elt in s.elts], LOAD)
        return self.atom(s)

    def expr_Tuple(self, e):
        return ast.Tuple([self._elt(x) for x in e.elts], LOAD)

    def expr_List(self, e):
        return ast.List([self._elt(x) for x in e.elts], LOAD)

    def _elt(self, x):
        if isinstance(x, ast.Starred):
            return ast.Starred(self.atom(x.value), LOAD)
        return self.atom(x)

    def expr_Dict(self, e):
        return ast.Dict([None if k is None else self.atom(k) for k in e.keys],  # None: **m
                        [self.atom(v) for v in e.values])

    def expr_Lambda(self, e):
        name = self.fresh("_lambda")
        fdef = ast.FunctionDef(name, e.args, [ast.Return(e.body)], [], None)
        ast.copy_location(fdef, e)
        ast.fix_missing_locations(fdef)
        ann.set_(fdef, "lambda", True)
        self.emit(fdef)
        return _load(name)

    def _own_targets(self, e):
        """`e` with its loop variables renamed to fresh names: a comprehension
        has its own scope, and the loop it becomes must not overwrite a
        variable of the same name outside (`[x * y for x in ys]` beside an
        argument `x`). The first iterable is evaluated outside that scope."""
        names = {n: self.fresh(f"_{n}_") for n in dict.fromkeys(_comp_targets(e))}
        rename = _Rename(names)
        generators = []
        for i, gen in enumerate(e.generators):
            generators.append(ast.comprehension(
                rename.visit(gen.target), gen.iter if i == 0 else rename.visit(gen.iter),
                [rename.visit(c) for c in gen.ifs], gen.is_async))
        return ast.copy_location(ast.ListComp(rename.visit(e.elt), generators), e)

    def expr_ListComp(self, e):
        e = self._own_targets(e)
        acc = self.fresh("_list")
        self.emit(_assign(acc, ast.List([], LOAD)))
        inner = ast.Expr(ast.Call(ast.Attribute(_load(acc), "append", LOAD),
                                  [e.elt], []))
        ast.copy_location(inner, e)
        stmt = inner
        for gen in reversed(e.generators):
            for cond in reversed(gen.ifs):
                stmt = ast.If(cond, [stmt], [])
            stmt = ast.For(gen.target, gen.iter, [stmt], [])
            ast.copy_location(stmt, e)
        self.local.add(acc)
        for target in _comp_targets(e):
            self.local.add(target)
        for s in self.block([stmt]):
            self.out.append(s)
        return _load(acc)


class _Rename(ast.NodeTransformer):
    """Rename variables (loads and stores), except inside a lambda whose own
    parameter has the same name."""

    def __init__(self, names):
        self.names = names

    def visit_Name(self, node):
        new = self.names.get(node.id)
        return node if new is None else ast.copy_location(ast.Name(new, node.ctx), node)

    def visit_Lambda(self, node):
        a = node.args  # defaults are evaluated outside the lambda
        a.defaults = [self.visit(d) for d in a.defaults]
        a.kw_defaults = [d if d is None else self.visit(d) for d in a.kw_defaults]
        own = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
        own |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
        inner = {k: v for k, v in self.names.items() if k not in own}
        node.body = _Rename(inner).visit(node.body)
        return node


def _comp_targets(e):
    return [n.id for gen in e.generators for n in ast.walk(gen.target)
            if isinstance(n, ast.Name)]


# list methods on a local list that have a functional form (`_zp.list_<name>`),
# with how many positional arguments
_LIST_METHODS = {"append": (1,), "extend": (1,), "pop": (0, 1)}


def _list_method(value, lists):
    """"append", "extend" or "pop" for such a call on a name in `lists`, else None."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
            and value.func.attr in _LIST_METHODS and isinstance(value.func.value, ast.Name) \
            and value.func.value.id in lists and not value.keywords \
            and len(value.args) in _LIST_METHODS[value.func.attr] \
            and not any(isinstance(a, ast.Starred) for a in value.args):
        return value.func.attr
    return None


def _zp_list(name, lst, args):
    return ast.Call(ast.Attribute(_load("_zp"), name, LOAD), [_load(lst)] + list(args), [])


def _store(name):
    return ast.Name(name, STORE)


def _names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _load(name):
    return ast.Name(name, LOAD)


def _name_of(target):
    return ast.Name(target.id, LOAD)


def _as_load(target):
    import copy

    node = copy.deepcopy(target)
    for n in ast.walk(node):
        if hasattr(n, "ctx"):
            n.ctx = LOAD
    return node


def _assign(name, value):
    return ast.Assign([ast.Name(name, STORE)], value)

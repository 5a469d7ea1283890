"""Call sites: how the forward spells each operation, and what that means for
its adjoint. An operation is inlined as a formula (`math` for numbers, `np`
for arrays), inlined as a helper call (`a @ b`, full sums), or dispatched at
run time (`_zp.call`), in which case the call site says which arguments it
differentiates (`_zp.call_masked`)."""

from __future__ import annotations

import ast

from . import facts as ann
from .activity import ANY, ARRAY, SCALAR
from .build import LOAD, _index_expr, _name, _zp, _zp_call
from .resolve import dotted, static_value


class CallSites:
    """Mixin of `reverse.Reverse`: the forward-side decisions about calls."""

    def guard(self, func):
        """Inlined static callees are guarded against rebinding."""
        text = dotted(func)
        fn = static_value(func, self.env)
        if text is not None and fn is not None:
            self.guards[text] = fn

    def generic_call(self, rhs):
        """The `_zp.call(...)` form of an operation without an inlined adjoint."""
        if isinstance(rhs, ast.BinOp) and not self.inline_binop(rhs):
            from ..rules.formulas import OPERATORS

            op = OPERATORS.get(type(rhs.op))
            if op is None:
                raise NotImplementedError(type(rhs.op).__name__)
            # `x op= y` of objects may run their __iop__ (zygopy's op_i...)
            prefix = "op_i" if ann.get(rhs, "augmented") else "op_"
            return self.call_form([_zp(prefix + op.__name__)], [rhs.left, rhs.right], [])
        if isinstance(rhs, ast.UnaryOp) and self.act.kind(rhs.operand) == ANY:
            from ..rules.formulas import OPERATORS

            op = OPERATORS[type(rhs.op)]
            return ast.Call(_zp("call"), [_zp("op_" + op.__name__), rhs.operand], [])
        if isinstance(rhs, ast.Subscript):
            return ast.Call(_zp("call"), [_zp("getitem"), rhs.value,
                                          _index_expr(rhs.slice)], [])
        if isinstance(rhs, ast.Call):
            if self.inline_row(rhs) is not None or self.inline_reduction(rhs) is not None:
                return None
            func = rhs.func
            if isinstance(func, ast.Attribute) and self.act.is_active(func.value):
                mask = self.mask([func.value] + rhs.args)
                if mask is not None:
                    return ast.Call(_zp("call_method_masked"),
                                    [mask, func.value, ast.Constant(func.attr)] + rhs.args,
                                    rhs.keywords)
                return ast.Call(_zp("call_method"),
                                [func.value, ast.Constant(func.attr)] + rhs.args,
                                rhs.keywords)
            return self.call_form([func], rhs.args, rhs.keywords)
        return None

    def call_form(self, head, args, keywords):
        """`_zp.call(f, *args)`, or `_zp.call_masked(mask, f, *args)` when some
        positional arguments are not differentiated here (their adjoints are
        then never computed, in rules and in compiled callees alike)."""
        mask = self.mask(args)
        if mask is None:
            return ast.Call(_zp("call"), head + args, keywords)
        return ast.Call(_zp("call_masked"), [mask] + head + args, keywords)

    def mask(self, args):
        """A constant tuple flagging the active positional arguments, or None
        when all are (a trailing `*rest` must be inactive to be masked)."""
        flags = []
        for i, arg in enumerate(args):
            if isinstance(arg, ast.Starred):
                if i != len(args) - 1 or self.act.is_active(arg.value):
                    return None
                break
            if isinstance(arg, ast.Name) and arg.id in self.unseeded:
                flags.append(self.still_entry_value(arg.id))
            else:
                flags.append(self.act.is_active(arg))
        if all(f is True for f in flags) and not any(isinstance(a, ast.Starred) for a in args):
            return None
        if all(isinstance(f, bool) for f in flags):
            return ast.Constant(tuple(flags))
        return ast.Tuple([f if isinstance(f, ast.AST) else ast.Constant(f) for f in flags],
                         LOAD)

    def still_entry_value(self, name):
        """`name is not <its value on entry>`: false while an undifferentiated
        parameter still holds the caller's value (the first pass of a loop)."""
        if name not in self.entry_values:
            self.entry_values[name] = self.fresh("_in_" + name)
        return ast.Compare(_name(name), [ast.IsNot()], [_name(self.entry_values[name])])

    def reduction_spelling(self, stmt):
        """`y = np.sum(x)` runs as `y = _zp.sum_of(x)` (the ndarray method, without
        np.sum's dispatch), `np.max(x, axis=1, keepdims=True)` as
        `_zp.max_of(x, 1, True)`; the backward reads the reduction from a fact."""
        reduction = self.inline_reduction(stmt.value)
        kind, operand, axis, keep = reduction
        func = stmt.value.func
        if axis is None and isinstance(func, ast.Attribute) and func.value is operand:
            return stmt  # x.sum() already
        args = [operand] if axis is None else [operand, axis, keep]
        value = ann.set_(_zp_call(kind + "_of", *args), "reduction", reduction)
        new = ast.copy_location(ast.Assign(stmt.targets, value), stmt)
        ann.copy(stmt, new)
        return new

    def inline_reduction(self, call):
        """(kind, operand, axis, keepdims) for a reduction of an array whose
        adjoint is inlined (no closure): `np.sum(x)`, `x.mean()` over every axis
        (axis None), and sum, mean, max and min over constant `axis=` with
        `keepdims=` (AST nodes)."""
        if ann.get(call, "reduction") is not None:  # respelled by reduction_spelling
            return ann.get(call, "reduction")
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _REDUCTIONS and not call.args \
                and isinstance(func.value, ast.Name) and self.act.kind(func.value) == ARRAY:
            kind, operand = func.attr, func.value
        elif len(call.args) == 1 and isinstance(call.args[0], ast.Name) \
                and self.act.kind(call.args[0]) == ARRAY:
            import numpy as np

            fn = static_value(func, self.env)
            kind = _REDUCTIONS.get(getattr(fn, "__name__", None))
            if kind is None or fn is not getattr(np, kind, None) and \
                    fn is not getattr(np, "a" + kind, None):
                return None
            operand = call.args[0]
        else:
            return None
        options = {k.arg: k.value for k in call.keywords}
        if not call.keywords:
            return (kind, operand, None, None) if kind in ("sum", "mean") else None
        if set(options) - {"axis", "keepdims"} or "axis" not in options \
                or not all(_constant(v) for v in options.values()):
            return None
        return kind, operand, options["axis"], options.get("keepdims", ast.Constant(False))

    def inline_binop(self, rhs):
        from ..rules.formulas import OPERATORS, formula_of

        kinds = {self.act.kind(rhs.left), self.act.kind(rhs.right)}
        if isinstance(rhs.op, ast.MatMult):
            return kinds == {ARRAY}  # adjoint inlined as _zp.matmul_adjoint
        op = OPERATORS.get(type(rhs.op))
        if op is None or formula_of(op) is None:
            return False
        return kinds <= {SCALAR, ARRAY}

    def array_spelling(self, stmt, row):
        """`y = math.sin(x)` with an `x` that may not be a number runs as
        `_zp.math_call(math.sin)(x)`: the math module takes numbers (and 0-d
        arrays) only, as Python's own call does, and forward-mode duals (second
        order) through their formula row."""
        args = stmt.value.args
        kinds = {self.act.kind(a) for a in args}
        if row.namespace != "math" or kinds <= {SCALAR}:
            return stmt
        value = ast.Call(ast.Call(_zp("math_call"), [stmt.value.func], []), list(args), [])
        ann.set_(value, "row", row)
        new = ast.copy_location(ast.Assign(stmt.targets, value), stmt)
        ann.copy(stmt, new)
        return new

    def inline_row(self, call):
        """The formula row of a statically known elementwise callee, or None."""
        from ..rules.formulas import formula_of

        if ann.get(call, "row") is not None:  # respelled by array_spelling
            return ann.get(call, "row")
        if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
            return None
        fn = static_value(call.func, self.env)
        row = formula_of(fn) if fn is not None else None
        if row is None or len(row.params) != len(call.args):
            return None
        if row.namespace == "np" and any(self.act.kind(a) == ANY for a in call.args):
            return None  # maybe a list (np.log([x, y])): its rule takes those
        return row

    # -- backward -----------------------------------------------------------


# reductions whose adjoints are inlined: name -> the kind of `_zp.<kind>_of` and
# `_zp.<kind>_adjoint` (np.amax is np.max)
_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min",
               "amax": "max", "amin": "min"}


def _constant(node):
    """An axis or keepdims written as a literal (an int, None, a bool, a tuple)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, bool)) or node.value is None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) is int
    return isinstance(node, ast.Tuple) and all(_constant(e) for e in node.elts)

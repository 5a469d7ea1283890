"""Reverse mode: from a normalised, annotated body, the forward function (primal
plus saved values) and the backward function (adjoints, in reverse order).

State discipline: when the backward runs the adjoint of statement S, every
variable holds the value it had right after S ran in the forward. Values a
later assignment overwrote come back from a tape (a list the forward pushes
the old value onto and the backward pops it from), so loops need no other
bookkeeping than an iteration count.
"""

from __future__ import annotations

import ast

from . import facts as ann
from . import naming, templates, unbound
from .activity import ARRAY, SCALAR
from .build import (
    LOAD,
    STORE,
    ZERO,
    _assign,
    _expr,
    _index_expr,
    _item,
    _name,
    _zp,
    _zp_call,
)
from .callsites import CallSites
from .walk import walk

SAVE, RESTORE = "__zp_save__", "__zp_restore__"



class Reverse(CallSites):
    """Build forward and backward functions for one normalised function."""

    def __init__(self, name, params, activity, env, fresh, free, implicit_globals,
                 unseeded=()):
        self.name = name
        self.params = params
        # parameters the caller does not differentiate that later hold active
        # values (x = layer(x) in a loop): call sites test their identity
        self.unseeded = set(unseeded)
        self.prefix = fresh.prefix  # "d": the adjoint of x is dx (naming.adjoint_prefix)
        self.entry_values = {}  # parameter -> name of its value on entry
        self.loop_items = {}  # forward index name -> (gathered, reverse index)
        self.act = activity
        self.env = env
        self.fresh = fresh
        self.free = free  # active closure variables: their adjoints go to the callee tangent
        self.implicit_globals = implicit_globals  # active globals (implicit params)
        self.guards = {}  # dotted callee text -> expected object
        self.defined = set()
        self.assigned = {}  # name -> how many times assigned (loops count twice)
        self.loop_depth = 0
        self.mutates = False  # an active `a[i] = v`: the backward undoes and redoes it
        self.unbound = set()  # packed names some read may find unbound (checked there)
        self.user_names = {}  # a name -> what errors call it (a flat function's `y_2`: `y`)

    def adjoint(self, name):
        """The name of `name`'s adjoint in this function (`dx` for `x`)."""
        return naming.adjoint(name, self.prefix)

    # -- driver -------------------------------------------------------------
    def run(self, body):
        ret = body[-1]
        assert isinstance(ret, ast.Return)
        fwd = self.fwd_block(body[:-1])
        result = ret.value
        bwd = []
        if self.act.is_active(result):
            self.defined = {result.id}
            bwd = [_assign(self.adjoint(result.id), _name("_dout"))]
            bwd += self.bwd_block(fwd)
        outputs = [self.callee_tangent()] + [self.adj_or_zero(p) for p in self.params]
        needed = self.needed(bwd)
        while True:  # restores nobody reads go, then branches left empty, ...
            taped = self.taped(needed)
            dropped = []
            bwd = _prune(bwd, taped, dropped)
            again = self.needed(bwd) if dropped else needed
            if again == needed:
                break
            needed = again
        saved = sorted(needed | ({"_tape"} if taped else set()))
        packed = set(saved) - {"_tape"} - set(self.params) - self.fresh.created
        fwd, self.unbound = unbound.checked(fwd, packed, self.params, ret, self.user_names)
        fwd = _Markers(taped, forward=True).block(fwd)
        bwd = _drop_empty_ifs(_Markers(taped, forward=False).block(bwd))
        for name in self.implicit_globals:
            if name in self.defined:
                bwd.append(ast.Expr(_zp_call("implicit", _name(name),
                                             _name(self.adjoint(name)))))
        return self.forward_def(fwd, result, saved, taped), \
            self.backward_def(bwd, saved, outputs)

    def forward_def(self, body, result, saved, taped):
        pre = []
        if self.guards:
            test = " or ".join(f"{text} is not _guard{i}" for i, text in enumerate(self.guards))
            pre.append(ast.parse(f"if {test}:\n    _zp.stale()").body[0])
        for param, entry in self.entry_values.items():
            pre.append(_assign(entry, _name(param)))
        if taped:
            pre.append(_assign("_tape", ast.List([], LOAD)))
        for name in saved:  # (packed on every path; a name some read may find
            if name not in self.params and name != "_tape":  # unbound is checked)
                pre.append(_assign(name, _zp("UNBOUND") if name in self.unbound
                                   else ast.Constant(None)))
        packed = ast.Tuple([_name(n) for n in saved], LOAD)
        ret = ast.Return(ast.Tuple([result, packed], LOAD))
        args = ast.arguments([], [ast.arg(p) for p in self.params], None, [], [], None, [])
        return ast.FunctionDef(naming.forward_name(self.name), args, pre + body + [ret], [],
                               None)

    def backward_def(self, body, saved, outputs):
        pre, post = [], []
        if saved:
            target = ast.Tuple([_name(n, STORE) for n in saved], STORE)
            pre.append(ast.Assign([target], _name("_saved")))
        if "_tape" in saved:  # pop from a copy: the pullback may run again
            pre.append(_assign("_tape", _expr("_tape.copy()")))
        if self.mutates:  # leave arrays as the forward left them
            pre.append(_assign("_redo", ast.List([], LOAD)))
            post.append(ast.Expr(_zp_call("redo", _name("_redo"))))
        ret = ast.Return(ast.Tuple(outputs, LOAD))
        args = ast.arguments([], [ast.arg("_saved"), ast.arg("_dout")], None, [], [], None,
                             [])
        return ast.FunctionDef(naming.backward_name(self.name), args,
                               pre + body + post + [ret], [], None)

    def callee_tangent(self):
        fields = [ast.keyword(n, self.adj_or_zero(n)) for n in self.free
                  if n in self.defined]
        if not fields:
            return ast.Constant(None)
        return ast.Call(_zp("closure_tangent"), [], fields)

    def adj_or_zero(self, name):
        return _name(self.adjoint(name)) if name in self.defined else ZERO

    def taped(self, needed):
        """The needed names the forward overwrites (or a loop reassigns): the
        backward gets their older values back from the tape."""
        return {n for n in needed if self.assigned.get(n, 0) > 1 or
                (self.assigned.get(n, 0) == 1 and n in self.params)}

    def needed(self, bwd):
        adjoints = {self.adjoint(n) for n in self.act.active}
        loaded, stored = set(), set()
        for node in walk(ast.Module(bwd, [])):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        forward_vars = set(self.assigned) | set(self.params)
        return {n for n in loaded if n in forward_vars and n not in adjoints} - \
            {"_dout", "_zp"}

    # -- forward ------------------------------------------------------------
    def note_assign(self, name):
        self.assigned[name] = self.assigned.get(name, 0) + (2 if self.loop_depth else 1)

    def fwd_block(self, stmts):
        out = []
        for stmt in stmts:
            out.extend(self.fwd_stmt(stmt))
        return out

    def fwd_stmt(self, stmt):
        if isinstance(stmt, ast.Assign):
            return self.fwd_assign(stmt)
        if isinstance(stmt, ast.If):
            stmt.body = self.fwd_block(stmt.body)
            stmt.orelse = self.fwd_block(stmt.orelse)
            return [stmt]
        if isinstance(stmt, (ast.For, ast.While)):
            return self.fwd_loop(stmt)
        if isinstance(stmt, ast.FunctionDef):
            self.note_assign(stmt.name)
            return [_marker(SAVE, stmt.name), stmt]
        return [stmt]

    def fwd_assign(self, stmt):
        target = stmt.targets[0]
        if isinstance(target, ast.Subscript):
            return self.fwd_setitem(stmt)
        if isinstance(target, ast.Attribute):
            if self.act.is_active(stmt.value):  # set at run time if it has no gradient
                value = ast.Constant(target.attr), stmt.value
                return [ast.copy_location(
                    ast.Expr(_zp_call("set_field", target.value, *value)), stmt)]
            return [stmt]
        names = [target.id] if isinstance(target, ast.Name) else [e.id for e in target.elts]
        pre = []
        if isinstance(target, ast.Name) and target.id in self.act.active \
                and ann.get(stmt, "loop_item") is None:
            call = self.generic_call(stmt.value)
            if call is not None:
                pb = naming.pullback(target.id)
                if pb in self.fresh.taken:  # the user has a variable of that name
                    pb = self.fresh(pb + "_")
                stmt = ann.copy(stmt, ast.Assign([ast.Tuple([_name(target.id, STORE),
                                              _name(pb, STORE)], STORE)], call))
                ann.set_(stmt, "pullback", pb)
                names.append(pb)
            elif isinstance(stmt.value, ast.Call) and self.inline_row(stmt.value):
                self.guard(stmt.value.func)
                stmt = self.array_spelling(stmt, self.inline_row(stmt.value))
            elif isinstance(stmt.value, ast.Call) and self.inline_reduction(stmt.value):
                self.guard(stmt.value.func)  # np.sum (a method of a local needs none)
                stmt = self.reduction_spelling(stmt)
        for n in names:
            self.note_assign(n)
            pre.append(_marker(SAVE, n))
        return pre + [stmt]

    def fwd_setitem(self, stmt):
        target = stmt.targets[0]
        obj = target.value.id
        if obj not in self.act.active:
            return [stmt]
        old = self.fresh("_old")
        self.mutates = True
        self.note_assign(old)
        ann.set_(stmt, "old", old)
        save = _assign(old, _zp_call("save_item", _name(obj), _index_expr(target.slice)))
        # spelled `a = _zp.set_item(a, i, v)`: a forward-mode Dual written into a
        # plain array makes it a Dual (second order); the backward reads the
        # update it stands for
        store = ann.copy(stmt, _assign(obj, _zp_call("set_item", _name(obj),
                                                     _index_expr(target.slice), stmt.value)))
        ann.set_(store, "setitem", stmt)
        return [_marker(SAVE, old), save, store]

    def fwd_loop(self, loop):
        count = self.fresh("_n")
        self.note_assign(count)
        self.loop_depth += 1
        body = self.fwd_block(loop.body)
        self.loop_depth -= 1
        items = None  # (sequence, index) of a loop over an active sequence
        if isinstance(loop, ast.While):
            out = templates.fill(templates.WHILE_FORWARD, count=count, body=body)
        elif self.act.is_active(loop.iter):
            # items read by plain indexing; the backward gathers their
            # cotangents per index (one sequence cotangent, made once)
            # (a dict or an iterator is walked as a list of what it yields)
            index, seq = self.fresh("_i"), self.fresh("_seq")
            get = _assign(loop.target.id, ast.Subscript(_name(seq), _name(index), LOAD))
            ann.copy(loop, get)
            ann.set_(get, "loop_item", index)
            self.loop_depth += 1
            getter = self.fwd_assign(get)
            self.loop_depth -= 1
            out = [_assign(seq, _zp_call("indexable", loop.iter))] + templates.fill(
                templates.FOR_ACTIVE_FORWARD, count=count, index=index, iterable=seq,
                body=getter + body)
            items = (loop.iter, index)
        else:
            out = templates.fill(templates.FOR_FORWARD, count=count, item=loop.target.id,
                                 iterable=loop.iter, body=body)
        ann.copy(loop, out[-1])
        ann.set_(out[-1], "count", count)
        if items is not None:
            ann.set_(out[-1], "items", items)
        return [_marker(SAVE, count)] + out

    def bwd_block(self, stmts):
        out = []
        for stmt in reversed(stmts):
            out.extend(self.bwd_stmt(stmt))
        return out

    def acc(self, atom, contribution):
        """Accumulate `contribution` into the adjoint of `atom` (if active)."""
        if not self.act.is_active(atom):
            return []
        name = atom.id
        d = self.adjoint(name)
        if name not in self.defined:
            self.defined.add(name)
            return [_assign(d, contribution)]
        if self.act.kind(atom) in (SCALAR, ARRAY):
            return [_assign(d, ast.BinOp(_name(d), ast.Add(), contribution))]
        return [_assign(d, _zp_call("add", _name(d), contribution))]

    def kill(self, name):
        self.defined.discard(name)

    def bwd_stmt(self, stmt):
        method = getattr(self, "bwd_" + type(stmt).__name__, None)
        out = method(stmt) if method else []
        if out and ann.get(stmt, "line") is not None:
            ann.set_(out[0], "adjoint_of", ann.get(stmt, "line"))
        return out

    def bwd_Expr(self, stmt):
        value = stmt.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id == SAVE:
            return [_marker(RESTORE, value.args[0].value)]
        return []

    def bwd_FunctionDef(self, stmt):
        out = []
        if stmt.name in self.act.active and stmt.name in self.defined:
            d = _name(self.adjoint(stmt.name))
            for free in self.act.functions.get(stmt.name, []):
                if free in self.act.active:
                    out += self.acc(_name(free), _zp_call("field", d, ast.Constant(free)))
        self.kill(stmt.name)
        return out

    def bwd_Assign(self, stmt):
        target = stmt.targets[0]
        if ann.get(stmt, "setitem") is not None:
            return self.bwd_setitem(ann.get(stmt, "setitem"))
        if isinstance(target, ast.Subscript):
            return self.bwd_setitem(stmt)
        if isinstance(target, ast.Attribute):
            return []
        pb = ann.get(stmt, "pullback")
        if isinstance(target, ast.Tuple) and pb is None:
            return self.bwd_unpack(stmt)
        name = target.elts[0].id if pb is not None else target.id
        if name not in self.act.active:
            return []
        if name not in self.defined:
            return []  # nothing flowed back to this value
        dv = _name(self.adjoint(name))
        rhs = stmt.value
        if isinstance(rhs, ast.Name) and rhs.id == name:
            return []
        # the value before this assignment is another value: its adjoint starts
        # afresh (the code below reads dv before anything overwrites it)
        self.kill(name)
        if pb is not None:
            return self.bwd_call(rhs, dv, pb)
        index = ann.get(stmt, "loop_item")
        if index is not None:
            gathered, reverse_index = self.loop_items[index]
            return [ast.Expr(ast.Call(ast.Attribute(_name(gathered), "add", LOAD),
                                      [_name(reverse_index), dv], []))]
        return self.bwd_rhs(rhs, dv, _name(name))

    def bwd_rhs(self, rhs, dv, out):
        if isinstance(rhs, ast.Name):
            return self.acc(rhs, dv)
        if isinstance(rhs, ast.BinOp):
            from ..rules.formulas import OPERATORS, formula_of

            if isinstance(rhs.op, ast.MatMult):
                return self.bwd_matmul(rhs.left, rhs.right, dv)
            row = formula_of(OPERATORS[type(rhs.op)])
            return self.inline(row, [rhs.left, rhs.right], dv, out)
        if isinstance(rhs, ast.UnaryOp):
            from ..rules.formulas import OPERATORS, formula_of

            if isinstance(rhs.op, ast.Not):
                return []
            row = formula_of(OPERATORS[type(rhs.op)])
            return self.inline(row, [rhs.operand], dv, out)
        if isinstance(rhs, ast.Call):
            row = self.inline_row(rhs)
            if row is not None:
                return self.inline(row, rhs.args, dv, out)
            reduction = self.inline_reduction(rhs)
            if reduction is not None:
                kind, operand, axis, _ = reduction  # keepdims: expand_to re-inserts axes
                args = [dv, operand] if axis is None else \
                    [dv, operand, axis] + ([out] if kind in ("max", "min") else [])
                return self.acc(operand, _zp_call(kind + "_adjoint", *args))
            return []
        if isinstance(rhs, ast.Attribute):
            obj = rhs.value
            if not self.act.is_active(obj):
                return []
            if rhs.attr in ("T", "mT") and self.act.kind(obj) == ARRAY:
                return self.acc(obj, ast.Attribute(dv, rhs.attr, LOAD))  # dW = d.T
            d_obj = _name(self.adjoint(obj.id)) if obj.id in self.defined else ZERO
            self.defined.add(obj.id)
            return [_assign(self.adjoint(obj.id),
                            _zp_call("attr_adjoint", d_obj, obj, ast.Constant(rhs.attr), dv))]
        if isinstance(rhs, (ast.Tuple, ast.List)):
            return self.bwd_sequence(rhs, dv)
        if isinstance(rhs, ast.Dict):
            return self.bwd_dict(rhs, dv)
        return []

    def bwd_matmul(self, left, right, dv):
        """`(da, db) = _zp.matmul_adjoint(dv, a, b, need_a, need_b)`, shares to a and b."""
        need = [self.act.is_active(left), self.act.is_active(right)]
        grads = self.fresh("_g")
        out = [_assign(grads, _zp_call("matmul_adjoint", dv, left, right,
                                       ast.Constant(need[0]), ast.Constant(need[1])))]
        for i, (operand, needed) in enumerate(zip((left, right), need)):
            if needed:
                out += self.acc(operand, _item(grads, i))
        return out

    def bwd_dict(self, rhs, dv):
        """A dict display: each value gets its key's cotangent, unless a later
        entry (`{"a": x, "a": y}`, `{k: v, **m}`) replaced it; `**m` gets a
        dict of the cotangents of its keys that survive."""
        constants = [k.value for k in rhs.keys if isinstance(k, ast.Constant)]
        plain = len(constants) == len(rhs.keys) and len(set(constants)) == len(constants)
        out = []
        for i, (k, v) in enumerate(zip(rhs.keys, rhs.values)):
            if plain:
                out += self.acc(v, _zp_call("item", dv, k))
                continue
            later = list(zip(rhs.keys[i + 1:], rhs.values[i + 1:]))
            keys = ast.Tuple([kk for kk, _ in later if kk is not None], LOAD)
            maps = ast.Tuple([vv for kk, vv in later if kk is None], LOAD)
            share = _zp_call("unpacked_adjoint", dv, v, keys, maps) if k is None else \
                _zp_call("entry_adjoint", dv, k, keys, maps)
            out += self.acc(v, share)
        return out

    def bwd_sequence(self, rhs, dv):
        out = []
        starred = [i for i, e in enumerate(rhs.elts) if isinstance(e, ast.Starred)]
        if not starred:
            for i, elt in enumerate(rhs.elts):
                out += self.acc(elt, _zp_call("item", dv, ast.Constant(i)))
            return out
        # (a, *rest, b): split the cotangent by the runtime lengths
        sizes = ast.Tuple([_zp_call("length", e.value) if isinstance(e, ast.Starred)
                           else ast.Constant(None) for e in rhs.elts], LOAD)
        parts = self.fresh("_parts")
        out.append(_assign(parts, _zp_call("split", dv, sizes)))
        for i, elt in enumerate(rhs.elts):
            atom = elt.value if isinstance(elt, ast.Starred) else elt
            out += self.acc(atom, ast.Subscript(_name(parts), ast.Constant(i), LOAD))
        return out

    def inline(self, row, operands, dv, out):
        from ..rules.render import substitute

        scalar = all(self.act.kind(o) == SCALAR for o in operands)
        namespace = "math" if scalar else "np"
        names = dict(zip(row.params, operands)) | {"out": out}
        result = []
        for operand, partial in zip(operands, row.partials):
            if not self.act.is_active(operand):
                continue
            if partial.strip() == "0":
                continue
            if partial.strip() == "1":
                g = dv
            elif partial.strip() == "-1":
                g = ast.UnaryOp(ast.USub(), dv)
            else:
                g = ast.BinOp(dv, ast.Mult(), substitute(row.tree(partial), names, namespace))
            if not scalar and not self.same_shape(operand, operands):
                g = _zp_call("unbroadcast", g, operand)
            result += self.acc(operand, g)
        return result

    def same_shape(self, operand, operands):
        """Whether an elementwise result surely has `operand`'s shape and dtype,
        so its cotangent needs no unbroadcast: an array whose co-operands are
        all numbers (a unary function, `2 * x`, `x - 1.0`)."""
        return self.act.kind(operand) == ARRAY and all(
            self.act.kind(o) == SCALAR for o in operands if o is not operand)

    def bwd_call(self, call, dv, pb):
        """`_grads = v_pb(dv)`, then each active argument takes its share."""
        grads = self.fresh("_grads")
        out = [ann.set_(_assign(grads, ast.Call(_name(pb), [dv], [])), "pullback_call", True)]
        head = call.args[1:] if call.func.attr.endswith("_masked") else call.args
        if call.func.attr.startswith("call_method"):
            callee, args = head[0], head[2:]
        else:
            callee, args = head[0], head[1:]
        out += self.acc(callee if isinstance(callee, ast.Name) else ast.Constant(None),
                        _item(grads, 0))
        if any(isinstance(a, ast.Starred) for a in args) or \
                any(k.arg is None for k in call.keywords):
            # `f(*xs, **kw)`: how many cotangents each takes is known at run time
            parts = self.fresh("_parts")
            pos = ast.Tuple([a.value if isinstance(a, ast.Starred) else ast.Constant(None)
                             for a in args], LOAD)
            kws = ast.Tuple([k.value if k.arg is None else ast.Constant(None)
                             for k in call.keywords], LOAD)
            out.append(_assign(parts, _zp_call("split_grads", _name(grads), pos, kws)))
            values = [a.value if isinstance(a, ast.Starred) else a for a in args]
            values += [k.value for k in call.keywords]
            for i, value in enumerate(values):
                out += self.acc(value, _item(parts, i))
            return out
        for i, arg in enumerate(args):
            out += self.acc(arg, _item(grads, i + 1))
        for j, kw in enumerate(call.keywords):
            out += self.acc(kw.value, _item(grads, len(args) + 1 + j))
        return out

    def bwd_unpack(self, stmt):
        target = stmt.targets[0]
        if not self.act.is_active(stmt.value):
            return []
        parts = [self.adj_or_zero(e.id) if e.id in self.act.active else ZERO
                 for e in target.elts]
        for e in target.elts:
            self.kill(e.id)
        return self.acc(stmt.value, _zp_call("unpack_adjoint", stmt.value,
                                             ast.Tuple(parts, LOAD)))

    def bwd_setitem(self, stmt):
        target = stmt.targets[0]
        obj = target.value.id
        old = ann.get(stmt, "old")
        if old is None:
            return []
        index = _index_expr(target.slice)
        out = []
        if obj in self.defined:
            d = _name(self.adjoint(obj))
            read = _zp_call("unbroadcast", _zp_call("read_item", d, index), stmt.value)
            if isinstance(stmt.value, ast.Name) and stmt.value.id == obj:
                # `v[::-1] = v`: the value's share is read before the slots are
                # zeroed, and only then goes to v's adjoint
                share = self.fresh("_share")
                out.append(_assign(share, read))
                out.append(_assign(self.adjoint(obj), _zp_call("zero_item", d, index)))
                out += self.acc(stmt.value, _name(share))
            else:
                out += self.acc(stmt.value, read)
                out.append(_assign(self.adjoint(obj), _zp_call("zero_item", d, index)))
        out.append(ast.Expr(_zp_call("restore_item", _name(old), _name("_redo"))))
        return out

    def bwd_If(self, stmt):
        pre, start = self.enter(stmt)
        body = self.bwd_block(stmt.body)
        after_body = self.leave(start)
        orelse = self.bwd_block(stmt.orelse)
        after_else = self.leave(start)
        if not body + after_body + orelse + after_else:
            return pre  # no adjoint on either side: the branch taken is not needed
        return pre + templates.fill(templates.IF_BACKWARD, test=stmt.test,
                                    body=body + after_body, orelse=orelse + after_else)

    def bwd_For(self, stmt):
        count = ann.get(stmt, "count")
        if count is None:
            return []
        items = ann.get(stmt, "items")
        if items is not None:
            return self.bwd_items_loop(stmt, count, *items)
        pre, start = self.enter(stmt)
        body = self.bwd_block(stmt.body)
        body += self.leave(start)
        return pre + templates.fill(templates.LOOP_BACKWARD, count=count, body=body)

    def bwd_items_loop(self, stmt, count, iterable, index):
        """A loop over an active sequence by index: the backward walks the
        indices in reverse, gathering each item's cotangent, and gives the
        sequence its cotangent once, after the loop."""
        gathered, reverse_index = self.fresh("_items"), self.fresh("_j")
        self.loop_items[index] = (gathered, reverse_index)
        pre, start = self.enter(stmt)
        body = self.bwd_block(stmt.body)
        body += self.leave(start)
        loop = templates.fill(templates.ITEMS_LOOP_BACKWARD, count=count, body=body,
                              gathered=gathered, index=reverse_index)
        return pre + loop + self.acc(iterable, ast.Call(
            ast.Attribute(_name(gathered), "of", LOAD), [iterable], []))

    bwd_While = bwd_For

    def enter(self, stmt):
        """Give every adjoint the block touches a value before it (ZERO)."""
        touched = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                   and n.id in self.act.active}
        # temporaries made and used inside the block need no value before it
        inner = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Store) and n.id in self.fresh.created}
        touched -= inner - self.defined
        pre = [_assign(self.adjoint(n), ZERO) for n in sorted(touched - self.defined)]
        self.defined |= touched
        return pre, set(self.defined)

    def leave(self, start):
        """At the end of a block, reset adjoints it left stale, so the block
        leaves `defined` as it found it."""
        fix = [_assign(self.adjoint(n), ZERO) for n in sorted(start - self.defined)]
        self.defined = set(start)
        return fix


def _marker(kind, name):
    return ast.Expr(ast.Call(_name(kind), [ast.Constant(name)], []))


class _Markers:
    """Replace save/restore markers: tape pushes and pops for taped names."""

    def __init__(self, taped, forward):
        self.taped = taped
        self.forward = forward

    def block(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
                    isinstance(stmt.value.func, ast.Name) and \
                    stmt.value.func.id in (SAVE, RESTORE):
                name = stmt.value.args[0].value
                if name in self.taped:
                    out.append(_expr_stmt(f"_tape.append({name})") if self.forward
                               else _assign(name, _expr("_tape.pop()")))
                continue
            for field in ("body", "orelse"):
                if hasattr(stmt, field) and not isinstance(stmt, ast.FunctionDef):
                    setattr(stmt, field, self.block(getattr(stmt, field)) or [ast.Pass()]
                            if getattr(stmt, field) or field == "body" else [])
            out.append(stmt)
        return out


def _prune(stmts, taped, dropped):
    """The backward without restore markers of names that are not taped, and
    without branches and loops that are then empty (their tests and counts
    are then no longer needed either); each statement dropped is appended to
    `dropped`."""
    out = []
    for stmt in stmts:
        name = _restored(stmt)
        if name is not None and name not in taped:
            dropped.append(stmt)
            continue
        if isinstance(stmt, (ast.If, ast.For)):
            stmt.body = _prune(stmt.body, taped, dropped)
            stmt.orelse = _prune(stmt.orelse, taped, dropped)
            own = stmt.test.id if isinstance(stmt, ast.If) and \
                isinstance(stmt.test, ast.Name) else None
            rest = [s for s in stmt.body + stmt.orelse if not isinstance(s, ast.Pass)
                    and (own is None or _restored(s) != own)]
            if not rest and (isinstance(stmt, ast.For) or own is not None):
                dropped.append(stmt)
                continue  # empty, or only restoring its own test: not needed
        out.append(stmt)
    return out


def _restored(stmt):
    """The name a restore marker restores, or None."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
            isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == RESTORE:
        return stmt.value.args[0].value
    return None


def _drop_empty_ifs(stmts):
    """The statements without `if c: pass / else: pass` (a branch whose adjoint
    is empty on both sides: nothing to do whichever way it went)."""
    out = []
    for stmt in stmts:
        for field in ("body", "orelse"):
            if hasattr(stmt, field) and not isinstance(stmt, ast.FunctionDef):
                kept = _drop_empty_ifs(getattr(stmt, field))
                setattr(stmt, field, kept or ([ast.Pass()] if field == "body" else []))
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Name) and \
                all(isinstance(s, ast.Pass) for s in stmt.body + stmt.orelse):
            continue
        out.append(stmt)
    return out


def _expr_stmt(text):
    return ast.parse(text).body[0]

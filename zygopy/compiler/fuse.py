"""Fuse: one function computing the value and the gradient of a top-level call.

`gradient(f, x, y)` with floats or float arrays runs `f_gradient(x, y)`, made
on the second call from the forward and backward code already generated: the
forward's statements, the seed, the backward's statements, and a return of
`(value, gradients)`. No saved tuple is packed and unpacked, no pullback is
made, and one Python call replaces two. The backward reads the forward's
names directly: its first statement only rebinds them to the values they
already hold at the end of the forward.

    def f_gradient(x, y):
        <the forward, up to its return>
        _value = result
        _dout = 1.0 if type(_value) is float else _zp.seed(_value)
        <the backward, from its first adjoint>
        return _value, (dx, dy)
"""

from __future__ import annotations

import ast

from ..runtime.tracebacks import BACKWARD, FORWARD
from . import facts as ann
from .emit import strip_comments


def gradient_def(name: str, fwd: ast.FunctionDef, bwd: ast.FunctionDef) -> ast.FunctionDef:
    """The fused def `name` of a forward and a backward made by
    `reverse.Reverse.run` (and rendered once: their comments are dropped)."""
    *fwd_body, ret = strip_comments(fwd.body)
    body = [_phase(s, FORWARD) for s in fwd_body]
    result = ast.Name(_unused("_value", fwd, bwd), ast.Load())  # the backward may
    value = ret.value.elts[0]  # restore the returned name to an older value
    body.append(_phase(ast.Assign([ast.Name(result.id, ast.Store())], value), FORWARD))
    dout = bwd.args.args[1].arg
    seed = ast.IfExp(
        ast.Compare(ast.Call(ast.Name("type", ast.Load()), [result], []),
                    [ast.Is()], [ast.Name("float", ast.Load())]),
        ast.Constant(1.0),
        ast.Call(ast.Attribute(ast.Name("_zp", ast.Load()), "seed", ast.Load()),
                 [result], []))
    body.append(_phase(ast.Assign([ast.Name(dout, ast.Store())], seed), BACKWARD))
    *bwd_body, bwd_ret = strip_comments(bwd.body)
    for stmt in bwd_body:
        if _rebinds_saved(stmt):
            continue  # `a, b = _saved` and `_tape = _tape.copy()`: not needed here
        body.append(_phase(stmt, BACKWARD))
    grads = ast.Tuple(bwd_ret.value.elts[1:], ast.Load())  # [0]: the callee's
    body.append(_phase(ast.Return(ast.Tuple([result, grads], ast.Load())), BACKWARD))
    fused = ast.FunctionDef(name, fwd.args, body, [], None)
    return ast.fix_missing_locations(fused)


def calls_user_code(fwd: ast.FunctionDef) -> bool:
    """Whether the forward calls anything but numpy, math and zygopy's inline
    helpers: only then may it observe `zygopy.is_differentiating()`."""
    for node in ast.walk(fwd):
        if isinstance(node, ast.Call):
            func = node.func
            if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in ("np", "math", "_zp")
                    and not (func.value.id == "_zp" and func.attr.startswith("call"))):
                return True
    return False


def _unused(name, *trees):
    used = {n.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name)}
    while name in used:
        name += "_"
    return name


def _rebinds_saved(stmt):
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return False
    value = stmt.value
    if isinstance(value, ast.Name) and value.id == "_saved":
        return True
    return isinstance(value, ast.Call) and ast.unparse(value) == "_tape.copy()"


def _phase(stmt, phase):
    return ann.set_(stmt, "phase", phase)

"""Small AST builders the reverse pass and its call-site spelling share."""

from __future__ import annotations

import ast

LOAD, STORE = ast.Load(), ast.Store()  # shared, as ast.parse shares them


def _name(n, ctx=None):
    return ast.Name(n, ctx or LOAD)


def _assign(target, value):
    return ast.Assign([_name(target, STORE)], value)


def _zp(attr):
    return ast.Attribute(_name("_zp"), attr, LOAD)


def _zp_call(attr, *args):
    return ast.Call(_zp(attr), list(args), [])


def _expr(text):
    return ast.parse(text, mode="eval").body


ZERO = _zp("ZERO")


def _item(grads, i):
    return ast.Subscript(_name(grads), ast.Constant(i), LOAD)


def _index_expr(s):
    """A subscript's index as an ordinary expression (slices become slice(...))."""
    if isinstance(s, ast.Slice):
        parts = [p if p is not None else ast.Constant(None) for p in (s.lower, s.upper, s.step)]
        return ast.Call(_name("slice"), parts, [])
    if isinstance(s, ast.Tuple):
        return ast.Tuple([_index_expr(e) for e in s.elts], LOAD)
    return s

"""Facts that passes attach to AST nodes, under one attribute (`_zp`)."""

from __future__ import annotations

KEY = "_zp"


def get(node, name, default=None):
    """The fact `name` of `node`, or `default`."""
    return getattr(node, KEY, {}).get(name, default)


def set_(node, name, value):
    """Attach fact `name` to `node`."""
    facts = getattr(node, KEY, None)
    if facts is None:
        facts = {}
        setattr(node, KEY, facts)
    facts[name] = value
    return node


def copy(src, dst):
    """Copy every fact from `src` to `dst` (and the source location)."""
    facts = getattr(src, KEY, None)
    if facts:
        setattr(dst, KEY, dict(facts))
    for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        if hasattr(src, attr) and not hasattr(dst, attr):
            setattr(dst, attr, getattr(src, attr))
    return dst

"""Where the lines of a flat function come from: its errors point at the
user's own lines (in the functions inlined into it)."""

from __future__ import annotations

import ast
import weakref

ORIGIN = weakref.WeakKeyDictionary()  # statement written -> (user line, file, function)


def origins(module, text):
    """Where each line of the flat function's `text` comes from: the user's
    line, file and function of the statement written there (`module`, the
    tree `text` was unparsed from, parses back to the same shape)."""
    out = {}
    again = ast.parse(text)
    written = [n for n in ast.walk(module) if isinstance(n, ast.stmt)]
    parsed = [n for n in ast.walk(again) if isinstance(n, ast.stmt)]
    for old, new in zip(written, parsed):
        origin = ORIGIN.get(old)
        if origin is not None:
            compound = hasattr(new, "body")  # (its body's lines are its statements')
            last = new.lineno if compound else (new.end_lineno or new.lineno)
            for line in range(new.lineno, last + 1):
                out[line] = origin  # (inner statements come later in the walk)
    return out

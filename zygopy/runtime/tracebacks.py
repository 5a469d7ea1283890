"""Exceptions raised inside generated code, pointed back at the user's source line.

The compiler registers, for each generated file, a map from its lines to the
user's lines (`register`). When an exception leaves a generated forward or
backward function, `point_at_user_line` finds the innermost generated frame
in its traceback, maps it to the user's file and line, and adds a note:

    ZeroDivisionError: float division by zero
    zygopy: raised in the backward pass (the gradient) of this line of f:
      File "model.py", line 4, in f
        b = a / (y - 2.0)
      generated code: File "<zygopy:f:12>", line 18, in f_backward (zygopy.source(f) prints it)

The exception keeps its type (`pytest.raises(ZeroDivisionError)` still
matches) and is annotated once, by the innermost compiled function it
crossed, however many compiled callers it then propagates through.
"""

from __future__ import annotations

import linecache
import sys
from dataclasses import dataclass

_MAPS: dict = {}  # generated filename -> LineMap
HINTS: dict = {}  # generated filename -> the call printing it, where not zygopy.source
_MARK = "_zygopy_located"  # set on an exception once it has its note
_HAS_NOTES = sys.version_info >= (3, 11)  # BaseException.add_note

FORWARD, BACKWARD = "forward", "backward"


@dataclass(frozen=True)
class LineMap:
    """Where the lines of one generated file come from."""

    function: str  # the user's name for the function (qualname)
    filename: str  # the user's file (a generated one for code compiled from it)
    lines: dict  # generated line -> (user line, FORWARD | BACKWARD[, file, function])


def register(filename: str, line_map: LineMap) -> None:
    """Record where the lines of generated `filename` come from."""
    _MAPS[filename] = line_map


def user_name(fn) -> str:
    """The name the user knows `fn` by: a function nested in generated code
    (a closure compiled from its parent's generated text) is named after the
    user's parent, `f.<locals>.inner`, not after the generated one."""
    outer = _MAPS.get(fn.__code__.co_filename)
    if outer is None or outer.function == fn.__qualname__:  # (the file's own function)
        return fn.__qualname__
    return f"{outer.function}.<locals>.{fn.__name__}"


def user_location(filename: str, lineno: int):
    """(function, user file, user line, phase) for a line of generated code,
    or None when `filename` is not generated code or the line has no user
    line. Code compiled from generated code maps through to the user's file.
    """
    line_map = _MAPS.get(filename)
    if line_map is None:
        return None
    entry = line_map.lines.get(lineno)
    if entry is None:
        return None
    line, phase, *where = entry  # (file, function) of the line where they vary
    filename, function = where if where else (line_map.filename, line_map.function)
    outer = user_location(filename, line)
    if outer is None:
        return function, filename, line, phase
    outer_function, outer_file, outer_line, outer_phase = outer
    # the forward of differentiated backward code still computes a gradient
    phase = BACKWARD if BACKWARD in (phase, outer_phase) else FORWARD
    if len(_MAPS[filename].lines.get(line, ())) > 2:  # code inlined from several
        function = outer_function  # functions (a specialised flat function): theirs
    return function, outer_file, outer_line, phase


def innermost(tb):
    """(traceback entry, user location) of the deepest traceback entry that
    lies in generated code with a known user line, or None."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in _MAPS:
            where = user_location(filename, tb.tb_lineno)
            if where is not None:
                found = (tb, where)
        tb = tb.tb_next
    return found


def note_for(exc) -> str | None:
    """The note naming the user's line for `exc`, or None if it did not pass
    through generated code with a known user line."""
    found = innermost(exc.__traceback__)
    if found is None:
        return None
    tb, (function, filename, line, phase) = found
    code = tb.tb_frame.f_code
    text = linecache.getline(filename, line).strip()
    what = "forward pass" if phase == FORWARD else "backward pass (the gradient)"
    top = _MAPS[code.co_filename].function.rsplit(".", 1)[-1]
    shows = HINTS.get(_MAPS[code.co_filename].filename, f"zygopy.source({top})")
    note = (
        f"zygopy: raised in the {what} of this line of {function}:\n"
        f'  File "{filename}", line {line}, in {function.rsplit(".", 1)[-1]}\n'
    )
    if text:
        note += f"    {text}\n"
    note += (f'  generated code: File "{code.co_filename}", line {tb.tb_lineno}, '
             f"in {code.co_name} ({shows} prints it)")
    return note


def point_at_user_line(exc: BaseException) -> None:
    """Add a note to `exc` naming the user's line it came from (once).

    Python >= 3.11 shows notes under the message. On 3.10, which has no
    notes, the text is appended to the message when the message is a
    string, so the exception keeps its type either way."""
    if getattr(exc, _MARK, False):
        return
    note = note_for(exc)
    if note is None:
        return
    try:
        setattr(exc, _MARK, True)
    except AttributeError:  # an exception type without a __dict__
        return
    if _HAS_NOTES:
        exc.add_note(note)
    elif exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n{note}",) + exc.args[1:]

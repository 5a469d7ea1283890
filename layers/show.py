"""Flux-style printing of models with parameter counts.

For layer authors, the whole API:

* ``__repr__`` of a simple layer: ``return layer_repr(self, f"Dense({i} => {o}, {act})")``
  gives ``Dense(10 => 5, sigmoid)  # 55 parameters``;
* ``__repr__`` of a container (Chain, Parallel...): ``return summary(self)``,
  the nested listing with per-layer counts and a total line;
* `count_parameters`, `format_count`, `format_bytes` for anything else.

Counts are scalars in floating-point arrays, tied arrays counted once;
"non-trainable" ones are those outside `trainable`/frozen fields (e.g. a
BatchNorm's running statistics).
"""

from __future__ import annotations

import re

from .functor import _object_fields, children, is_array, parameters, walk_arrays

COMMENT_COLUMN = 40
_UNITS = ("byte", "KiB", "MiB", "GiB", "TiB")


def format_count(n: int) -> str:
    """``5381 -> "5_381"`` (Flux's underscore thousands separator)."""
    return f"{int(n):_}"


def format_bytes(n: int) -> str:
    """Julia's ``Base.format_bytes``: ``"524 bytes"``, ``"22.449 KiB"``, ``"1.500 MiB"``."""
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(n)} byte{'' if n == 1 else 's'}"
    return f"{value:.3f} {_UNITS[unit]}"


def _float_arrays(model, trainable_only):
    if trainable_only:
        return parameters(model)
    return [(p, a) for p, a in walk_arrays(model) if a.dtype.kind in "fc"]


def count_parameters(model, trainable: bool = True) -> int:
    """Number of scalars in `model`'s parameters (with ``trainable=False``: in all
    floating-point arrays, trainable or not)."""
    return sum(int(a.size) for _, a in _float_arrays(model, trainable))


def _counts(model):
    train = parameters(model)
    ids = {id(a) for _, a in train}
    other = [a for _, a in _float_arrays(model, False) if id(a) not in ids]
    return (
        len(train),
        sum(a.size for _, a in train),
        len(other),
        sum(a.size for a in other),
    )


def parameter_comment(model) -> str:
    """``"# 55 parameters"`` (plus ``", plus 4 non-trainable"``); "" when there are none."""
    _, n, _, extra = _counts(model)
    if n == 0 and extra == 0:
        return ""
    text = f"# {format_count(n)} parameters"
    return text + (f", plus {format_count(extra)} non-trainable" if extra else "")


def layer_repr(model, text: str) -> str:
    """`text` followed by the parameter comment: ``Dense(2 => 3)  # 9 parameters``."""
    comment = parameter_comment(model)
    return f"{text}  {comment}" if comment else text


def total_comment(model) -> str:
    """``"# Total: 8 arrays, 5_381 parameters, 22.449 KiB."`` (Flux's total line)."""
    arrays, n, other_arrays, other = _counts(model)
    nbytes = sum(int(a.nbytes) for _, a in walk_arrays(model))
    if other_arrays:
        return (
            f"# Total: {arrays} trainable arrays, {format_count(n)} parameters, "
            f"plus {other_arrays} non-trainable, {format_count(other)} parameters, "
            f"{format_bytes(nbytes)}."
        )
    return f"# Total: {arrays} arrays, {format_count(n)} parameters, {format_bytes(nbytes)}."


def _is_layer(x):
    return not is_array(x) and bool(_object_fields(x))


def _items(x):
    """What a container shows: (label, child) for sub-layers and functions in lists."""
    if isinstance(x, (list, tuple)):
        return [(None, v) for v in x]
    if isinstance(x, dict):
        return [(str(k), v) for k, v in x.items()]
    out = []
    for name, v in children(x).items():
        if isinstance(v, (list, tuple)):
            out += [(None, item) for item in v]
        elif isinstance(v, dict):
            out += [(str(k), item) for k, item in v.items()]
        elif _is_layer(v) or isinstance(v, (list, tuple, dict)) or is_array(v):
            out.append((name, v))  # (an array held directly: a learned scale)
    return out


def _is_container(x):
    if isinstance(x, (list, tuple, dict)):
        return True
    return _is_layer(x) and any(
        _is_layer(v) or isinstance(v, (list, tuple, dict)) for _, v in _items(x)
    )


def _brackets(x):
    if isinstance(x, list):
        return "[", "]"
    if isinstance(x, tuple):
        return "(", ")"
    if isinstance(x, dict):
        return "{", "}"
    return f"{type(x).__name__}(", ")"


def _short(x):
    """One-line text of a non-container, without any trailing comment."""
    if _is_layer(x):
        if type(x).__repr__ in (object.__repr__, summary):  # (summary: `@layer`'s repr)
            shapes = ", ".join(
                f"{k}={tuple(v.shape)}" for k, v in children(x).items() if is_array(v)
            )
            return f"{type(x).__name__}({shapes})"
        return re.sub(r"\s+#.*$", "", repr(x).splitlines()[0])
    if is_array(x):
        return f"{x.dtype} array {tuple(x.shape)}"
    return getattr(x, "__name__", None) or repr(x)


def _line(text, comment, indent):
    text = " " * indent + text
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COLUMN - 1)} {comment}"


def _block(x, label, indent, lines):
    prefix = f"{label} = " if label else ""
    if not _is_container(x):
        comment = parameter_comment(x) if _is_layer(x) or is_array(x) else ""
        lines.append(_line(prefix + _short(x) + ",", comment, indent))
        return
    open_, close = _brackets(x)
    lines.append(" " * indent + prefix + open_)
    for name, child in _items(x):
        _block(child, name, indent + 2, lines)
    lines.append(" " * indent + close + ("," if indent else ""))


def summary(model) -> str:
    """The Flux-style listing of `model`: one line per layer with its parameter
    count, nested containers indented, and a total line::

        Chain(
          Dense(10 => 5, sigmoid),              # 55 parameters
          Dense(5 => 2),                        # 12 parameters
          softmax,
        )                                       # Total: 4 arrays, 67 parameters, 268 bytes.

    A model that is not a container prints as one line with its count.
    """
    if not _is_container(model):
        return layer_repr(model, _short(model))
    lines = []
    _block(model, None, 0, lines)
    lines[-1] = _line(lines[-1], total_comment(model), 0)
    return "\n".join(lines)

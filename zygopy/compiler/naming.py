"""Names in generated code: one place decides them (`f_forward`, `dx`, `_t3`)."""

from __future__ import annotations


def forward_name(fname: str) -> str:
    return f"{_clean(fname)}_forward"


def backward_name(fname: str) -> str:
    return f"{_clean(fname)}_backward"


def gradient_name(fname: str) -> str:
    return f"{_clean(fname)}_gradient"


def withgradient_name(fname: str) -> str:
    return f"{_clean(fname)}_withgradient"


def adjoint(var: str, prefix: str = "d") -> str:
    """The adjoint of `x` is `dx`; of a temporary `_t3`, `d_t3` (with the
    function's adjoint prefix, see `adjoint_prefix`)."""
    return f"{prefix}{var}"


def adjoint_prefix(names) -> str:
    """"d" (`dx` for `x`), unless the function already uses a name of that form
    (a variable `dx` beside `x`): then the first of "d_", "grad_", ... that
    makes no adjoint name collide with one of the function's names."""
    names = set(names)
    for prefix in ("d", "d_", "grad_", "adj_", "_adj_"):
        if not any(prefix + n in names for n in names):
            return prefix
    k = 1
    while any(f"_adj{k}_" + n in names for n in names):
        k += 1
    return f"_adj{k}_"


def pullback(var: str) -> str:
    return f"{var}_pb"


def _clean(name: str) -> str:
    """A Python identifier from a function's name: `<lambda>` -> `lambda`,
    `__call__` -> `call` (so `call_forward`, not `__call___forward`)."""
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
    return name.replace("<lambda>", "lambda").replace("<", "").replace(">", "").replace(".", "_")


class Fresh:
    """A supply of fresh temporary names that avoid the function's own names."""

    def __init__(self, taken, prefix="d"):
        self.taken = set(taken)
        self.created = set()
        self.count = 0
        self.prefix = prefix  # adjoint names of temporaries must be free too

    def __call__(self, stem="_t"):
        while True:
            self.count += 1
            name = f"{stem}{self.count}"
            if name not in self.taken and adjoint(name, self.prefix) not in self.taken:
                self.taken.add(name)
                self.created.add(name)
                return name

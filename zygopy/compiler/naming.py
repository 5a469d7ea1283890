"""Names in generated code: one place decides them (`f_forward`, `dx`, `_t3`)."""

from __future__ import annotations


def forward_name(fname: str) -> str:
    return f"{_clean(fname)}_forward"


def backward_name(fname: str) -> str:
    return f"{_clean(fname)}_backward"


def adjoint(var: str) -> str:
    """The adjoint of `x` is `dx`; of a temporary `_t3`, `d_t3`."""
    return f"d{var}"


def pullback(var: str) -> str:
    return f"{var}_pb"


def _clean(name: str) -> str:
    return name.replace("<lambda>", "lambda").replace("<", "").replace(">", "").replace(".", "_")


class Fresh:
    """A supply of fresh temporary names that avoid the function's own names."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.created = set()
        self.count = 0

    def __call__(self, stem="_t"):
        while True:
            self.count += 1
            name = f"{stem}{self.count}"
            if name not in self.taken and adjoint(name) not in self.taken:
                self.taken.add(name)
                self.created.add(name)
                return name

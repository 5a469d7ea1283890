"""Public API (being written): gradient, pullback, ... ."""

def _todo(*a, **k):
    raise NotImplementedError("compiler in progress")

Grads = Params = differentiable = grad = gradient = params = pullback = _todo
source = value_and_grad = withgradient = _todo

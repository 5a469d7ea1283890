"""The training loop `train`, its callbacks (`throttle`, `EarlyStopping`) and `stop`.

``train(loss, ps, data, opt)`` (implicit, old Flux ``train!``) or
``train(loss, model, data, opt)`` (explicit). Callbacks are called after each
batch with no arguments, like Flux's ``cb``; an object with an
``on_batch(info)`` method is called that way instead and receives a
`TrainInfo` (epoch, batch, loss, history). Raising `StopTraining` (``stop()``)
from a callback or the loss ends training cleanly.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from .optimisers import OptState, Rule, setup, update


class StopTraining(Exception):
    """Raised by `stop()`; `train` catches it and returns the history so far."""


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite during `train`."""


def stop():
    """End the current `train` call cleanly after this batch (Flux's ``Flux.stop()``)."""
    raise StopTraining()


@dataclass
class TrainInfo:
    """What an ``on_batch(info)`` callback sees: 1-based epoch and batch, last loss."""

    epoch: int
    batch: int
    loss: float
    history: list = field(default_factory=list)


def throttle(f, seconds, *, leading=True, clock=time.monotonic):
    """Wrap `f` so that it runs at most once every `seconds`; other calls return None.

    With ``leading=True`` the first call runs immediately.
    ``train(..., callbacks=[throttle(lambda: print(loss(x, y)), 10)])``.
    """
    last = [-math.inf if leading else clock()]

    def throttled(*args, **kwargs):
        now = clock()
        if now - last[0] >= seconds:
            last[0] = now
            return f(*args, **kwargs)
        return None

    throttled.__wrapped__ = f
    return throttled


class EarlyStopping:
    """Callback calling `stop()` when ``metric_fn()`` stops improving.

    Each call evaluates ``metric_fn()``; an improvement is a value better than
    the best so far by more than `min_delta` (lower for ``mode="min"``, higher
    for ``"max"``). After `patience` calls in a row without improvement it
    stops training. Wrap it in `throttle` (or evaluate on a validation set
    inside `metric_fn` only every so often) to control the cost.
    """

    def __init__(self, metric_fn, patience=5, min_delta=0.0, mode="min"):
        if mode not in ("min", "max"):
            raise ValueError(
                f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}"
            )
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.metric_fn, self.patience, self.min_delta, self.mode = (
            metric_fn,
            patience,
            min_delta,
            mode,
        )
        self.best, self.bad = None, 0

    def __call__(self):
        value = float(self.metric_fn())
        sign = 1.0 if self.mode == "min" else -1.0
        if self.best is None or sign * (self.best - value) > self.min_delta:
            self.best, self.bad = value, 0
            return
        self.bad += 1
        if self.bad >= self.patience:
            stop()


def _is_params(x):
    import zygopy

    P = getattr(zygopy, "Params", None)
    return isinstance(P, type) and isinstance(x, P)


def _default_gradient(f, x):
    """``zygopy.withgradient``: Grads for Params, else the model's structural gradient."""
    import zygopy

    value, grads = zygopy.withgradient(f, x)
    return (value, grads) if _is_params(x) else (value, grads[0])


def _value_and_grad(loss):
    import zygopy

    return zygopy.value_and_grad(loss)  # argnums=0: the model


def train(
    loss,
    model_or_params,
    data,
    opt,
    *,
    epochs=1,
    callbacks=(),
    progress=True,
    _gradient=None,
):
    """Run `epochs` passes over `data`, updating parameters after each batch.

    * implicit: `model_or_params` a ``zygopy.Params`` (``layers.params(model)``);
      per batch ``d``: ``loss(*d)`` (``loss(d)`` if ``d`` is not a tuple),
      gradient w.r.t. the params, ``update(opt, ps, grads)`` with a rule `opt`.
    * explicit: any other model; ``loss(model, *d)``; the structural
      gradient is applied with ``update(state, model, g)``; `opt` is a rule
      (fresh state from `setup`) or an `OptState` (advanced in place, so it can
      be reused by a later call).

    `data` is an iterable of batches, iterated again each epoch (an iterator
    such as ``zip(X, Y)`` is refused when ``epochs > 1``: it would be spent
    after the first). A loss that cannot be called with a batch, or a list
    given as the model, raises a TypeError saying the calling convention; a
    first batch giving no parameter a non-zero gradient (a loss that does not
    use the model it is given) warns once (UserWarning).

    Callbacks run after each batch (see module docs); `StopTraining` ends the
    run. A NaN/inf loss raises `NonFiniteLoss` naming the epoch and batch,
    before that batch's update. `progress` shows a tqdm bar (or a plain text
    line without tqdm). Returns the list of per-batch losses (floats).
    `_gradient(f, x) -> (loss value, gradient)` replaces zygopy (for tests).
    """
    gradient = _gradient or _default_gradient
    implicit = _is_params(model_or_params)
    # explicit style: d loss(model, *batch) / d model, the batch not differentiated
    value_and_grad = None if implicit or _gradient else _value_and_grad(loss)
    if implicit:
        if not isinstance(opt, Rule):
            raise TypeError(
                "implicit training with Params takes a rule such as Adam(), "
                f"not {type(opt).__name__}"
            )
    elif isinstance(opt, Rule):
        opt = setup(opt, model_or_params)
    elif not isinstance(opt, OptState):
        raise TypeError(
            f"train: opt must be a rule or an OptState, got {type(opt).__name__}"
        )
    _check_data(data, epochs)
    history = []
    bar = _progress(progress, epochs, _length(data))
    try:
        for epoch in range(1, epochs + 1):
            for batch, d in enumerate(data, start=1):
                args = d if isinstance(d, tuple) else (d,)
                try:
                    if value_and_grad is not None:
                        value, grads = value_and_grad(model_or_params, *args)
                    else:  # the closures are called at once, inside this iteration
                        if implicit:
                            f = lambda: loss(*args)  # noqa: B023
                        else:
                            f = lambda m: loss(m, *args)  # noqa: B023
                        value, grads = gradient(f, model_or_params)
                except TypeError as e:
                    _explain_call_error(e, loss, model_or_params, implicit, d)
                    raise
                if len(history) == 0:
                    _warn_if_no_gradient(model_or_params, grads, implicit)
                value = float(value)
                if not math.isfinite(value):
                    raise NonFiniteLoss(
                        f"loss is {value} at epoch {epoch}, batch {batch} (both counted "
                        "from 1); parameters were not updated with this batch. Possible "
                        "fixes: lower the learning rate, clip gradients "
                        "(OptimiserChain(ClipNorm(1.0), ...)), check the data for NaNs."
                    )
                update(opt, model_or_params, grads)
                history.append(value)
                bar.step(epoch, batch, value)
                if callbacks:
                    info = TrainInfo(epoch, batch, value, history)
                    for cb in callbacks:
                        cb.on_batch(info) if hasattr(cb, "on_batch") else cb()
    except StopTraining:
        pass
    finally:
        bar.close()
    return history


def _check_data(data, epochs):
    """Refuse an iterator (spent after one pass) when there are several epochs."""
    if epochs > 1 and isinstance(data, Iterator):
        raise ValueError(
            f"train: data is an iterator ({type(data).__name__}), which is used up "
            f"by the first epoch, so epochs 2 to {epochs} would train on nothing. "
            "Pass something that can be iterated again: a list of batches, e.g. "
            "list(zip(X, Y)) or [(X, Y)], or a DataLoader((X, Y), batchsize=...)."
        )


def _explain_call_error(error, loss, model, implicit, batch):
    """Raise a TypeError saying train's calling convention when `error` comes
    from calling `loss` with arguments it does not take; return otherwise
    (the caller re-raises `error`)."""
    args = batch if isinstance(batch, tuple) else (batch,)
    if not implicit and isinstance(model, (list, tuple)) \
            and getattr(error, "callee", None) is model:
        raise TypeError(
            f"train: the model is a {type(model).__name__} and the loss calls it; "
            "the model must be a model object (a layer, or Chain(layer_1, "
            "layer_2, ...) for layers in sequence) or zygopy.Params "
            "(layers.params(model), implicit style)"
        ) from error
    try:
        signature = inspect.signature(loss)
    except (TypeError, ValueError):  # a builtin or other callable without one
        return
    try:
        signature.bind(*args) if implicit else signature.bind(model, *args)
    except TypeError:
        pass
    else:
        return  # the loss takes these arguments: the error is from inside it
    if not isinstance(batch, tuple):
        fix = ("a batch that is not a tuple is one argument, so data=(X, Y) gives X "
               "and then Y as batches: pass [(X, Y)] or DataLoader((X, Y), "
               "batchsize=...)")
    elif implicit:
        fix = ("write the loss as loss(x, y), calling the model the Params were "
               "taken from, or pass the model itself (explicit style, "
               "loss(model, x, y))")
    else:
        fix = ("write the loss as loss(model, x, y), computing from the model it "
               "is given")
    style, call = ("Implicit-style train (given zygopy.Params)", "loss(*batch)") \
        if implicit else ("Explicit-style train (given a model)", "loss(model, *batch)")
    raise TypeError(
        f"train: cannot call the loss with this batch ({error}). {style} calls "
        f"{call} for each batch of data, data being an iterable of batches, each "
        "a tuple unpacked into the loss's arguments. Got a batch of "
        f"{_items(len(args))} ({', '.join(_describe(a) for a in args)}) for a "
        f"loss taking {signature}: {fix}."
    ) from error


def _items(n):
    return f"{n} item" + ("" if n == 1 else "s")


def _describe(x):
    """`an array of shape (16, 4)`, `a dict`: one batch item in an error."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"an array of shape {tuple(x.shape)}"
    kind = type(x).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _warn_if_no_gradient(model, grads, implicit):
    """Warn when the first batch gave every trainable parameter of a model that
    has some a missing or all-zero gradient: training would change nothing."""
    if implicit:
        if len(model) == 0:
            return
        found = grads.values() if hasattr(grads, "values") else grads
        fix = ("the Params must be taken from the model the loss calls: "
               "ps = layers.params(model), loss(x, y) calling that model")
    else:
        from .functor import gradient_pairs, parameters

        if not parameters(model):
            return
        found = [g for _, _, g in gradient_pairs(model, grads)]
        fix = ("explicit style calls loss(model, *batch): the loss must compute "
               "from the model it is given, e.g. lambda m, x, y: mse(m(x), y), not "
               "from a model defined outside it")
    if not any(_nonzero(g) for g in found):
        warnings.warn(
            "train: no parameter received a non-zero gradient from the first batch, "
            f"so training will not change the model. The likely cause: {fix}. "
            "(If a zero gradient is expected for this batch, ignore this warning.)",
            UserWarning,
            stacklevel=3,
        )


def _nonzero(g):
    """Whether a gradient has a non-zero entry (None or ZERO: none)."""
    from zygopy import ZERO

    if g is None or g is ZERO:
        return False
    if hasattr(g, "any"):
        return bool((g != 0).any())
    return g != 0


def _length(data):
    try:
        return len(data)
    except TypeError:
        return None


def _progress(enabled, epochs, per_epoch):
    if not enabled:
        return _Silent()
    try:
        import tqdm
    except ImportError:
        return _TextBar(epochs, per_epoch)
    return _Tqdm(tqdm, epochs, per_epoch)


class _Silent:
    def step(self, epoch, batch, loss):
        pass

    def close(self):
        pass


class _Tqdm:
    def __init__(self, tqdm, epochs, per_epoch):
        total = epochs * per_epoch if per_epoch is not None else None
        self.bar = tqdm.tqdm(total=total, unit="batch", dynamic_ncols=True)

    def step(self, epoch, batch, loss):
        self.bar.set_postfix(epoch=epoch, loss=f"{loss:.4g}", refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


class _TextBar:
    """One status line on stderr: epoch, batch, loss, elapsed and remaining time."""

    def __init__(self, epochs, per_epoch, stream=None, every=0.1):
        self.epochs, self.per_epoch, self.every = epochs, per_epoch, every
        self.stream = stream or sys.stderr
        self.start = self.last = time.monotonic()
        self.done, self.line = 0, ""

    def step(self, epoch, batch, loss):
        self.done += 1
        now = time.monotonic()
        elapsed = now - self.start
        of = f"/{self.per_epoch}" if self.per_epoch else ""
        eta = ""
        if self.per_epoch:
            left = self.epochs * self.per_epoch - self.done
            eta = f"  eta {elapsed / self.done * left:.1f}s"
        self.line = (
            f"epoch {epoch}/{self.epochs}  batch {batch}{of}  loss {loss:.4g}  "
            f"elapsed {elapsed:.1f}s{eta}"
        )
        if now - self.last >= self.every or self.done == 1:
            self.last = now
            self.stream.write("\r" + self.line)
            self.stream.flush()

    def close(self):
        if self.line:
            self.stream.write("\r" + self.line + "\n")
            self.stream.flush()

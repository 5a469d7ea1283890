"""The training loop `train`, its callbacks (`throttle`, `EarlyStopping`) and `stop`.

``train(loss, ps, data, opt)`` (implicit, old Flux ``train!``) or
``train(loss, model, data, opt)`` (explicit). Callbacks are called after each
batch with no arguments, like Flux's ``cb``; an object with an
``on_batch(info)`` method is called that way instead and receives a
`TrainInfo` (epoch, batch, loss, history). Raising `StopTraining` (``stop()``)
from a callback or the loss ends training cleanly.
"""

from __future__ import annotations

import math
import sys
import time
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
    history = []
    bar = _progress(progress, epochs, _length(data))
    try:
        for epoch in range(1, epochs + 1):
            for batch, d in enumerate(data, start=1):
                args = d if isinstance(d, tuple) else (d,)
                if value_and_grad is not None:
                    value, grads = value_and_grad(model_or_params, *args)
                else:  # the closures are called at once, inside this iteration
                    if implicit:
                        f = lambda: loss(*args)  # noqa: B023
                    else:
                        f = lambda m: loss(m, *args)  # noqa: B023
                    value, grads = gradient(f, model_or_params)
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
                info = TrainInfo(epoch, batch, value, history)
                for cb in callbacks:
                    cb.on_batch(info) if hasattr(cb, "on_batch") else cb()
    except StopTraining:
        pass
    finally:
        bar.close()
    return history


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

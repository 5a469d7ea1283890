"""Learning-rate schedules and `Scheduler`, the rule that applies them.

A schedule is any callable ``s(t) -> value`` of the step count ``t = 0, 1, 2, ...``
(0 for the first update). The classes here compose: `Warmup` and `Sequence`
wrap other schedules, and any callable works where a schedule is expected.
``Scheduler(Adam(), eta=Cosine(1e-3, 1e-5, period=1000))`` sets Adam's ``eta``
from the schedule at every step (ParameterSchedulers.jl's ``Scheduler``).
"""

from __future__ import annotations

import math

from .rules import Rule


class Schedule:
    """Base class: ``schedule(t)`` gives the value at step ``t`` (0-based)."""

    def __call__(self, t: int) -> float:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``s(t) = value``."""

    def __init__(self, value):
        self.value = value

    def __call__(self, t):
        return self.value


class Step(Schedule):
    """Step decay: ``s(t) = start · decay^⌊t / step_size⌋``."""

    def __init__(self, start, decay=0.5, step_size=1000):
        if step_size < 1:
            raise ValueError(f"Step: step_size={step_size} must be >= 1")
        self.start, self.decay, self.step_size = start, decay, step_size

    def __call__(self, t):
        return self.start * self.decay ** (t // self.step_size)


class Exponential(Schedule):
    """Exponential decay: ``s(t) = start · decay^t``."""

    def __init__(self, start, decay=0.999):
        self.start, self.decay = start, decay

    def __call__(self, t):
        return self.start * self.decay**t


class Cosine(Schedule):
    """Cosine annealing from ``start`` to ``end`` over ``period`` steps:
    ``s(t) = end + (start - end)(1 + cos(π τ / period)) / 2`` with
    ``τ = t mod period`` (``restart=True``) or ``min(t, period)``."""

    def __init__(self, start, end=0.0, period=1000, restart=True):
        if period < 1:
            raise ValueError(f"Cosine: period={period} must be >= 1")
        self.start, self.end, self.period, self.restart = start, end, period, restart

    def __call__(self, t):
        tau = t % self.period if self.restart else min(t, self.period)
        return (
            self.end
            + (self.start - self.end) * (1 + math.cos(math.pi * tau / self.period)) / 2
        )


class Warmup(Schedule):
    """Linear warm-up for ``steps`` steps, then ``schedule``:
    ``s(t) = start + (schedule(0) - start) · t / steps`` for ``t < steps``,
    else ``schedule(t - steps)``."""

    def __init__(self, schedule, steps, start=0.0):
        if steps < 0:
            raise ValueError(f"Warmup: steps={steps} must be >= 0")
        self.schedule = schedule if callable(schedule) else Constant(schedule)
        self.steps, self.start = steps, start

    def __call__(self, t):
        if t < self.steps:
            return self.start + (self.schedule(0) - self.start) * t / self.steps
        return self.schedule(t - self.steps)


class Sequence(Schedule):
    """Schedules one after the other: ``Sequence((s1, n1), (s2, n2), ..., last)``.

    Runs ``s1`` for ``n1`` steps, then ``s2`` (restarted at 0) for ``n2``, ...;
    an optional final schedule without a length runs forever (else the last
    one continues).
    """

    def __init__(self, *parts):
        self.parts = [p if isinstance(p, tuple) else (p, math.inf) for p in parts]
        if not self.parts:
            raise ValueError("Sequence needs at least one schedule")

    def __call__(self, t):
        for schedule, n in self.parts[:-1]:
            if t < n:
                return schedule(t)
            t -= n
        return self.parts[-1][0](t)


class Scheduler(Rule):
    """Wrap a rule and set hyperparameters from schedules at each step.

    ``Scheduler(Adam(), eta=Exponential(1e-3, 0.99))``; any hyperparameter
    (``eta``, ``rho``, ``decay``...) may be scheduled; on an `OptimiserChain` the
    value goes to every member that has the field. The state is
    ``(t, inner_state)``, counted per parameter.
    """

    def __init__(self, rule, **schedules):
        if not isinstance(rule, Rule):
            raise TypeError(f"Scheduler wraps a rule, got {type(rule).__name__}")
        if not schedules:
            raise TypeError("Scheduler needs at least one schedule, e.g. eta=Step(0.1)")
        for name, s in schedules.items():
            if not callable(s):
                raise TypeError(
                    f"Scheduler: {name}= must be a schedule (a callable of t)"
                )
        self.rule, self.schedules = rule, schedules

    def rule_at(self, t):
        """The wrapped rule with its hyperparameters set for step ``t``."""
        from .update import adjust

        return adjust(self.rule, **{k: s(t) for k, s in self.schedules.items()})

    def init(self, param):
        return 0, self.rule.init(param)

    def apply(self, state, param, grad):
        t, inner = state
        inner, update = self.rule_at(t).apply(inner, param, grad)
        return (t + 1, inner), update

    def __eq__(self, other):
        return (
            isinstance(other, Scheduler)
            and self.rule == other.rule
            and self.schedules == other.schedules
        )

    __hash__ = None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.schedules.items())
        return f"Scheduler({self.rule!r}, {args})"

"""Optimiser rules against hand-written formulas, convergence, chains, schedules, styles."""

import numpy as np
import pytest

import layers.optimisers as O
from zygopy import Tangent

X0 = np.array([0.5, -1.0, 2.0])
GRADS = [
    np.array([0.1, -0.2, 0.3]),
    np.array([-0.4, 0.5, 0.06]),
    np.array([0.7, -0.08, -0.9]),
]


def run(rule, x0=X0, grads=GRADS):
    """Three implicit steps with fixed gradients; returns the iterates."""
    x = x0.copy()
    out = []
    for g in grads:
        O.update(rule, [x], [g])
        out.append(x.copy())
    return out


def reference(step, x0=X0, grads=GRADS):
    """Iterates of `x -= step(t, x, g)`, t = 1, 2, 3 (step keeps its own state)."""
    x = x0.copy()
    out = []
    for t, g in enumerate(grads, start=1):
        x = x - step(t, x, g)
        out.append(x.copy())
    return out


def momentum_ref(eta, rho):
    v = np.zeros(3)

    def step(t, x, g):
        nonlocal v
        v = rho * v + eta * g
        return v

    return step


def nesterov_ref(eta, rho):
    v = np.zeros(3)

    def step(t, x, g):
        nonlocal v
        d = -(rho**2) * v + (1 + rho) * eta * g
        v = rho * v - eta * g
        return d

    return step


def rmsprop_ref(eta, rho, eps):
    s = np.zeros(3)

    def step(t, x, g):
        nonlocal s
        s = rho * s + (1 - rho) * g**2
        return eta * g / (np.sqrt(s) + eps)

    return step


def adam_family_ref(kind, eta=0.001, b1=0.9, b2=0.999, eps=1e-8, decay=0.0):
    m, v = np.zeros(3), np.zeros(3)
    vmax = np.full(3, eps)

    def step(t, x, g):
        nonlocal m, v, vmax
        m = b1 * m + (1 - b1) * g
        if kind == "adamax":
            v = np.maximum(b2 * v, np.abs(g))
            return eta / (1 - b1**t) * m / (v + eps)
        if kind == "adabelief":
            v = b2 * v + (1 - b2) * (g - m) ** 2 + eps
        else:
            v = b2 * v + (1 - b2) * g**2
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        if kind in ("adam", "adabelief"):
            return eta * mhat / (np.sqrt(vhat) + eps)
        if kind == "adamw":
            return eta * (mhat / (np.sqrt(vhat) + eps) + decay * x)
        if kind == "nadam":
            num = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
            return eta * num / (np.sqrt(b2 * v / (1 - b2**t)) + eps)
        if kind == "radam":
            rinf = 2 / (1 - b2) - 1
            r = rinf - 2 * t * b2**t / (1 - b2**t)
            if r <= 4:
                return eta * mhat
            rect = np.sqrt((r - 4) * (r - 2) * rinf / ((rinf - 4) * (rinf - 2) * r))
            return eta * rect * mhat / (np.sqrt(vhat) + eps)
        raise AssertionError(kind)

    return step


def amsgrad_ref(eta=0.001, b1=0.9, b2=0.999, eps=1e-8):
    m, v, vmax = np.full(3, eps), np.full(3, eps), np.full(3, eps)

    def step(t, x, g):
        nonlocal m, v, vmax
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        return eta * m / (np.sqrt(vmax) + eps)

    return step


def adagrad_ref(eta=0.1, eps=1e-8):
    acc = np.full(3, eps)

    def step(t, x, g):
        nonlocal acc
        acc = acc + g**2
        return eta * g / (np.sqrt(acc) + eps)

    return step


def adadelta_ref(rho=0.9, eps=1e-8):
    acc, dacc = np.zeros(3), np.zeros(3)

    def step(t, x, g):
        nonlocal acc, dacc
        acc = rho * acc + (1 - rho) * g**2
        d = g * np.sqrt(dacc + eps) / np.sqrt(acc + eps)
        dacc = rho * dacc + (1 - rho) * d**2
        return d

    return step


def lion_ref(eta=0.001, b1=0.9, b2=0.999):
    m = np.zeros(3)

    def step(t, x, g):
        nonlocal m
        c = b1 * m + (1 - b1) * g
        m = b2 * m + (1 - b2) * g
        return eta * np.sign(c)

    return step


CASES = [
    (O.Descent(), lambda: lambda t, x, g: 0.1 * g),
    (O.Descent(0.3), lambda: lambda t, x, g: 0.3 * g),
    (O.Momentum(), lambda: momentum_ref(0.01, 0.9)),
    (O.Nesterov(), lambda: nesterov_ref(0.001, 0.9)),
    (O.Nesterov(0.1, 0.5), lambda: nesterov_ref(0.1, 0.5)),
    (O.RMSProp(), lambda: rmsprop_ref(0.001, 0.9, 1e-8)),
    (O.Adam(), lambda: adam_family_ref("adam")),
    (
        O.Adam(0.1, (0.8, 0.9), 1e-3),
        lambda: adam_family_ref("adam", 0.1, 0.8, 0.9, 1e-3),
    ),
    (O.AdamW(0.01, decay=0.1), lambda: adam_family_ref("adamw", eta=0.01, decay=0.1)),
    (O.RAdam(), lambda: adam_family_ref("radam")),
    (O.RAdam(beta=(0.9, 0.5)), lambda: adam_family_ref("radam", b2=0.5)),
    (O.NAdam(), lambda: adam_family_ref("nadam")),
    (O.AdaMax(), lambda: adam_family_ref("adamax")),
    (O.AMSGrad(), lambda: amsgrad_ref()),
    (O.AdaGrad(), lambda: adagrad_ref()),
    (O.AdaDelta(), lambda: adadelta_ref()),
    (O.AdaBelief(), lambda: adam_family_ref("adabelief", eps=1e-16)),
    (O.Lion(), lambda: lion_ref()),
    (O.WeightDecay(0.1), lambda: lambda t, x, g: g + 0.1 * x),
    (O.ClipGrad(0.2), lambda: lambda t, x, g: np.clip(g, -0.2, 0.2)),
]


@pytest.mark.parametrize(
    "rule,ref", CASES, ids=lambda c: repr(c) if isinstance(c, O.Rule) else ""
)
def test_three_steps_match_formula(rule, ref):
    got, want = run(rule), reference(ref())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_rmsprop_centred():
    eta, rho, eps = 0.01, 0.9, 1e-8
    s, mu = np.zeros(3), np.zeros(3)

    def step(t, x, g):
        nonlocal s, mu
        s = rho * s + (1 - rho) * g**2
        mu = rho * mu + (1 - rho) * g
        return eta * g / (np.sqrt(s - mu**2) + eps)

    for a, b in zip(run(O.RMSProp(eta, centred=True)), reference(step)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adamw_decoupled():
    rule = O.AdamW(0.01, decay=0.1, couple=False)
    adam = adam_family_ref("adam", eta=1.0)
    want = reference(lambda t, x, g: 0.01 * adam(t, x, g) + 0.1 * x)
    for a, b in zip(run(rule), want):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_defaults_follow_flux():
    assert O.Adam() == O.Adam(eta=0.001, beta=(0.9, 0.999), eps=1e-8)
    assert O.Descent().eta == 0.1 and O.Momentum() == O.Momentum(0.01, 0.9)
    assert O.AdaGrad().eta == 0.1 and O.AdaBelief().eps == 1e-16
    assert O.WeightDecay().decay == 5e-4 and O.ClipGrad().delta == 10.0


ALL_RULES = [
    O.Descent(0.1),
    O.Momentum(0.05),
    O.Nesterov(0.05),
    O.RMSProp(0.01),
    O.Adam(0.05),
    O.AdamW(0.05, decay=1e-3),
    O.RAdam(0.05),
    O.NAdam(0.05),
    O.AdaMax(0.05),
    O.AMSGrad(0.05),
    O.AdaGrad(0.5),
    O.AdaDelta(0.9, 1e-2),
    O.AdaBelief(0.05),
    O.Lion(0.03),
    O.OptimiserChain(O.ClipNorm(1.0), O.Adam(0.05)),
    O.OptimiserChain(O.ClipGlobalNorm(1.0), O.Descent(0.1)),
    O.OptimiserChain(O.WeightDecay(1e-3), O.ClipGrad(1.0), O.Momentum(0.05)),
    O.Scheduler(O.Adam(), eta=O.Exponential(0.05, 0.999)),
]


@pytest.mark.parametrize("rule", ALL_RULES, ids=repr)
def test_every_rule_reduces_a_quadratic(rule):
    """loss = Σ aᵢ (xᵢ - cᵢ)² / 2 falls below 10% of its start within 300 steps."""
    a, c = np.array([1.0, 3.0, 0.5], np.float32), np.array([1.0, -2.0, 0.5], np.float32)
    x = np.zeros(3, np.float32)
    loss = lambda: float(np.sum(a * (x - c) ** 2) / 2)
    start = loss()
    for _ in range(300):
        O.update(rule, x, a * (x - c))
    assert x.dtype == np.float32
    assert loss() < 0.1 * start, (rule, loss(), start)


def test_apply_never_mutates_param_or_state():
    x, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    for rule in ALL_RULES:
        state = rule.init(x)
        before = repr(state)
        rule.apply(state, x, g)
        assert np.all(x == 1) and repr(state) == before, rule


@pytest.mark.parametrize(
    "rule", ALL_RULES + [O.AdamW(0.05, decay=0.1, couple=False)], ids=repr
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_step_matches_apply(rule, dtype):
    """`rule.step` (what update calls, in place) follows `apply` step by step,
    also for a non-contiguous gradient (the transposed gradient of a weight)."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 3)).astype(dtype)
    grads = [rng.standard_normal((3, 4)).astype(dtype).T for _ in range(4)]
    x_ref, x = x0.copy(), x0.copy()
    s_ref, s = rule.init(x_ref), rule.init(x)
    for g in grads:
        s_ref, upd = rule.apply(s_ref, x_ref, g)
        x_ref = x_ref - upd
        s = rule.step(s, x, g)
        assert x.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(x, x_ref, rtol=tol, atol=tol)


def test_update_makes_transposed_gradients_contiguous():
    W = np.zeros((3, 4), np.float32)
    g = np.ones((4, 3), np.float32).T  # F-ordered, as d(x @ W.T)/dW comes back
    rule = O.Adam(0.1)
    O.update(rule, W, g)
    np.testing.assert_allclose(W, -0.1, rtol=1e-5)


def test_update_keeps_float32():
    for rule in ALL_RULES:
        x = np.ones(4, np.float32)
        state, upd = rule.init(x), None
        state, upd = rule.apply(state, x, np.ones(4, np.float32))
        assert upd.dtype == np.float32, rule


def test_chain_applies_in_order():
    rule = O.OptimiserChain(O.ClipGrad(1.0), O.Descent(0.1))
    x = np.zeros(3)
    O.update(rule, x, np.array([0.3, 1.0, 7.0]))
    np.testing.assert_allclose(x, [-0.03, -0.1, -0.1])
    assert O.OptimiserChain().apply((), x, np.ones(3))[1].tolist() == [1, 1, 1]


def test_clipnorm():
    rule = O.ClipNorm(1.0)
    _, upd = rule.apply(None, np.zeros(2), np.array([3.0, 4.0]))
    np.testing.assert_allclose(upd, [0.6, 0.8])
    _, upd = rule.apply(None, np.zeros(2), np.array([0.3, 0.4]))
    np.testing.assert_allclose(upd, [0.3, 0.4])
    with pytest.raises(FloatingPointError, match="norm"):
        rule.apply(None, np.zeros(2), np.array([np.nan, 1.0]))


def test_clip_global_norm_uses_all_parameters():
    W, b = np.zeros(2), np.zeros(1)
    rule = O.OptimiserChain(O.ClipGlobalNorm(1.0), O.Descent(1.0))
    O.update(rule, [W, b], [np.array([3.0, 0.0]), np.array([4.0])])
    np.testing.assert_allclose(np.concatenate([W, b]), [-0.6, 0.0, -0.8])
    with pytest.raises(ValueError, match="first rule"):
        O.setup(O.OptimiserChain(O.Descent(), O.ClipGlobalNorm()), {"w": W})


def _clipped_step(rule, implicit):
    W, g = np.zeros(2), np.array([30.0, 40.0])  # global norm 50
    if implicit:
        O.update(rule, [W], [g])
    else:
        O.update(O.setup(rule, {"w": W}), {"w": W}, {"w": g})
    return -W


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_clip_global_norm_nested_or_scheduled(implicit):
    nested = O.OptimiserChain(O.OptimiserChain(O.ClipGlobalNorm(1.0), O.Descent(1.0)))
    np.testing.assert_allclose(_clipped_step(nested, implicit), [0.6, 0.8])
    # the schedule's omega is the one used, step by step
    scheduled = O.Scheduler(O.OptimiserChain(O.ClipGlobalNorm(1.0), O.Descent(1.0)),
                            omega=lambda t: 100.0)
    np.testing.assert_allclose(_clipped_step(scheduled, implicit), [30.0, 40.0])
    late = O.OptimiserChain(O.WeightDecay(0.0), O.OptimiserChain(O.ClipGlobalNorm(), O.Descent()))
    with pytest.raises(ValueError, match="first rule"):
        _clipped_step(late, implicit)


def test_a_scheduled_global_clip_follows_its_step_count():
    W = np.zeros(2)
    rule = O.Scheduler(O.OptimiserChain(O.ClipGlobalNorm(1.0), O.Descent(1.0)),
                       omega=lambda t: [1.0, 10.0, 100.0][t])
    state = O.setup(rule, {"w": W})
    steps = []
    for _ in range(3):
        before = W.copy()
        O.update(state, {"w": W}, {"w": np.array([30.0, 40.0])})
        steps.append(np.linalg.norm(before - W))
    np.testing.assert_allclose(steps, [1.0, 10.0, 50.0])


def test_update_of_a_model_without_setup_says_what_to_do():
    from layers import Dense

    m = Dense(2, 1)
    g = Tangent(Dense, weight=np.ones((1, 2)), bias=np.ones(1), activation=None)
    with pytest.raises(TypeError, match=r"needs the optimiser state first: state = setup"):
        O.update(O.Descent(0.1), m, g)


def test_implicit_state_kept_per_identity():
    W, b = np.zeros(2), np.zeros(2)
    rule = O.Momentum(1.0, 0.5)
    for _ in range(2):
        O.update(rule, [W, b], {id(W): np.ones(2), id(b): None})
    np.testing.assert_allclose(W, [-2.5, -2.5])  # v=1, then v=1.5
    assert np.all(b == 0)


class GradsLike:
    def __init__(self, d):
        self.d = d

    def __getitem__(self, p):
        return self.d[id(p)]


def test_implicit_accepts_grads_lookup_and_zero():
    from zygopy import ZERO

    W, b = np.zeros(2), np.zeros(2)
    O.update(O.Descent(1.0), [W, b], GradsLike({id(W): np.ones(2), id(b): ZERO}))
    assert W.tolist() == [-1, -1] and b.tolist() == [0, 0]


class Dense:
    def __init__(self, n, m):
        self.weight = np.ones((m, n), np.float32)
        self.bias = np.zeros(m, np.float32)
        self.activation = np.tanh


def test_explicit_setup_update():
    model = {"layers": [Dense(2, 3), Dense(3, 1)]}
    state = O.setup(O.Descent(0.5), model)
    assert list(state.leaves) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]
    g = {
        "layers": [
            Tangent(Dense, weight=np.ones((3, 2)), bias=None, activation=None),
            None,
        ]
    }
    W = model["layers"][0].weight
    _, model2 = O.update(state, model, g)
    assert model2 is model and model["layers"][0].weight is W
    assert np.all(W == 0.5) and W.dtype == np.float32
    assert np.all(model["layers"][1].weight == 1)


def test_explicit_tied_weights_sum_gradients():
    a, b = Dense(2, 2), Dense(2, 2)
    b.weight = a.weight
    model = [a, b]
    state = O.setup(O.Descent(1.0), model)
    assert "1.weight" not in state.leaves
    g = [
        Tangent(Dense, weight=np.ones((2, 2)), bias=None),
        Tangent(Dense, weight=np.full((2, 2), 2.0), bias=None),
    ]
    O.update(state, model, g)
    assert np.all(a.weight == -2)


def test_explicit_errors_are_clear():
    model = [Dense(2, 2)]
    state = O.setup(O.Adam(), model)
    with pytest.raises(ValueError, match="shape"):
        O.update(state, model, [Tangent(Dense, weight=np.ones(3))])
    with pytest.raises(TypeError, match=r"\[0\]"):
        O.update(O.setup(O.Adam(), model[0]), model[0], (Tangent(Dense),))
    with pytest.raises(TypeError, match="OptState"):
        O.update("adam", model, None)


def test_adjust():
    rule = O.Adam()
    new = O.adjust(rule, lr=0.1, beta=(0.8, 0.9))
    assert new.eta == 0.1 and new.beta == (0.8, 0.9) and rule.eta == 0.001
    chain = O.adjust(O.OptimiserChain(O.WeightDecay(), O.Adam()), lr=0.5)
    assert chain.rules[1].eta == 0.5 and chain.rules[0].decay == 5e-4
    with pytest.raises(TypeError, match="no hyperparameter 'rho'"):
        O.adjust(rule, rho=0.1)
    model = [Dense(1, 1)]
    state = O.setup(O.Momentum(), model)
    O.update(state, model, [Tangent(Dense, weight=np.ones((1, 1)), bias=None)])
    state2 = O.adjust(state, lr=0.1)
    assert state2["0.weight"].rule.eta == 0.1
    assert state2["0.weight"].state is state["0.weight"].state


def test_adjust_keeps_implicit_state():
    W = np.zeros(1)
    rule = O.Momentum(1.0, 1.0)
    O.update(rule, W, np.ones(1))
    rule = O.adjust(rule, lr=0.0)
    O.update(rule, W, np.ones(1))  # v = 1*v + 0*g: still moves by the old velocity
    assert W.tolist() == [-2.0]


def test_schedules():
    assert [O.Step(1.0, 0.5, 2)(t) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert O.Exponential(2.0, 0.5)(3) == 0.25
    cos = O.Cosine(1.0, 0.0, period=4)
    np.testing.assert_allclose(
        [cos(t) for t in range(5)], [1, 0.85355339, 0.5, 0.14644661, 1]
    )
    assert O.Cosine(1.0, 0.0, 4, restart=False)(9) == 0.0
    warm = O.Warmup(O.Constant(1.0), steps=4)
    assert [warm(t) for t in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    seq = O.Sequence((O.Constant(1.0), 2), O.Exponential(0.5, 0.5))
    assert [seq(t) for t in range(4)] == [1, 1, 0.5, 0.25]


def test_scheduler_drives_eta():
    rule = O.Scheduler(O.Descent(), eta=O.Step(1.0, 0.5, 1))
    x = np.zeros(1)
    for _ in range(3):
        O.update(rule, x, np.ones(1))
    assert x.tolist() == [-1.75]
    with pytest.raises(TypeError, match="schedule"):
        O.Scheduler(O.Descent())


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="eta"):
        O.Adam(-1.0)
    with pytest.raises(ValueError, match="beta"):
        O.Adam(beta=(0.9, 1.0))


def test_adam_moments_are_aligned_zeros_laid_out_like_the_parameter():
    """64-byte aligned buffers for C-ordered parameters (faster elementwise
    passes); an F-ordered parameter keeps its layout."""
    rule = O.Adam()
    c = np.ones((7, 5), np.float32)
    m, v, _ = rule.init(c)
    assert m.ctypes.data % 64 == 0 and v.ctypes.data % 64 == 0
    assert m.dtype == np.float32 and m.shape == c.shape and not m.any()
    assert rule._scratch(c).ctypes.data % 64 == 0
    f = np.asfortranarray(np.ones((7, 5)))
    m, _, _ = rule.init(f)
    assert m.flags.f_contiguous and not m.any()


def _grads_like(model, rng, skip=()):
    """A structural gradient of a dict of Dense layers: random arrays, None
    for the layers named in `skip`."""
    return {k: None if k in skip else Tangent(Dense, weight=rng.standard_normal(d.weight.shape)
                                               .astype(d.weight.dtype),
                                               bias=rng.standard_normal(d.bias.shape)
                                               .astype(d.bias.dtype), activation=None)
            for k, d in model.items()}


def _model(seed):
    from layers import f64, set_seed

    set_seed(seed)
    return {"a": Dense(3, 4), "big": Dense(200, 100), "c": Dense(4, 2),
            "d": f64(Dense(2, 5)), "e": f64(Dense(5, 1))}


@pytest.mark.parametrize("seed", [0, 1])
def test_small_adam_parameters_stepped_together_match_one_by_one(monkeypatch, seed):
    """Parameters small enough to be stepped together (one flat array per
    rule, dtype and step count) end bitwise where stepping each alone puts
    them, through skipped layers (their step counts fall behind), a second
    dtype, a large parameter, an `adjust`, and moments reloaded in place."""
    from layers.optimisers import together

    runs, default = {}, together.SMALL
    for small in (default, 0):  # 0: every parameter stepped alone
        monkeypatch.setattr(together, "SMALL", small)
        rng = np.random.default_rng(seed)
        model = _model(seed)
        state = O.setup(O.Adam(0.01), model)
        for step in range(6):
            skip = {"c"} if step in (2, 3) else set()
            O.update(state, model, _grads_like(model, rng, skip))
            if step == 3:
                state = O.adjust(state, lr=0.003)
            if step == 4:  # a load copies saved moments into the states' arrays
                m = state["a.weight"].state[0]
                m[...] = m * 0.5
        runs[small] = (model, state)
    (grouped, gstate), (alone, astate) = runs[default], runs[0]
    assert getattr(gstate, "_together", None) is not None  # (grouping did happen)
    assert getattr(astate, "_together", None) is None
    for k in grouped:
        for field in ("weight", "bias"):
            a, b = getattr(grouped[k], field), getattr(alone[k], field)
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b, err_msg=f"{k}.{field}")
    for path, leaf in gstate.leaves.items():
        for a, b in zip(leaf.state[:2], astate[path].state[:2]):
            np.testing.assert_array_equal(a, b, err_msg=path)
        assert leaf.state[2] == astate[path].state[2]


def _scenario(name, rng, model, state):
    """Steps of one scenario; returns the states to compare (the last in use)."""
    import copy
    import pickle

    from layers import f64

    def step(st):
        O.update(st, model, _grads_like(model, rng))

    step(state)
    if name == "adjust, both states stepped":
        new = O.adjust(state, lr=0.003)
        for _ in range(2):
            step(new)
            step(state)
        return [state, new]
    if name == "adjust before any step":
        new = O.adjust(O.setup(O.Adam(0.01), model), lr=0.003)
        step(new)
        return [new]
    if name in ("deepcopy", "pickle"):
        twin = copy.deepcopy(state) if name == "deepcopy" else \
            pickle.loads(pickle.dumps(state))
        for _ in range(2):
            step(twin)
        return [state, twin]
    if name == "f64 after setup":
        model.update(f64(model))  # (the moments stay float32, as one by one)
        step(state)
        return [state]
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["adjust, both states stepped", "adjust before any step",
                                  "deepcopy", "pickle", "f64 after setup"])
def test_grouped_adam_in_scenarios_matches_one_by_one(monkeypatch, name):
    """Copies, pickles, adjusted states (which share the moments, as their
    docstring says) and a dtype changed after setup give bitwise the same
    parameters and moments grouped as stepped one by one."""
    from layers.optimisers import together

    runs, default = {}, together.SMALL
    for small in (default, 0):
        monkeypatch.setattr(together, "SMALL", small)
        model = {"a": Dense(3, 4), "c": Dense(4, 2)}
        state = O.setup(O.Adam(0.01), model)
        runs[small] = (model, _scenario(name, np.random.default_rng(0), model, state))
    (gm, gs), (am, as_) = runs[default], runs[0]
    for k in gm:
        np.testing.assert_array_equal(gm[k].weight, am[k].weight, err_msg=k)
        np.testing.assert_array_equal(gm[k].bias, am[k].bias, err_msg=k)
    for g_state, a_state in zip(gs, as_):
        for path, leaf in g_state.leaves.items():
            for a, b in zip(leaf.state[:2], a_state[path].state[:2]):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b, err_msg=path)
            assert leaf.state[2] == a_state[path].state[2]


def test_a_read_only_parameter_is_refused_before_anything_changes():
    model = {"a": Dense(3, 4), "c": Dense(4, 2)}
    state = O.setup(O.Adam(0.01), model)
    rng = np.random.default_rng(0)
    O.update(state, model, _grads_like(model, rng))
    before = [np.copy(a) for leaf in state.leaves.values() for a in leaf.state[:2]]
    weights = [np.copy(d.weight) for d in model.values()]
    model["c"].weight.flags.writeable = False
    with pytest.raises(ValueError, match=r"'c.weight' is read-only"):
        O.update(state, model, _grads_like(model, rng))
    after = [a for leaf in state.leaves.values() for a in leaf.state[:2]]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.array_equal(w, d.weight) for w, d in zip(weights, model.values()))


def test_grouped_moments_are_views_the_state_shows():
    """After a step together, each leaf's moments are views of one buffer,
    shaped like its parameter; replacing a leaf's state regroups from it."""
    model = {"a": Dense(3, 4), "c": Dense(4, 2)}
    state = O.setup(O.Adam(), model)
    rng = np.random.default_rng(0)
    O.update(state, model, _grads_like(model, rng))
    m = state["a.weight"].state[0]
    assert m.shape == (4, 3) and m.base is not None
    assert state["c.bias"].state[0].base is m.base
    fresh = tuple(np.zeros_like(a) for a in state["c.weight"].state[:2])
    state["c.weight"].state = (*fresh, state["c.weight"].state[2])
    O.update(state, model, _grads_like(model, rng))
    assert state["c.weight"].state[0].base is not m.base  # regrouped

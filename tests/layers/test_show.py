"""Flux-style model printing: counts, number formats, nesting, total line."""

import numpy as np
import pytest

from layers.functor import freeze
from layers.show import (
    count_parameters,
    format_bytes,
    format_count,
    layer_repr,
    parameter_comment,
    summary,
    total_comment,
)


class Dense:
    def __init__(self, i, o, activation=None):
        self.weight = np.zeros((o, i), np.float32)
        self.bias = np.zeros(o, np.float32)
        self.activation = activation

    def __repr__(self):
        act = f", {self.activation.__name__}" if self.activation else ""
        return layer_repr(
            self, f"Dense({self.weight.shape[1]} => {self.weight.shape[0]}{act})"
        )


class Chain:
    def __init__(self, *layers):
        self.layers = list(layers)

    def __repr__(self):
        return summary(self)


class Norm:
    def __init__(self, n):
        self.scale = np.ones(n, np.float32)
        self.mean = np.zeros(n, np.float32)

    def trainable(self):
        return ("scale",)


def softmax(x):
    return x


@pytest.mark.parametrize(
    "n,text", [(0, "0"), (999, "999"), (5381, "5_381"), (1234567, "1_234_567")]
)
def test_format_count(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize(
    "n,text",
    [
        (1, "1 byte"),
        (524, "524 bytes"),
        (1024, "1.000 KiB"),
        (22988, "22.449 KiB"),
        (3 * 2**20 // 2, "1.500 MiB"),
    ],
)
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_leaf_repr():
    assert repr(Dense(10, 5, np.tanh)) == "Dense(10 => 5, tanh)  # 55 parameters"
    assert layer_repr(softmax, "softmax") == "softmax"


def test_chain_summary_matches_flux_layout():
    text = repr(Chain(Dense(10, 5, np.tanh), Dense(5, 2), softmax))
    assert text.splitlines() == [
        "Chain(",
        "  Dense(10 => 5, tanh),                 # 55 parameters",
        "  Dense(5 => 2),                        # 12 parameters",
        "  softmax,",
        ")                                       # Total: 4 arrays, 67 parameters, 268 bytes.",
    ]


def test_nested_and_non_trainable():
    m = Chain(Chain(Dense(64, 64), Norm(4)), Dense(64, 10))
    lines = repr(m).splitlines()
    assert lines[1] == "  Chain("
    assert lines[2].startswith("    Dense(64 => 64),") and lines[2].endswith(
        "# 4_160 parameters"
    )
    assert lines[3].endswith("# 4 parameters, plus 4 non-trainable")
    assert lines[-1].endswith(
        "# Total: 5 trainable arrays, 4_814 parameters, plus 1 "
        "non-trainable, 4 parameters, 18.820 KiB."
    )


def test_counts_tied_and_frozen():
    a, b = Dense(3, 3), Dense(3, 3)
    b.weight = a.weight
    m = Chain(a, b)
    assert count_parameters(m) == 9 + 3 + 3
    freeze(a)  # the tied weight is still trained through b
    assert count_parameters(m) == 12 and count_parameters(m, trainable=False) == 15
    assert parameter_comment(m) == "# 12 parameters, plus 3 non-trainable"
    assert total_comment(Dense(1, 1)) == "# Total: 2 arrays, 2 parameters, 8 bytes."


def test_plain_object_and_single_layer_summary():
    class Plain:
        def __init__(self):
            self.w = np.zeros((2, 3))

    assert summary(Plain()) == "Plain(w=(2, 3))  # 6 parameters"
    assert summary(Dense(2, 1)) == "Dense(2 => 1)  # 3 parameters"


def test_a_layer_class_shows_its_sub_layers_and_arrays():
    import layers

    @layers.layer
    class Block:
        def __init__(self):
            self.inner = layers.Dense(2, 2)
            self.alpha = np.ones(1, np.float32)  # a learned scale, held directly

        def __call__(self, x):
            return self.alpha * self.inner(x)

    text = repr(Block())  # (it was <...Block object at 0x...>)
    assert text.splitlines()[0] == "Block("
    assert "inner = Dense(2 => 2)," in text and "alpha = float32 array (1,)," in text
    assert "Total: 3 arrays, 7 parameters" in text


def test_a_layer_class_holding_only_arrays_shows_on_one_line():
    import layers

    @layers.layer
    class Scale:
        def __init__(self, n):
            self.s = np.ones(n)

        def __call__(self, x):
            return x * self.s

    assert repr(Scale(3)) == "Scale(s=(3,))  # 3 parameters"  # (it recursed forever)
    assert "Scale(s=(2,))," in repr(layers.Chain(Scale(2), layers.Dense(2, 1)))

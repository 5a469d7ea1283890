"""safetensors save/load: round trip, format details, all-or-nothing, no pickle."""

import itertools
import json
import os
import pickle

import numpy as np
import pytest

from layers import io


class Dense:
    def __init__(self, n, m, rng):
        self.weight = rng.standard_normal((m, n)).astype(np.float32)
        self.bias = rng.standard_normal(m).astype(np.float32)
        self.activation = np.tanh


class Chain:
    def __init__(self, *layers):
        self.layers = list(layers)
        self.steps = np.array([3], np.int64)


def model(seed=0, sizes=(3, 4, 2)):
    rng = np.random.default_rng(seed)
    return Chain(*[Dense(a, b, rng) for a, b in itertools.pairwise(sizes)])


def test_round_trip_in_place(tmp_path):
    path = tmp_path / "m.safetensors"
    a, b = model(0), model(1)
    io.save(path, a, metadata={"epoch": 3})
    W = b.layers[0].weight
    assert io.load(path, b) is b
    assert b.layers[0].weight is W  # identity kept
    for (p1, x), (p2, y) in zip(io.state(a).items(), io.state(b).items()):
        assert p1 == p2 and x.dtype == y.dtype and np.array_equal(x, y)
    _, meta = io.read_safetensors(path)
    assert meta == {"epoch": "3"}
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "m.safetensors"
    umask = os.umask(0o022)
    try:
        io.save(path, model())
        assert os.stat(path).st_mode & 0o777 == 0o644  # as open() would make it
        os.chmod(path, 0o640)
        io.save(path, model(1))  # a file replaced keeps its permissions
        assert os.stat(path).st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_file_layout_is_standard(tmp_path):
    path = tmp_path / "x.safetensors"
    io.write_safetensors(
        path, {"a": np.arange(3, dtype=np.float32), "b": np.ones((2, 2), np.float64)}
    )
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}
    assert header["b"] == {"dtype": "F64", "shape": [2, 2], "data_offsets": [12, 44]}
    assert np.frombuffer(raw[8 + n : 8 + n + 12], "<f4").tolist() == [0, 1, 2]


def test_tied_and_dtypes(tmp_path):
    m = {
        "a": np.arange(4, dtype=np.int32),
        "b": np.array([True, False]),
        "c": np.zeros(2, np.float16),
    }
    m["d"] = m["c"]
    assert list(io.state(m)) == ["a", "b", "c"]
    io.save(tmp_path / "t.safetensors", m)
    m2 = {
        "a": np.zeros(4, np.int32),
        "b": np.zeros(2, bool),
        "c": np.ones(2, np.float16),
    }
    io.load(tmp_path / "t.safetensors", m2)
    assert m2["a"].tolist() == [0, 1, 2, 3] and m2["b"].tolist() == [True, False]


def snapshot(m):
    return {k: v.copy() for k, v in io.state(m).items()}


def unchanged(m, snap):
    return all(np.array_equal(v, snap[k]) for k, v in io.state(m).items())


def test_truncated_file_leaves_model_unchanged(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(path, model(0))
    raw = path.read_bytes()
    b = model(1)
    snap = snapshot(b)
    for cut in (4, 20, len(raw) - 3):
        path.write_bytes(raw[:cut])
        with pytest.raises(io.SafetensorsError, match="truncated|not a valid"):
            io.load(path, b)
        assert unchanged(b, snap)


def test_corrupt_header(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((8).to_bytes(8, "little") + b"{not js}")
    with pytest.raises(io.SafetensorsError, match="corrupt header"):
        io.read_safetensors(path)


@pytest.mark.parametrize(
    "sizes,match",
    [
        ((3, 5, 2), "shape mismatch for 'layers.0.weight'"),
        ((3, 4, 2, 2), "unexpected key 'layers.2.weight'"),
        ((3, 4), "missing key 'layers.1.weight'"),
    ],
)
def test_wrong_architecture(tmp_path, sizes, match):
    path = tmp_path / "m.safetensors"
    io.save(path, model(0, (3, 4, 2, 2) if "unexpected" in match else (3, 4, 2)))
    other = model(1, sizes if "unexpected" not in match else (3, 4, 2))
    if "missing" in match:
        io.save(path, model(0, (3, 4)))
        other = model(1, (3, 4, 2))
    snap = snapshot(other)
    with pytest.raises(io.SafetensorsError, match=match):
        io.load(path, other)
    assert unchanged(other, snap)


def test_dtype_mismatch(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(path, {"w": np.ones(2, np.float64)})
    with pytest.raises(io.SafetensorsError, match="dtype mismatch for 'w'"):
        io.load(path, {"w": np.ones(2, np.float32)})


class Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_payload_is_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    for protocol in (0, 2, 4, 5):
        path.write_bytes(pickle.dumps(Marker(str(marker)), protocol=protocol))
        m = model(0)
        snap = snapshot(m)
        with pytest.raises(io.SafetensorsError):
            io.load(path, m)
        assert not marker.exists() and unchanged(m, snap)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    io.save(path, model(0))
    before = path.read_bytes()

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        io.save(path, model(1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_training_resumes_from_a_saved_optimiser_state(tmp_path):
    import layers

    def fresh():
        layers.set_seed(0)
        return layers.f64(layers.Chain(layers.Dense(3, 4, layers.relu), layers.Dense(4, 1)))

    rule = layers.OptimiserChain(layers.ClipNorm(10.0), layers.Adam(0.01))
    x = np.random.default_rng(0).standard_normal((8, 3))
    y = np.ones((8, 1))

    def steps(model, opt, n):
        loss = lambda m, x, y: layers.mse(m(x), y)
        layers.train(loss, model, [(x, y)] * n, opt, progress=False)

    model = fresh()
    opt = layers.setup(rule, model)
    steps(model, opt, 3)
    io.save(tmp_path / "model.safetensors", model)
    io.save(tmp_path / "opt.safetensors", opt)
    assert any(k.endswith(":1.2.0") for k in io.state(opt))  # Adam's step count, saved
    steps(model, opt, 4)  # the run that was not interrupted

    resumed = io.load(tmp_path / "model.safetensors", fresh())
    resumed_opt = io.load(tmp_path / "opt.safetensors", layers.setup(rule, resumed))
    steps(resumed, resumed_opt, 4)
    for a, b in zip(io.state(model).values(), io.state(resumed).values()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(io.SafetensorsError, match="unexpected key|missing key"):
        io.load(tmp_path / "opt.safetensors", layers.setup(layers.Descent(0.1), resumed))

"""The examples run as scripts and print what the tutorials print.

Each example runs in its fast mode (``--fast``: fewer epochs, output in a
temporary folder) as a subprocess, like a user would run it; digits_mlp also
runs its full 20 epochs once, to hold it to the README's 95% claim.
"""

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name, *args):
    """Run examples/name as a script; returns (stdout, stderr)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, MPLBACKEND="Agg")
    env.pop("ZYGOPY_FAST", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, done.stderr


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def test_tutorial_gradients(capsys):
    sys.argv = ["tutorial_gradients.py"]
    runpy.run_path(str(EXAMPLES / "tutorial_gradients.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "gradient(f, 2, 2) = (14.0, 1.0)" in out
    assert "grad(grad(f))(2) = 6.0" in out
    assert "do-block form agrees: True" in out
    assert "matches the hand-derived gradient: True" in out


def test_fit_line():
    out, _ = run_example("fit_line.py", "--fast")
    assert "weight in parameters, bias in parameters: (True, True)" in out
    before = number(r"loss before training: ([\d.]+)", out)
    after = number(r"loss after 200 epochs: ([\d.]+)", out)
    assert after < 1e-3 * before
    assert number(r"weight = ([\d.-]+)", out) == pytest.approx(4, abs=0.05)
    assert number(r"bias = ([\d.-]+)", out) == pytest.approx(2, abs=0.05)
    assert number(r"max \|prediction - true\| on x_test: ([\d.]+)", out) < 0.5
    rows = re.findall(r"^\s*(\d+\.\d)\s+([\d.-]+)\s+(\d+)$", out, re.MULTILINE)
    assert [float(x) for x, _, _ in rows] == [6, 7, 8, 9, 10]
    for x, yhat, y in rows:
        assert float(y) == 4 * float(x) + 2
        assert abs(float(yhat) - float(y)) < 0.5
    assert "explicit style (train(loss, model, ...)) agrees: True" in out


def test_linear_regression(tmp_path):
    out, _ = run_example("linear_regression.py", "--fast", "--out", str(tmp_path))
    assert "matches the hand-derived -2 (y - ŷ) xᵀ: True" in out
    assert "train reproduces the per-sample loop: True" in out
    before = number(r"loss before training: ([\d.]+)", out)
    after = number(r"train, +100 iterations: loss ([\d.]+)", out)
    assert after < 0.2 * before
    if "matplotlib is not installed" not in out:
        assert (tmp_path / "linear_regression.png").stat().st_size > 1000


def test_digits_mlp_fast(tmp_path):
    pytest.importorskip("sklearn")
    out, err = run_example("digits_mlp.py", "--fast", "--out", str(tmp_path))
    assert "trained 3 epochs" in out
    assert number(r"test accuracy: ([\d.]+)%", out) > 85
    assert "reloaded model predictions identical: True" in out
    assert (tmp_path / "digits_mlp.safetensors").stat().st_size > 17_226 * 4
    if "matplotlib is not installed" not in out:
        assert (tmp_path / "digits_mlp.png").stat().st_size > 1000
    try:
        import tqdm  # noqa: F401
    except ImportError:
        assert "epoch 3/3" in err  # the plain text progress line
    else:
        assert "135/135" in err  # tqdm's bar: 3 epochs of 45 batches


def test_digits_mlp_reaches_95_percent(tmp_path):
    pytest.importorskip("sklearn")
    out, _ = run_example("digits_mlp.py", "--no-progress", "--out", str(tmp_path))
    assert "trained 20 epochs (900 steps" in out
    assert number(r"test accuracy: ([\d.]+)%", out) >= 95
    assert "reloaded model predictions identical: True" in out


@pytest.mark.gpu
def test_digits_mlp_on_a_gpu(tmp_path, cupy):
    pytest.importorskip("sklearn")
    out, err = run_example("digits_mlp.py", "--fast", "--gpu", "--no-progress",
                           "--out", str(tmp_path))
    assert "not available" not in err  # it ran on the device
    assert number(r"test accuracy: ([\d.]+)%", out) > 85
    assert "reloaded model predictions identical: True" in out

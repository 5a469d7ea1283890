"""The examples run as scripts and print what the tutorials print."""

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_tutorial_gradients(capsys):
    sys.argv = ["tutorial_gradients.py"]
    runpy.run_path(str(EXAMPLES / "tutorial_gradients.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "gradient(f, 2, 2) = (14.0, 1.0)" in out
    assert "grad(grad(f))(2) = 6.0" in out
    assert "do-block form agrees: True" in out
    assert "matches the hand-derived gradient: True" in out

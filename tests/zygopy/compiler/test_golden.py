"""Golden snapshots of the generated code: `zygopy.source(f)` for a dozen
canonical functions (golden_functions.py), compared exactly with
`golden/<name>.py`.

The generated code is a deliverable: these snapshots make every change to it
visible in review. When a change is intended, regenerate them and read the
diff:

    ZYGOPY_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/zygopy/compiler/test_golden.py

The title line names the user's file; the snapshots keep only its base name,
so they hold in a checkout at any path.
"""

import difflib
import os
import re
from pathlib import Path

import pytest
from golden_functions import CASES

import zygopy as zp

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ZYGOPY_UPDATE_GOLDEN") == "1"


def _path_independent(text):
    """`# Grad of: f (/any/path/golden_functions.py:12)` -> `(golden_functions.py:12)`."""
    return re.sub(r"^# Grad of: (.*) \((.*):(\d+)\)$",
                  lambda m: f"# Grad of: {m[1]} ({os.path.basename(m[2])}:{m[3]})",
                  text, count=1, flags=re.MULTILINE)


def _seed(y):
    if isinstance(y, tuple):
        return tuple(_seed(v) for v in y)
    return 1.0


@pytest.mark.parametrize("name,fn,args,shown", CASES, ids=[c[0] for c in CASES])
def test_generated_code_matches_snapshot(name, fn, args, shown):
    y, back = zp.pullback(fn, *args)
    back(_seed(y))
    text = _path_independent(zp.source(shown))
    path = GOLDEN / f"{name}.py"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with ZYGOPY_UPDATE_GOLDEN=1"
    want = path.read_text()
    if text != want:
        diff = "\n".join(difflib.unified_diff(want.splitlines(), text.splitlines(),
                                              f"golden/{path.name}", "generated",
                                              lineterm=""))
        pytest.fail(f"generated code of {name} differs from golden/{path.name} (if "
                    f"intended, regenerate with ZYGOPY_UPDATE_GOLDEN=1):\n{diff}")


def test_every_snapshot_has_a_case():
    names = {c[0] for c in CASES}
    stale = sorted(p.stem for p in GOLDEN.glob("*.py") if p.stem not in names)
    assert not stale, f"snapshots without a case in golden_functions.py: {stale}"

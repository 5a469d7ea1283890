"""The layers tests and the structure-specialisation tests pass when every
gradient of a model is specialised from its first call
(`ZYGOPY_SPECIALISE=eager`), not from its second as by default: each of
them then exercises the flat function rather than the general path, and
must give the same answers. (The whole suite passes so too; these are the
tests that differentiate models, run here so that CI checks the claim.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ["tests/layers", "tests/zygopy/test_structure_specialisation.py",
          "tests/zygopy/test_containers.py", "tests/zygopy/test_records.py"]


@pytest.mark.skipif(os.environ.get("ZYGOPY_SPECIALISE") == "eager",
                    reason="already running with eager specialisation")
def test_model_tests_pass_with_eager_specialisation():
    env = dict(os.environ, ZYGOPY_SPECIALISE="eager")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SUITES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

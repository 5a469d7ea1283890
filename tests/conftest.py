"""Shared pytest setup: the repo root on sys.path; hypothesis profiles ("ci", derandomised,
under HYPOTHESIS_PROFILE=ci or CI=1)."""

import os
import sys

import pytest
from hypothesis import settings

# The packages are not installed in the venv; make `import zygopy, layers` find
# the working tree rather than the same-named folders under tests/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

settings.register_profile("ci", derandomize=True, max_examples=30, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
# .ci/run sets HYPOTHESIS_PROFILE=ci; a CI service's CI=1 selects it too
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def cupy():
    """The cupy module on a machine with CuPy and a CUDA device; skips otherwise."""
    try:
        import cupy
    except ImportError:
        pytest.skip("needs CuPy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no driver: CuPy raises its own error types
        count = 0
    if count < 1:
        pytest.skip("needs a CUDA device")
    return cupy

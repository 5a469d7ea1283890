"""Shared pytest setup: the repo root on sys.path; hypothesis profiles ("ci" when CI is set)."""

import os
import sys

from hypothesis import settings

# The packages are not installed in the venv; make `import zygopy, layers` find
# the working tree rather than the same-named folders under tests/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

settings.register_profile("ci", derandomize=True, max_examples=30, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

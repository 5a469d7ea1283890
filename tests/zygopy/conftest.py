"""Fixtures shared by the zygopy tests."""

import pytest

from zygopy.rules import linalg


@pytest.fixture
def products(monkeypatch):
    """Records (need_a, need_b) of every inlined or rule matmul adjoint."""
    calls = []
    original = linalg.matmul_adjoint

    def spy(dy, a, b, need_a=True, need_b=True):
        calls.append((need_a, need_b))
        return original(dy, a, b, need_a, need_b)

    monkeypatch.setattr(linalg, "matmul_adjoint", spy)
    from zygopy.runtime import generated

    monkeypatch.setattr(generated, "matmul_adjoint", spy)
    return calls

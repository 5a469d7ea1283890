"""The compiler pauses the cyclic garbage collector while it runs, and gives
the program back the collector as it found it, even when compiling fails."""

import gc

import pytest

import zygopy as zp


def test_collector_stays_enabled_after_compiling():
    def f(x):
        return x * x + 1.0

    assert gc.isenabled()
    assert zp.gradient(f, 3.0) == (6.0,)
    assert gc.isenabled()


def test_collector_stays_disabled_for_a_program_that_disabled_it():
    def g(x):
        return x * 2.0

    gc.disable()
    try:
        assert zp.gradient(g, 3.0) == (2.0,)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_is_back_after_a_compile_error():
    def h(x):
        try:
            return x
        finally:
            pass

    with pytest.raises(zp.UnsupportedSyntax):
        zp.gradient(h, 1.0)
    assert gc.isenabled()

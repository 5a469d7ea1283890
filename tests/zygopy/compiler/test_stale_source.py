"""A function whose file changed since it was defined (edited, not reloaded):
its source no longer matches its code, and differentiating the new text would
give the gradient of other code. zygopy refuses with a StaleSourceError."""

import importlib.util
import sys
import textwrap

import pytest

import zygopy as zp


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("edit", [
    "def square(x):\n    return x * x * x\n\n\ndef unused(y):\n    return y\n",  # lines moved
    "def cube(x):\n    return x * x * x\n",  # renamed
    "def square(z):\n    return z * z\n",  # other parameters
])
def test_a_changed_file_is_refused(tmp_path, edit):
    path = tmp_path / "edited_module.py"
    path.write_text("def square(x):\n    return x * x\n")
    module = _load(path, f"edited_module_{abs(hash(edit))}")
    square = module.square
    path.write_text("# a comment moves everything down\n\n\n" + edit
                    if "unused" in edit else edit)
    import linecache

    linecache.checkcache(str(path))
    with pytest.raises(zp.StaleSourceError, match="has changed since") as info:
        zp.gradient(square, 3.0)
    assert "reload" in str(info.value)


def test_an_unchanged_file_is_fine(tmp_path):
    path = tmp_path / "kept_module.py"
    path.write_text(textwrap.dedent("""
        def square(x):
            return x * x
    """))
    module = _load(path, "kept_module")
    assert zp.gradient(module.square, 3.0) == (6.0,)

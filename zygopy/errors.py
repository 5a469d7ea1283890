"""The errors zygopy raises, each written to tell the user what to do next."""

from __future__ import annotations


class ZygopyError(Exception):
    """Base class of every error zygopy raises on purpose."""


class UnsupportedSyntax(ZygopyError, SyntaxError):
    """A construct the compiler cannot differentiate, found before any work.

    The message names the construct and quotes the user's file, line, column
    and source line, followed by a list of possible fixes.
    """

    def __init__(self, construct, filename, lineno, col, line, fixes=()):
        self.construct = construct
        text = (
            f"zygopy cannot differentiate {construct}\n"
            f'  File "{filename}", line {lineno}, column {col + 1}\n'
            f"    {line.strip()}\n"
        )
        if fixes:
            text += "Possible fixes:\n" + "".join(f"  - {fix}\n" for fix in fixes)
        super().__init__(text.rstrip())
        self.filename, self.lineno, self.offset, self.text = (
            filename, lineno, col + 1, line,
        )

    def __str__(self):
        return self.args[0]


class NoRuleError(ZygopyError, TypeError):
    """A call on differentiable arguments to something with no source and no rule."""

    def __init__(self, callee, where="", fixes=None):
        name = describe_callable(callee)
        # in the suggested code, a name that is not a Python expression (a ufunc
        # made by np.frompyfunc is "exp (vectorized)") becomes a placeholder
        spelled = name if all(part.isidentifier() for part in name.split(".")) else "fn"
        why = ": it has no Python source to compile and no registered rule" if not where \
            else ""  # `where` says what is missing (a keyword, an option, a method...)
        text = (
            f"no gradient rule for {name}{where}{why}.\n"
            "Possible fixes:\n"
            f"  - register a rule{'' if spelled == name else f' ({spelled} being {name})'}:\n"
            f"        @zygopy.rule({spelled})\n"
            f"        def _(x):\n"
            f"            y = {spelled}(x)\n"
            f"            return y, lambda dy: (dy * <dy/dx>,)\n"
            f"  - or, if it is not differentiable: "
            f"zygopy.nondifferentiable({spelled})\n"
            "  - or wrap the argument in zygopy.stop_gradient(...) if no gradient "
            "should flow through this call"
        )
        if fixes is not None:  # the caller knows better ones than a rule
            text = f"no gradient rule for {name}{where}.\nPossible fixes:\n" + "\n".join(
                f"  - {fix}" for fix in fixes)
        super().__init__(text)
        self.callee = callee


class NotScalarError(ZygopyError, TypeError):
    """`gradient` was asked for the gradient of a non-scalar output."""


class GeneratedCodeError(ZygopyError):
    """An exception raised inside generated code, mapped to the user's line.

    On Python >= 3.11 zygopy does not wrap such exceptions: it keeps their
    type and adds a note naming the user's file, line and source text (see
    `zygopy.runtime.tracebacks`). This class is for code that wants to raise
    such an error itself."""


class NoSourceError(ZygopyError, OSError):
    """A function to differentiate whose Python source cannot be read.

    zygopy compiles a function from its source text; Python keeps none for
    functions defined with `python -c`, `exec` of a string, or at some
    interactive prompts."""

    def __init__(self, fn, detail=""):
        name = getattr(fn, "__qualname__", None) or repr(fn)
        code = getattr(fn, "__code__", None)
        where = f" (defined in {code.co_filename}, line {code.co_firstlineno})" \
            if code is not None else ""
        detail = f" ({detail})" if detail else ""
        what = name
        if name.endswith("<lambda>"):
            what, name = "a lambda", "my_function"
        text = (
            f"zygopy cannot read the source of {what}{where}{detail}, and it "
            "differentiates a function by compiling its source. Python keeps no "
            "source text for functions defined with `python -c`, by exec() of a "
            "string, or at an interactive prompt that does not save it.\n"
            "Possible fixes:\n"
            f"  - define {'it' if what != name else name} in a .py file (a module or a script) and "
            "import or run it from there\n"
            f"  - or register a rule for it:\n"
            f"        @zygopy.rule({name})\n"
            f"        def _(x):\n"
            f"            y = {name}(x)\n"
            f"            return y, lambda dy: (dy * <dy/dx>,)"
        )
        super().__init__(text)
        self.function = fn

    def __str__(self):
        return self.args[0]


class StaleSourceError(NoSourceError):
    """The file a function was defined in changed since: its source text no
    longer matches its code, so compiling it would differentiate other code."""

    def __init__(self, fn, filename):
        name = getattr(fn, "__qualname__", None) or repr(fn)
        text = (
            f"the source of {name} in {filename} has changed since {name} was defined "
            "(it no longer matches the function's code), and zygopy differentiates a "
            "function by compiling its source.\n"
            "Possible fixes:\n"
            "  - run the definition again, or reload its module (importlib.reload)\n"
            "  - in a notebook, re-run the cell that defines it")
        ZygopyError.__init__(self, text)
        self.function = fn


def describe_callable(fn) -> str:
    """A short dotted name for `fn`, as a user would write it (`np.tanh`)."""
    if isinstance(fn, str):  # already a name (`float.real`)
        return fn
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    if module.split(".")[0] == "numpy":  # its public submodules kept: np.linalg.eig
        module = ".".join(["np"] + [m for m in module.split(".")[1:] if not m.startswith("_")])
    elif module in ("builtins", ""):
        return name
    return f"{module}.{name}"

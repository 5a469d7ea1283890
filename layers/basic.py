"""Basic layers: Dense, Chain, compose, Parallel, SkipConnection, Scale, Embedding.

Each layer is a plain class whose `__call__` is ordinary numpy code, so
zygopy differentiates it like any user function. Batch first: Dense takes
`(batch, in)` or one vector `(in,)`. Also the shared helpers of the layer
modules: `check_size` (a shape check run outside differentiation) and the
Flux-style repr helpers (`count_parameters` falls back to a local counter
until `layers.show` provides one).
"""

from __future__ import annotations

import numbers
import types

import numpy as np

from zygopy import nondifferentiable

from .activations import identity, sigmoid
from .init import glorot_uniform, zeros

# ---------------------------------------------------------------- helpers


def check_size(layer, what, expected, got, input_shape=None, weight_shape=None, **shapes):
    """Raise a ValueError naming `layer` (a layer, shown by its summary line, or
    a name) unless `got == expected`, with the shapes of the input and of the
    weight the size must match, when given (and any other named in `shapes`,
    `state=h.shape`):

    ``Dense(5 => 2): expected input features (last axis) 5, got 3 (input of
    shape (2, 3), weight of shape (2, 5))``"""
    if expected != got:
        named = (("input", input_shape), ("weight", weight_shape), *shapes.items())
        shapes = [f"{name} of shape {tuple(shape)}" for name, shape in named
                  if shape is not None]
        where = f" ({', '.join(shapes)})" if shapes else ""
        name = layer if isinstance(layer, str) else _short_repr(layer)
        raise ValueError(f"{name}: expected {what} {expected}, got {got}{where}")


def check_rank(layer, what, least, input_shape):
    """Raise a ValueError naming `layer` unless the input has at least `least`
    axes (`what` spells them out: "(N, C, ...)")."""
    if len(input_shape) < least:
        name = layer if isinstance(layer, str) else _short_repr(layer)
        raise ValueError(f"{name}: expected an input of at least {least} axes {what}, "
                         f"got one of shape {tuple(input_shape)}")


def check_broadcast(layer, input_shape, weight_shape):
    """Raise a ValueError naming `layer` unless its weight broadcasts against
    the input (an elementwise layer: Scale)."""
    try:
        np.broadcast_shapes(tuple(input_shape), tuple(weight_shape))
    except ValueError:
        name = layer if isinstance(layer, str) else _short_repr(layer)
        raise ValueError(f"{name}: the weight of shape {tuple(weight_shape)} does not "
                         f"broadcast against the input of shape {tuple(input_shape)}: "
                         "its trailing axes must match") from None


def _short_repr(layer):
    """`Dense(5 => 3, relu)`: a layer's summary line, without its parameter
    count; a container's lines joined: `Parallel(add, Dense(2 => 2), ...)`."""
    lines = [line.split("  #")[0].strip() for line in repr(layer).splitlines()]
    if len(lines) == 1:
        return lines[0]
    return "".join(part + (" " if part.endswith(",") else "") for part in lines) \
        .replace(", )", ")")


def check_positive_int(layer, name, value):
    """Raise a TypeError/ValueError naming `layer` and the argument `name`
    unless `value` is a positive int (a size given to a constructor)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = (": the activation comes after the sizes, "
                f"{layer}(in, out, activation)") if callable(value) else ""
        raise TypeError(f"{layer}: {name} must be a positive int, got "
                        f"{_describe(value)}{hint}")
    if value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value}")


def check_callable(layer, name, f):
    """Raise a TypeError naming `layer` and the argument `name` unless `f` is
    callable (an activation)."""
    if not callable(f):
        raise TypeError(f"{layer}: {name} must be a function such as relu, got "
                        f"{_describe(f)}")


def _describe(value):
    """`4.0 (a float)`, `relu (a function)`: a value in an argument error."""
    if value is None:
        return "None"
    kind = type(value).__name__
    return f"{name_of(value)} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"


nondifferentiable(check_size, check_rank, check_broadcast, check_positive_int,
                  check_callable)


def _is_param_array(x):
    return (
        hasattr(x, "shape") and getattr(getattr(x, "dtype", None), "kind", "") in "fc"
    )


_SKIP = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
    np.ufunc,
    np.random.Generator,
    str,
    bytes,
)


def _walk(x, seen, trainable=True):
    """Yield (array, trainable) for every float array reachable from x, once each."""
    if _is_param_array(x):
        if id(x) not in seen:
            seen.add(id(x))
            yield x, trainable
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _walk(v, seen, trainable)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _walk(v, seen, trainable)
    elif not isinstance(x, _SKIP) and hasattr(x, "__dict__"):
        frozen = getattr(x, "_nontrainable", ())
        for k, v in vars(x).items():
            yield from _walk(v, seen, trainable and k not in frozen)


def count_parameters(model, trainable=True):
    """Number of (non-)trainable parameters: from `layers.show` when it exists.

    Fallback (used until `layers.show` lands): sums the sizes of the float
    arrays reachable through attributes, lists, tuples and dicts, counting a
    shared array once; fields named in a layer's `_nontrainable` are not
    trainable (BatchNorm's running statistics)."""
    try:
        from .show import count_parameters as counter
    except ImportError:
        counter = None
    if counter is not None and trainable:
        return counter(model)
    return sum(a.size for a, t in _walk(model, set()) if t == trainable)


def name_of(f):
    """How a function or layer appears inside a repr: `relu`, `σ`, `Dense(2 => 3)`."""
    if f is sigmoid:
        return "σ"
    if isinstance(f, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
        return f.__name__
    return repr(f)


def show(layer, head):
    """`head  # n parameters` (plus the non-trainable count when there is one:
    running statistics, frozen fields); `layers.show.layer_repr`."""
    from .show import layer_repr

    return layer_repr(layer, head)


def _total(layer):
    """A container's total line: `Total: 4 arrays, 67 parameters`, the
    non-trainable arrays counted apart (`Total: 4 trainable arrays, 224
    parameters, plus 2 non-trainable, 16 parameters`); "" without any."""
    from .show import _counts

    arrays, n, other_arrays, other = _counts(layer)
    if other_arrays:
        return (f"  # Total: {arrays} trainable arrays, {n:_} parameters, "
                f"plus {other_arrays} non-trainable, {other:_} parameters")
    return f"  # Total: {arrays} arrays, {n:_} parameters" if arrays else ""


def show_container(layer, head, items):
    """Multi-line repr of a container: one child per line, then a total line."""
    lines = [f"{head}("]
    for name, child in items:
        text = name_of(child).split("\n")
        code, sep, comment = text[-1].partition("  # ")
        nested = len(text) > 1  # an inner container: its total is not repeated
        text[-1] = code + "," + (sep + comment if sep and not nested else "")
        if name is not None:
            text[0] = f"{name} = {text[0]}"
        lines += ["  " + t for t in text]
    lines.append(")" + _total(layer))
    return "\n".join(lines)


def _act_suffix(activation):
    return "" if activation is identity else f", {name_of(activation)}"


# ----------------------------------------------------------------- layers


class Dense:
    """`y = activation(x @ weight.T + bias)`: a fully connected layer.

    Arguments: `Dense(in, out, activation=identity, *, bias=True,
    init=glorot_uniform)`, or `Dense((in, out), activation)`. weight has
    shape (out, in), bias (out,) (or None with `bias=False`; an array may
    be passed as `bias`). Input x: (batch, in) or (in,); output (batch, out)
    or (out,).

    >>> from layers.activations import relu
    >>> d = Dense(5, 2, relu)
    >>> d
    Dense(5 => 2, relu)  # 12 parameters
    >>> d(np.ones((3, 5), np.float32)).shape
    (3, 2)
    """

    def __init__(
        self,
        in_features,
        out_features=None,
        activation=identity,
        *,
        bias=True,
        init=glorot_uniform,
    ):
        if isinstance(in_features, tuple):
            if out_features is not None:
                activation = out_features
            in_features, out_features = in_features
        check_positive_int("Dense", "in_features", in_features)
        check_positive_int("Dense", "out_features", out_features)
        check_callable("Dense", "activation", activation)
        self.weight = init(out_features, in_features)
        if bias is True:
            bias = zeros(out_features)
        elif bias is not False and bias is not None and np.shape(bias) != (out_features,):
            raise ValueError(f"Dense: bias must have shape ({out_features},) for "
                             f"{out_features} outputs, got {np.shape(bias)}")
        self.bias = None if bias is False or bias is None else bias
        self.activation = activation

    def __call__(self, x):
        if x.shape[-1:] != self.weight.shape[1:]:  # (a scalar's () too; the message
            check_size(  # is made only then)
                self,
                "input features (last axis)",
                self.weight.shape[1],
                x.shape[-1] if x.ndim else "a scalar",
                x.shape,
                self.weight.shape,
            )
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def __repr__(self):
        out, inp = self.weight.shape
        b = "" if self.bias is not None else ", bias=False"
        return show(self, f"Dense({inp} => {out}{_act_suffix(self.activation)}{b})")


class Chain:
    """`Chain(f, g, h)(x) = h(g(f(x)))`: layers (or plain functions) in sequence.

    Index with ints (a layer), slices (a Chain) or, for a named chain
    `Chain(enc=..., dec=...)`, names (also as attributes: `chain.enc`).

    >>> c = Chain(Dense(10, 5, sigmoid), Dense(5, 2), lambda x: 2 * x)
    >>> c(np.ones((4, 10), np.float32)).shape
    (4, 2)
    >>> c[:2]
    Chain(
      Dense(10 => 5, σ),  # 55 parameters
      Dense(5 => 2),  # 12 parameters
    )  # Total: 4 arrays, 67 parameters
    """

    def __init__(self, *layers, **named):
        if layers and named:
            raise TypeError(
                "Chain: give layers either positionally or by name, not both"
            )
        self.layers = tuple(layers) if layers else tuple(named.values())
        self.names = tuple(named) if named else None
        for i, layer in enumerate(self.layers):
            if not callable(layer):
                hint = (": pass the layers themselves, Chain(*layers)"
                        if isinstance(layer, (list, tuple)) else "")
                raise TypeError(f"Chain: layer {i} is a {type(layer).__name__}, not a "
                                f"callable layer or function{hint}")

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, str):
            if self.names is None or i not in self.names:
                raise KeyError(f"Chain has no layer named {i!r}")
            return self.layers[self.names.index(i)]
        if isinstance(i, slice):
            if self.names is None:
                return Chain(*self.layers[i])
            return Chain(**dict(zip(self.names[i], self.layers[i])))
        return self.layers[i]

    def __getattr__(self, name):
        names = self.__dict__.get("names")
        if names and name in names:
            return self.layers[names.index(name)]
        raise AttributeError(f"'Chain' object has no attribute {name!r}")

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        names = self.names or (None,) * len(self.layers)
        return show_container(self, "Chain", zip(names, self.layers))


def compose(f, g):
    """`compose(f, g)(x) = f(g(x))` (f ∘ g), as the Chain `Chain(g, f)`."""
    return Chain(g, f)


class Parallel:
    """`connection(layer_1(x), ..., layer_n(x))`; with n inputs, layer_i gets x_i.

    connection: a function of n arrays, e.g. `np.add` (n = 2) or
    `lambda *ys: np.concatenate(ys, axis=-1)`. One tuple input is unpacked,
    as in Flux: `p((x1, x2))` is `p(x1, x2)`, so a Parallel whose connection
    returns a tuple feeds the next one in a Chain.

    >>> p = Parallel(np.add, Dense(3, 2), Dense(3, 2))
    >>> p(np.ones((5, 3), np.float32)).shape
    (5, 2)
    """

    def __init__(self, connection, *layers):
        self.connection = connection
        self.layers = tuple(layers)

    def __call__(self, *xs):
        if len(xs) == 1 and isinstance(xs[0], tuple):
            xs = xs[0]
        if len(xs) == 1:
            x = xs[0]
            ys = [layer(x) for layer in self.layers]
        else:
            check_size(self, "number of inputs", len(self.layers), len(xs))
            ys = [layer(x) for layer, x in zip(self.layers, xs)]
        return self.connection(*ys)

    def __repr__(self):
        items = [(None, self.connection)] + [(None, la) for la in self.layers]
        return show_container(self, "Parallel", items)


class SkipConnection:
    """`connection(layer(x), x)`, e.g. a residual block with `connection=np.add`.

    >>> s = SkipConnection(Dense(3, 3), np.add)
    >>> s(np.ones((2, 3), np.float32)).shape
    (2, 3)
    """

    def __init__(self, layer, connection):
        self.layer = layer
        self.connection = connection

    def __call__(self, x):
        return self.connection(self.layer(x), x)

    def __repr__(self):
        return show_container(
            self, "SkipConnection", [(None, self.layer), (None, self.connection)]
        )


class Scale:
    """`y = activation(x * scale + bias)`: an elementwise affine map (trailing axes).

    `Scale(size, activation=identity, *, bias=True)`: scale and bias have
    shape `size` (an int or a tuple); x has shape (..., *size).

    >>> Scale(3)
    Scale(3)  # 6 parameters
    """

    def __init__(self, size, activation=identity, *, bias=True):
        size = (size,) if isinstance(size, int) else tuple(size)
        self.scale = np.ones(size, np.float32)
        self.bias = zeros(*size) if bias else None
        self.activation = activation

    def __call__(self, x):
        check_broadcast(self, x.shape, self.scale.shape)
        y = x * self.scale
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def __repr__(self):
        size = self.scale.shape
        s = str(size[0]) if len(size) == 1 else str(size)
        b = "" if self.bias is not None else ", bias=False"
        return show(self, f"Scale({s}{_act_suffix(self.activation)}{b})")


class Embedding:
    """`y = weight[x]`: a lookup table of `n` vectors of length `dim`.

    weight: (n, dim) (PyTorch's layout), drawn from N(0, 1). x: integer
    indices of any shape (0-based) -> y of shape x.shape + (dim,); a float
    x of shape (..., n) is taken as one-hot rows and gives `x @ weight`.

    >>> e = Embedding(10, 4)
    >>> e(np.array([[1, 2], [3, 9]])).shape
    (2, 2, 4)
    """

    def __init__(self, n, dim, *, init=None):
        from .init import default_rng

        self.weight = (
            init(n, dim)
            if init is not None
            else default_rng().standard_normal((n, dim)).astype(np.float32)
        )

    def __call__(self, x):
        if _is_float_array(x):
            check_size(
                self,
                "one-hot width (last axis)",
                self.weight.shape[0],
                x.shape[-1],
                x.shape,
                self.weight.shape,
            )
            return x @ self.weight
        check_index("Embedding", x, self.weight.shape[0])
        return self.weight[x]

    def __repr__(self):
        n, dim = self.weight.shape
        return show(self, f"Embedding({n} => {dim})")


def _is_float_array(x):
    return getattr(getattr(x, "dtype", None), "kind", "") == "f"


def check_index(layer, x, n):
    """Raise an IndexError naming `layer` unless all of x lies in [0, n)."""
    if not hasattr(x, "min"):  # a list; arrays (numpy or CuPy) as they are
        x = np.asarray(x)
    if getattr(getattr(x, "dtype", None), "kind", "i") not in "iu":
        raise IndexError(f"{layer}: indices must be integers, got an array of "
                         f"{x.dtype} (a boolean mask selects rows: index the weight "
                         "with it instead)")
    if x.size and (x.min() < 0 or x.max() >= n):
        raise IndexError(
            f"{layer}: indices must lie in [0, {n}), got values in "
            f"[{x.min()}, {x.max()}]"
        )


nondifferentiable(_is_float_array, check_index)


def flatten(x):
    """Reshape (batch, d1, d2, ...) to (batch, d1*d2*...), keeping the batch axis."""
    return x.reshape(x.shape[0], -1)


__all__ = [
    "Chain",
    "Dense",
    "Embedding",
    "Parallel",
    "Scale",
    "SkipConnection",
    "compose",
    "count_parameters",
    "flatten",
]

"""Mini-batching (`DataLoader`) and one-hot encoding (`onehot`, `onehotbatch`, `onecold`)."""

from __future__ import annotations

import math

import numpy as np

from zygopy import nondifferentiable

from .init import default_rng


def _stacked(key, items):
    """A sequence given as data, made one array (a list of samples)."""
    try:
        return np.asarray(items)
    except ValueError as e:
        raise ValueError(
            f"DataLoader: {_name(key)} is a {type(items).__name__} whose items are "
            f"not one array ({e}); pass several arrays as a tuple, DataLoader((x, y))"
        ) from None


def _as_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class DataLoader:
    """Iterate over mini-batches of `data`, batching along the first axis.

    ``DataLoader(data, batchsize=1, shuffle=False, partial=True, rng=None)``:

    * `data`: one array ``(N, ...)`` (yields arrays), a tuple of arrays
      (yields tuples) or a dict of arrays (yields dicts); all with the same
      ``N``.
    * `shuffle`: a fresh permutation each epoch (each ``iter``), drawn from
      `rng` (a seed or a ``np.random.Generator``: reproducible), or by default
      from the generator `layers.set_seed` resets (as the initialisers).
    * `partial`: keep the last, smaller batch (else drop it).

    ``len(loader)`` is the number of batches per epoch. Unshuffled batches are
    views of the data; shuffled ones are copies.

    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [b[1].tolist() for b in DataLoader((x, y), batchsize=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, data, batchsize=1, shuffle=False, partial=True, rng=None):
        if not isinstance(batchsize, (int, np.integer)) or batchsize < 1:
            raise ValueError(
                f"DataLoader: batchsize must be a positive int, got {batchsize!r}"
            )
        if isinstance(data, dict):
            items = list(data.items())
        elif isinstance(data, tuple):
            items = list(enumerate(data))
        else:
            items = [(None, data)]
        if not items:
            raise ValueError("DataLoader: data is empty (no arrays given)")
        arrays = [(k, v if hasattr(v, "shape") else _stacked(k, v)) for k, v in items]
        for k, a in arrays:
            if a.ndim == 0:
                raise ValueError(
                    f"DataLoader: {_name(k)} is a scalar; need an array (N, ...)"
                )
        lengths = {_name(k): a.shape[0] for k, a in arrays}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise ValueError(
                f"DataLoader: all arrays must have the same length along the first "
                f"(batch) axis; {detail}"
            )
        self.data, self.batchsize, self.shuffle, self.partial = (
            data,
            int(batchsize),
            shuffle,
            partial,
        )
        self._arrays, self._kind = (
            arrays,
            type(data) if isinstance(data, (dict, tuple)) else None,
        )
        self.n = arrays[0][1].shape[0]
        if not partial and self.n < self.batchsize:
            raise ValueError(
                f"DataLoader: batchsize {self.batchsize} is larger than the {self.n} "
                "samples and partial=False drops the only, smaller batch: no batch "
                "at all; use a smaller batchsize or partial=True"
            )
        self.rng = None if rng is None else _as_rng(rng)

    def __len__(self):
        if self.partial:
            return math.ceil(self.n / self.batchsize)
        return self.n // self.batchsize

    def __iter__(self):
        rng = self.rng if self.rng is not None else default_rng()
        order = rng.permutation(self.n) if self.shuffle else None
        arrays = [a for _, a in self._arrays]
        size = self.batchsize
        for lo in range(0, len(self) * size, size):  # (a slice stops at the end)
            index = slice(lo, lo + size) if order is None else order[lo:lo + size]
            if self._kind is tuple:  # (the common case first: (x, y) batches)
                yield tuple([a[index] for a in arrays])
            else:
                yield self._pack([a[index] for a in arrays])

    def _pack(self, batch):
        if self._kind is None:
            return batch[0]
        if issubclass(self._kind, dict):
            return {k: b for (k, _), b in zip(self._arrays, batch)}
        return tuple(batch)

    def __repr__(self):
        return (
            f"DataLoader({self.n} observations, batchsize={self.batchsize}, "
            f"shuffle={self.shuffle}, partial={self.partial})"
        )


def _name(key):
    return "the array" if key is None else f"data[{key!r}]"


def _class_index(classes):
    index = {}
    for i, c in enumerate(classes):
        index.setdefault(_key(c), i)
    return index


def _key(label):
    return label.item() if isinstance(label, np.generic) else label


def _lookup(index, label, classes, default):
    i = index.get(_key(label))
    if i is None:
        if default is not None:
            return index[_key(default)]
        shown = list(classes) if len(classes) <= 20 else f"{len(classes)} classes"
        raise ValueError(f"label {label!r} is not one of the classes {shown}")
    return i


def onehot(label, classes, default=None):
    """The one-hot vector of `label` among `classes`: shape ``(K,)``, float32.

    ``e[i] = 1`` where ``classes[i] == label``. A label not in `classes` is an
    error unless `default` (a class) is given.

    >>> onehot("b", ["a", "b", "c"]).tolist()
    [0.0, 1.0, 0.0]
    """
    classes = list(classes)
    out = np.zeros(len(classes), np.float32)
    out[_lookup(_class_index(classes), label, classes, default)] = 1
    return out


def onehotbatch(labels, classes, default=None):
    """One-hot encode a sequence of labels: shape ``(N, K)`` (batch first), float32.

    >>> onehotbatch([0, 2], range(3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    classes = list(classes)
    index = _class_index(classes)
    labels = (
        list(np.asarray(labels).reshape(-1))
        if hasattr(labels, "shape")
        else list(labels)
    )
    out = np.zeros((len(labels), len(classes)), np.float32)
    for n, label in enumerate(labels):
        out[n, _lookup(index, label, classes, default)] = 1
    return out


def onecold(y, classes=None):
    """Inverse of one-hot: the label of the largest entry along the last axis.

    ``y`` of shape ``(K,)`` gives one label; ``(N, K)`` gives an array of N.
    Labels are 0-based indices when `classes` is None, else taken from
    `classes` (which must have K entries).

    >>> onecold(np.array([[0.1, 0.9], [0.8, 0.2]]), ["no", "yes"]).tolist()
    ['yes', 'no']
    """
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError("onecold needs a vector (K,) or a batch (N, K), got a scalar")
    idx = np.argmax(y, axis=-1)
    if classes is None:
        return idx
    classes = list(classes)
    if len(classes) != y.shape[-1]:
        raise ValueError(
            f"onecold: {len(classes)} classes for scores with {y.shape[-1]} entries "
            "on the last axis"
        )
    if y.ndim == 1:
        return classes[int(idx)]
    return np.asarray(classes)[idx]


# labels in, constant arrays out (and back): no gradient flows through them, so
# differentiated code (a loss in either style) runs them as they are
nondifferentiable(onehot, onehotbatch, onecold)

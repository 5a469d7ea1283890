"""Saving and loading model arrays in the safetensors format (no pickle, atomic writes).

File layout (https://github.com/huggingface/safetensors): an 8-byte
little-endian unsigned header length ``n``; ``n`` bytes of UTF-8 JSON
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}``
plus an optional ``"__metadata__"`` dict of strings; then the raw
little-endian, C-ordered bytes, offsets relative to the end of the header.
Names are the model's attribute paths (``"layers.0.weight"``).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile

import numpy as np

from .functor import walk_arrays
from .optimisers import OptState

_DTYPES = {
    "F16": "<f2",
    "F32": "<f4",
    "F64": "<f8",
    "I8": "i1",
    "I16": "<i2",
    "I32": "<i4",
    "I64": "<i8",
    "U8": "u1",
    "U16": "<u2",
    "U32": "<u4",
    "U64": "<u8",
    "BOOL": "?",
    "C64": "<c8",
    "C128": "<c16",
}
_CODES = {np.dtype(v).str.lstrip("<|>="): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 2**20


class SafetensorsError(ValueError):
    """A file that is not valid safetensors, or does not match the model."""


def _code(dtype):
    dtype = np.dtype(dtype)
    code = _CODES.get(dtype.newbyteorder("<").str.lstrip("<|>="))
    if code is None:
        raise SafetensorsError(f"dtype {dtype} cannot be stored in safetensors")
    return code


def _host(a):
    return (
        a.get()
        if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get")
        else np.asarray(a)
    )


def state(model) -> dict:
    """All arrays of `model` (trainable or not, any dtype) as ``{path: array}``.

    Tied arrays appear once, under their first path. The arrays are the
    model's own (not copies). Of an optimiser state (`setup`'s `OptState`):
    each parameter's state, under ``"<parameter path>:<position>"``, its
    numbers (Adam's step counts) as 0-d arrays, so that training can be
    resumed from a file (`save`, then `load` into a fresh `setup`).
    """
    if isinstance(model, OptState):
        out = {}
        for path, leaf in model.leaves.items():
            _flatten(f"{path}:", leaf.state, out)
        return out
    return dict(walk_arrays(model))


def _flatten(key, x, out):
    """The arrays and numbers of one parameter's optimiser state, by position."""
    if x is None:
        return
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        out[key] = x
    elif isinstance(x, (bool, int, float, np.number)):
        out[key] = np.asarray(x)  # a 0-d array: float64, int64 or bool
    elif isinstance(x, (tuple, list)):
        for i, v in enumerate(x):
            _flatten(f"{key}{'.' if key[-1] != ':' else ''}{i}", v, out)
    else:
        raise SafetensorsError(
            f"optimiser state at {key!r} is a {type(x).__name__}: only arrays, "
            "numbers and tuples of them are saved"
        )


def _rebuilt(key, x, tensors):
    """`x` (one parameter's optimiser state) with the values of `tensors`:
    arrays copied into in place, numbers and tuples made anew."""
    if x is None:
        return None
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        if isinstance(x, np.ndarray):
            np.copyto(x, tensors[key])
        else:  # a device array (CuPy)
            x.set(np.ascontiguousarray(tensors[key]))
        return x
    if isinstance(x, (bool, int, float, np.number)):
        return type(x)(tensors[key][()])
    items = [_rebuilt(f"{key}{'.' if key[-1] != ':' else ''}{i}", v, tensors)
             for i, v in enumerate(x)]
    return type(x)(items)


def write_safetensors(path, tensors: dict, metadata: dict | None = None):
    """Write ``{name: array}`` to `path` atomically (temp file, fsync, os.replace)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = _host(a)
        code = _code(a.dtype)
        data = np.ascontiguousarray(a, dtype=np.dtype(_DTYPES[code])).tobytes()
        header[name] = {
            "dtype": code,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".safetensors")
    try:
        os.chmod(tmp, _mode_for(path))  # (mkstemp makes it readable by its owner only)
        with os.fdopen(fd, "wb") as f:
            f.write(len(head).to_bytes(8, "little"))
            f.write(head)
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename durable
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _mode_for(path):
    """The permissions a file written at `path` gets: those of the file it
    replaces, else what `open` would give a new file (0o666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)  # read it (there is no other portable way)
        os.umask(umask)
        return 0o666 & ~umask


def read_safetensors(path) -> tuple:
    """Read a safetensors file: returns ``({name: array}, metadata)``.

    Every header field is validated before any array is made; a truncated,
    corrupt or non-safetensors file (a pickle, say) raises `SafetensorsError`.
    Nothing in the file is ever executed.
    """
    with open(path, "rb") as f:
        raw = f.read()
    where = f"{os.fspath(path)!r}"
    if len(raw) < 8:
        raise SafetensorsError(f"{where} is truncated: {len(raw)} bytes, no header")
    n = int.from_bytes(raw[:8], "little")
    if n > min(len(raw) - 8, _MAX_HEADER):
        raise SafetensorsError(
            f"{where} is not a valid safetensors file (truncated or another format): "
            f"header length {n} exceeds the {len(raw) - 8} bytes after it"
        )
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{where} has a corrupt header: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{where} has a corrupt header: not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(raw)[8 + n :]
    entries = sorted(header.items(), key=lambda kv: _offsets(kv, where)[0])
    expected, tensors = 0, {}
    for name, info in entries:
        begin, end = _offsets((name, info), where)
        dtype = info.get("dtype")
        shape = info.get("shape")
        if dtype not in _DTYPES:
            raise SafetensorsError(
                f"{where}: tensor {name!r} has unknown dtype {dtype!r}"
            )
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and d >= 0 for d in shape
        ):
            raise SafetensorsError(
                f"{where}: tensor {name!r} has a bad shape {shape!r}"
            )
        dt = np.dtype(_DTYPES[dtype])
        size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if begin != expected or end - begin != size:
            raise SafetensorsError(
                f"{where}: tensor {name!r} has data_offsets [{begin}, {end}], expected "
                f"[{expected}, {expected + size}] for {dtype} {shape}"
            )
        if end > len(body):
            raise SafetensorsError(
                f"{where} is truncated: tensor {name!r} needs bytes up to {end}, "
                f"the data section has {len(body)}"
            )
        tensors[name] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape)
        expected = end
    if expected != len(body):
        raise SafetensorsError(
            f"{where}: {len(body) - expected} unexpected bytes after the data"
        )
    return {k: tensors[k] for k in header}, metadata


def _offsets(item, where):
    name, info = item
    off = info.get("data_offsets") if isinstance(info, dict) else None
    if not (
        isinstance(off, list) and len(off) == 2 and all(isinstance(o, int) for o in off)
    ):
        raise SafetensorsError(f"{where}: tensor {name!r} has bad data_offsets {off!r}")
    return off


def save(path, model, metadata: dict | None = None):
    """Save every array of `model` to a safetensors file at `path`, atomically.

    Keys are attribute paths (see `state`). `metadata` is an optional dict
    of strings stored in the header. A crash mid-write leaves the old file.
    """
    write_safetensors(path, state(model), metadata)


def load(path, model):
    """Load `path` into `model`'s existing arrays, in place; returns `model`.

    All or nothing: every name, shape and dtype is checked against the model
    first; on the first mismatch (missing key, unexpected key, shape, dtype)
    or a corrupt file a `SafetensorsError` names it and the model is
    unchanged. Copying in place keeps array identities, so ``params(model)``
    and optimiser state taken before stay valid.
    """
    tensors, _ = read_safetensors(path)
    target = state(model)
    for name, a in target.items():
        if name not in tensors:
            raise SafetensorsError(
                f"{path!r}: missing key {name!r} (model has it, file does not)"
            )
        t = tensors[name]
        if tuple(t.shape) != tuple(a.shape):
            raise SafetensorsError(
                f"{path!r}: shape mismatch for {name!r}: file {tuple(t.shape)}, "
                f"model {tuple(a.shape)}"
            )
        if t.dtype.newbyteorder("=") != np.dtype(a.dtype).newbyteorder("="):
            raise SafetensorsError(
                f"{path!r}: dtype mismatch for {name!r}: file {t.dtype}, model {a.dtype}"
            )
        if isinstance(a, np.ndarray) and not a.flags.writeable:
            raise SafetensorsError(f"{path!r}: model array {name!r} is read-only")
    extra = [k for k in tensors if k not in target]
    if extra:
        raise SafetensorsError(
            f"{path!r}: unexpected key {extra[0]!r} (file has it, model does not)"
        )
    if isinstance(model, OptState):  # numbers are made anew, arrays copied into
        for p, leaf in model.leaves.items():
            leaf.state = _rebuilt(f"{p}:", leaf.state, tensors)
        return model
    for name, a in target.items():
        if isinstance(a, np.ndarray):
            np.copyto(a, tensors[name])
        else:  # a device array (CuPy): host-to-device copy in place
            a.set(np.ascontiguousarray(tensors[name]))
    return model

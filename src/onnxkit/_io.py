"""Loading and saving models: files are memory-mapped, tensor bytes stay in them.

``load`` maps the file and decodes the messages; tensor data stays a view into
the map (or into the external-data files, mapped on first use).  ``save``
streams the encoded chunks to a temporary file beside the target and renames
it into place, so a model can be saved over the very file it was loaded from.
A model whose external tensors all lie in one file is saved with external
data by keeping that file: referenced when ``location`` names it already,
else copied under the new location by the kernel (holes kept, no byte read
into Python); otherwise the tensors are rewritten.
"""

from __future__ import annotations

import contextlib
import mmap
import weakref
import os
import tempfile
from typing import BinaryIO, Iterator, Union

from . import proto as P
from .errors import FormatError, OnnxkitError
from .ir import serde
from .ir._core import Model
from .ir._dtypes import DataType
from .ir._tensor import ExternalFiles, ExternalTensor, TensorBase, resolve_location

PathLike = Union[str, "os.PathLike[str]"]

#: protobuf refuses messages of 2 GiB or more; past this, save moves weights out.
PROTOBUF_LIMIT = 2**31 - 1


#: the file each live mapping of a model file was made from (read_unaligned_weights reads there)
#: (path, device, inode, size, mtime): a file replaced or changed since is not read
_MAPPED: "weakref.WeakKeyDictionary[mmap.mmap, tuple]" = weakref.WeakKeyDictionary()


def _map_file(path: str) -> memoryview:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return memoryview(b"")
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        st = os.fstat(f.fileno())
        _MAPPED[m] = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        return memoryview(m)


def load_proto(source, message: type = P.ModelProto):
    """Decode ``source`` (a path, bytes-like or an open binary file) as one message,
    memory-mapping files."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return message.from_bytes(source)
    if hasattr(source, "read"):
        return message.from_bytes(source.read())
    path = os.fspath(source)
    try:
        buf = _map_file(path)
    except OSError as e:
        raise OnnxkitError(f"cannot read {path!r}: {e.strerror}") from None
    try:
        return message.from_bytes(buf)
    except FormatError as e:
        raise FormatError(f"{path}: {e.reason}", offset=e.offset, message=e.message,
                          field=e.field) from None


def load(source, *, base_dir: str | None = None) -> Model:
    """Load a model from a path, bytes, or a binary file object.

    Tensor data is not copied: it stays a view into the memory-mapped file until
    read.  External data is looked up relative to the model's folder (or
    ``base_dir``), and only there: locations that are absolute, contain ``..``
    or resolve outside that folder raise :class:`~onnxkit.errors.ExternalDataError`.
    """
    if base_dir is None and not isinstance(source, (bytes, bytearray, memoryview)) \
            and not hasattr(source, "read"):
        base_dir = os.path.dirname(os.path.abspath(os.fspath(source)))
    mp = load_proto(source)
    if mp.graph is None and not mp.opset_import and _is_empty_file(source):
        # protobuf reads no bytes as an empty message; a model file of 0 bytes is a failed
        # download or copy, never a model (bytes in memory are taken as they come)
        raise FormatError(f"{os.fspath(source)}: empty (0 bytes), not an ONNX model")
    return serde.deserialize_model(mp, base_dir, ExternalFiles())


def _is_empty_file(source) -> bool:
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
        return False
    try:
        return os.path.getsize(os.fspath(source)) == 0
    except (OSError, TypeError):
        return False


def external_data_problems(model: Model) -> list[str]:
    """Why each external tensor of ``model`` cannot be read (a missing file, bytes
    past its end, a size that does not fit the tensor); empty when all can.
    The files are mapped and measured, not read."""
    from .ir._tensor import ExternalTensor, ProtoTensor

    problems = []
    for g in model.all_graphs():
        tensors = [v.const_value for v in g.initializers.values()]
        tensors += [a.value for n in g for a in n.attributes.values() if isinstance(a.value, TensorBase)]
        for t in tensors:
            if isinstance(t, ExternalTensor) or (isinstance(t, ProtoTensor) and t.proto.data_location == 1):
                try:
                    t.raw_view()
                except OnnxkitError as e:
                    problems.append(str(e))
    return problems


def to_proto(model: Model):
    """The ModelProto of ``model`` with every tensor inline."""
    return serde.serialize_model(model)


def to_bytes(model: Model) -> bytes:
    """Serialize ``model`` (external tensors are read and put inline)."""
    return to_proto(model).to_bytes()


class _ExternalWriter:
    """Decides which tensors go to the external-data file and writes them there."""

    def __init__(self, f: BinaryIO, location: str, threshold: int, align: int = 64) -> None:
        self.f = f
        self.location = location
        self.threshold = threshold
        self.align = align
        self.offset = 0

    def __call__(self, t: TensorBase, name: str | None):
        if t.dtype == DataType.STRING or t.nbytes < self.threshold:
            return None
        pad = -self.offset % self.align
        if pad:
            self.f.write(b"\0" * pad)
            self.offset += pad
        data = t.raw_view()
        self.f.write(data)
        start = self.offset
        self.offset += len(data)
        return (self.location, start, len(data))


class _NotKept(Exception):
    """A tensor that must go external but is not in the file being kept."""


class _KeepWriter:
    """Places every tensor that goes external at its place in the one
    external-data file it already lies in (copied or reused under
    ``location``); any other tensor that goes external is appended to the
    copy (``append``: its path), or, with no copy to append to, raises _NotKept."""

    def __init__(self, source: str, location: str, threshold: int, append: str | None) -> None:
        self.source = source
        self.location = location
        self.threshold = threshold
        self.append = append
        self._writer: _ExternalWriter | None = None

    def __call__(self, t: TensorBase, name: str | None):
        if t.dtype == DataType.STRING or t.nbytes < self.threshold:
            return None
        if isinstance(t, ExternalTensor) and _source_of(t) == self.source:
            return (self.location, t.offset or 0, t.nbytes if t.length is None else t.length)
        if not self.append:
            raise _NotKept(name)
        if self._writer is None:
            f = open(self.append, "ab")
            self._writer = _ExternalWriter(f, self.location, self.threshold)
            self._writer.offset = f.tell()
        return self._writer(t, name)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.f.close()


def _source_of(t: "ExternalTensor") -> str | None:
    if t.base_dir is None:
        return None
    try:
        return resolve_location(t.location, t.base_dir, t.name)
    except OnnxkitError:
        return None


def _external_sources(model: Model) -> tuple[set, int]:
    """The real paths of the files the model's external tensors lie in (None
    for a tensor without a folder), and how many bytes those tensors take."""
    out, used = set(), 0
    for g in model.all_graphs():
        ts = [v.const_value for v in g.initializers.values()]
        ts += [a.value for n in g for a in n.attributes.values()]
        for t in ts:
            if isinstance(t, ExternalTensor):
                out.add(_source_of(t))
                used += t.nbytes if t.dtype != DataType.STRING else 0
    return out, used


def _copy_beside(source: str, folder: str) -> str | None:
    """A copy of the file ``source`` in ``folder`` made by the kernel
    (copy_file_range, data segments only: holes stay holes), so the weights
    never pass through Python; None when the file cannot be copied so."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".onnxkit-", suffix=".data")
    try:
        with open(source, "rb") as src:
            s = src.fileno()
            size = os.fstat(s).st_size
            pos = 0
            while pos < size:
                try:
                    start = os.lseek(s, pos, os.SEEK_DATA)
                except OSError:      # ENXIO: only a hole is left
                    break
                end = os.lseek(s, start, os.SEEK_HOLE)
                while start < end:
                    n = os.copy_file_range(s, fd, end - start, start, start)
                    if n <= 0:
                        raise OSError("copy_file_range made no progress")
                    start += n
                pos = end
            os.ftruncate(fd, size)
    except (OSError, AttributeError):
        os.close(fd)
        os.unlink(tmp)
        return None
    os.close(fd)
    return tmp


def _total_tensor_bytes(model: Model) -> int:
    total = 0
    for g in model.all_graphs():
        for v in g.initializers.values():
            total += v.const_value.nbytes if v.const_value.dtype != DataType.STRING else 0
        for n in g:
            for a in n.attributes.values():
                if isinstance(a.value, TensorBase) and a.value.dtype != DataType.STRING:
                    total += a.value.nbytes
    return total


def _default_mode() -> int:
    """The mode a plainly created file gets (mkstemp's files are owner-only)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def temporary_files(path: str) -> Iterator[list[str]]:
    """A list for the temporary files a save of ``path`` writes beside it: what
    is still listed when the block ends (the rename did not happen) is removed,
    and an OSError becomes onnxkit's error naming ``path``."""
    tmp_files: list[str] = []
    try:
        yield tmp_files
    except OSError as e:
        raise OnnxkitError(f"cannot save {path!r}: {e.strerror or e}") from None
    finally:
        for t in tmp_files:
            try:
                os.unlink(t)
            except OSError:
                pass


def save(model: Model, path: PathLike, *, external_data: bool | None = None,
         location: str | None = None, size_threshold: int = 1024) -> None:
    """Write ``model`` to ``path``.

    ``external_data``: True puts every tensor of at least ``size_threshold``
    bytes into one file ``location`` (default: the model's file name plus
    ``.data``) beside the model; False keeps everything inline; None (the
    default) goes external only when the model would pass protobuf's 2 GiB limit.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if external_data is None:
        external_data = _total_tensor_bytes(model) > PROTOBUF_LIMIT - (64 << 20)
    if location is None:
        location = os.path.basename(path) + ".data"
    if external_data:
        from .ir._tensor import check_location
        check_location(location, folder, None)
    with temporary_files(path) as tmp_files:
        place = None
        data_tmp = None
        mp = None
        if external_data:
            mp, data_tmp = _save_kept(model, folder, location, size_threshold)
            if data_tmp:
                tmp_files.append(data_tmp)
        if mp is None and external_data:
            fd, data_tmp = tempfile.mkstemp(dir=folder, prefix=".onnxkit-", suffix=".data")
            tmp_files.append(data_tmp)
            data_f = os.fdopen(fd, "wb")
            place = _ExternalWriter(data_f, location, size_threshold)
        try:
            if mp is None:
                mp = serde.serialize_model(model, place)
        finally:
            if place is not None:
                data_f.close()
        chunks = mp.to_chunks()
        size = sum(len(c) for c in chunks)
        if size > PROTOBUF_LIMIT:
            raise OnnxkitError(
                f"the model would take {size} bytes, past protobuf's 2 GiB limit; "
                "save it with external_data=True (and a smaller size_threshold)")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".onnxkit-", suffix=".onnx")
        tmp_files.append(tmp)
        with os.fdopen(fd, "wb") as f:
            f.writelines(chunks)
        mode = _default_mode()
        if data_tmp == "":       # the kept file already is the target: nothing to move
            data_tmp = None
        if data_tmp is not None:
            os.chmod(data_tmp, mode)
            target = os.path.join(folder, location)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(data_tmp, target)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp_files.clear()


def _save_kept(model: Model, folder: str, location: str, threshold: int):
    """``(ModelProto, data file to move into place)`` when every tensor that
    goes external lies in one existing file, which then becomes the new
    external-data file without being read into Python: itself when it already
    is the target ("": nothing to move), else a kernel copy of it.
    ``(None, None)`` when that does not hold or the file cannot be copied so."""
    sources, used = _external_sources(model)
    if len(sources) != 1 or None in sources:
        return None, None
    (source,) = sources
    target = os.path.realpath(os.path.join(folder, location))
    if os.path.realpath(source) == target:
        link = ""
    else:
        try:
            if used * 2 < os.path.getsize(source):
                return None, None       # most of the file is not this model's: write what is
        except OSError:
            return None, None
        link = _copy_beside(source, folder)
        if link is None:
            return None, None
    place = _KeepWriter(source, location, threshold, link or None)
    try:
        return serde.serialize_model(model, place), link
    except _NotKept:
        if link:
            os.unlink(link)
        return None, None
    finally:
        place.close()


def _open_same(key: tuple) -> int:
    """A descriptor of the mapped file if it is still the same file, else -1."""
    path = key[0]
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return -1
    st = os.fstat(fd)
    if (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != key:
        os.close(fd)
        return -1
    return fd


def _unaligned_weights(model: Model):
    """(value, tensor, file offset, mapping key) of every initializer whose
    bytes lie unaligned for its dtype in the memory-mapped model file."""
    import numpy as np

    from .ir._tensor import ProtoTensor

    for g in model.all_graphs():
        for v in g.initializers.values():
            t = v.const_value
            raw = t.proto.raw_data if isinstance(t, ProtoTensor) else None
            if not isinstance(raw, memoryview) or not isinstance(raw.obj, mmap.mmap) or not len(raw):
                continue
            dtype = t.dtype.numpy_dtype if t.dtype != DataType.STRING and not t.dtype.is_sub_byte else None
            base = np.frombuffer(raw.obj, np.uint8)
            start = np.frombuffer(raw, np.uint8).__array_interface__["data"][0] \
                - base.__array_interface__["data"][0]
            if dtype is not None and start % np.dtype(dtype).alignment:
                yield v, t, start, _MAPPED.get(raw.obj)


def unaligned_weight_bytes(model: Model) -> int:
    """The bytes of the weights that :func:`read_unaligned_weights` would copy
    (nothing is read: a memory-mapped model's weights are only located)."""
    return sum(len(t.proto.raw_data) for _, t, _, _ in _unaligned_weights(model))


def read_unaligned_weights(model: Model) -> int:
    """Give every initializer whose bytes lie unaligned in the memory-mapped
    model file (raw_data starts wherever protobuf put it) an aligned array of
    its own, read from the file with ``pread``; returns the bytes read.

    For running: numpy copies an unaligned operand on every use and its matmul
    skips BLAS, so the runtime needs aligned weights.  Reading them through
    the file, not the mapping, leaves the mapped pages untouched: the process
    holds each weight once, as onnxruntime does, not the page-cache pages and
    a copy."""
    import numpy as np

    from .ir._tensor import Tensor

    total = 0
    files: dict[tuple, int] = {}
    try:
        for v, t, start, key in list(_unaligned_weights(model)):
            fd = files.get(key, -1) if key is not None else -1
            if key is not None and key not in files:
                fd = files[key] = _open_same(key)
            arr = t.numpy()                       # validates size/shape; a view, nothing read
            out = np.empty(arr.shape, arr.dtype)
            if fd < 0 or os.preadv(fd, [memoryview(out.reshape(-1).view(np.uint8))], start) != out.nbytes:
                out[...] = arr                    # no descriptor: copy through the map
            v.const_value = Tensor(out, name=t.name, doc_string=t.doc_string)
            total += out.nbytes
    finally:
        for fd in files.values():
            if fd >= 0:
                os.close(fd)
    return total

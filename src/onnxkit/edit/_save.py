"""Save an edited model without reading its weights.

:func:`onnxkit.save` writes every tensor it is given: inline, or into a new
external-data file.  For an edit that is the whole cost (a 2.5 GiB model is
read and written again to change one input's shape).  :func:`save_edited`
keeps the reference instead wherever the reference stays true:

* an external tensor whose data file is in the folder the model is saved to
  keeps its ``location``/``offset``/``length`` (the file is not opened);
* saved to another folder, the data file is copied there under the same
  relative name by the kernel (copy_file_range, holes kept: no byte passes
  through Python; a different file already there under that name is never
  replaced): the reference is kept as well.  Not a hard link: onnx refuses
  external data with more than one link (its "hardlink attack" check);
* otherwise, and for inline tensors, the bytes are written as
  :func:`onnxkit.save` would (inline, or into ``OUT.data`` past protobuf's
  2 GiB limit, or always with ``external_data=True``).

The kept data file may hold more than the saved model uses (after
``extract``): the bytes not referenced are simply never read.
"""

from __future__ import annotations

import mmap
import os
import tempfile

from .. import _io
from ..errors import OnnxkitError
from ..ir import ExternalTensor, Model, TensorBase
from ..ir._dtypes import DataType
from ..ir._tensor import resolve_location

__all__ = ["save_edited"]


def save_edited(model: Model, path: str | os.PathLike, *, external_data: bool | None = None,
                size_threshold: int = 1024, copy: bool = True) -> dict[str, str]:
    """Write ``model`` to ``path`` keeping the references of external tensors
    that can be kept (see the module's doc).  Returns ``{location: how}`` for
    the external-data files the saved model refers to, ``how`` being
    ``"kept"``, ``"copied"`` or ``"written"``."""
    path = os.fspath(path)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    keep: dict[str, str] = {}       # location -> "kept" | "copied" (or "" when it cannot be kept)
    inline_bytes = 0
    for t in _tensors(model):
        if isinstance(t, ExternalTensor):
            if t.location not in keep:
                keep[t.location] = _can_keep(t, folder, copy)
            if keep[t.location]:
                continue
        if t.dtype != DataType.STRING:
            inline_bytes += t.nbytes
    if external_data is None:
        external_data = inline_bytes > _io.PROTOBUF_LIMIT - (64 << 20)
    location = os.path.basename(path) + ".data"
    while location in keep:
        location = "_" + location
    data_f = None
    writer = None
    with _io.temporary_files(path) as tmp_files:
        if external_data:
            fd, data_tmp = tempfile.mkstemp(dir=folder, prefix=".onnxkit-", suffix=".data")
            tmp_files.append(data_tmp)
            data_f = os.fdopen(fd, "wb")
            writer = _io._ExternalWriter(data_f, location, size_threshold)

        def place(t: TensorBase, name: str | None):
            if isinstance(t, ExternalTensor) and keep.get(t.location):
                length = t.length if t.length is not None else t.nbytes
                return (t.location, t.offset or 0, length)
            return writer(t, name) if writer is not None else None

        from ..ir import serde
        try:
            mp = serde.serialize_model(model, place)
        finally:
            if data_f is not None:
                data_f.close()
        chunks = mp.to_chunks()
        if sum(len(c) for c in chunks) > _io.PROTOBUF_LIMIT:
            raise OnnxkitError(f"{path}: the model would pass protobuf's 2 GiB limit; save it "
                               "with external_data=True")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".onnxkit-", suffix=".onnx")
        tmp_files.append(tmp)
        with os.fdopen(fd, "wb") as f:
            _write_chunks(f, chunks)
        mode = _io._default_mode()
        done = {loc: how for loc, how in keep.items() if how}
        if writer is not None:
            if writer.offset:
                os.chmod(tmp_files[0], mode)
                os.replace(tmp_files[0], os.path.join(folder, location))
                done[location] = "written"
            else:
                os.unlink(tmp_files[0])
            tmp_files.pop(0)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp_files.clear()
        return done


def _write_chunks(f, chunks) -> None:
    """Write the encoded model; bytes that lie in a memory-mapped model file
    (inline weights of a loaded model) are copied from that file by the kernel
    (``copy_file_range``), so their pages are never mapped into this process."""
    import numpy as np

    files: dict[tuple, int] = {}
    try:
        for c in chunks:
            key = _io._MAPPED.get(c.obj) if isinstance(c, memoryview) and isinstance(c.obj, mmap.mmap) \
                and len(c) >= 1 << 16 else None
            if key is not None and key not in files:
                files[key] = _io._open_same(key)
            src = files.get(key, -1) if key is not None else -1
            if src < 0 or not hasattr(os, "copy_file_range"):
                f.write(c)
                continue
            start = np.frombuffer(c, np.uint8).__array_interface__["data"][0] \
                - np.frombuffer(c.obj, np.uint8).__array_interface__["data"][0]
            f.flush()
            done, n = 0, len(c)
            try:
                while done < n:
                    k = os.copy_file_range(src, f.fileno(), n - done, start + done)
                    if k <= 0:
                        break
                    done += k
            except OSError:
                pass
            if done < n:
                f.write(c[done:])
            else:
                f.seek(0, os.SEEK_END)
    finally:
        for fd in files.values():
            if fd >= 0:
                os.close(fd)


def _tensors(model: Model):
    for g in model.all_graphs():
        for v in g.initializers.values():
            yield v.const_value


def _can_keep(t: ExternalTensor, folder: str, copy: bool) -> str:
    """"kept" when ``t``'s data file is where the saved model will look for it,
    "copied" after copying it there (by the kernel), "" when its bytes must be written."""
    if t.base_dir is None:
        return ""
    try:
        src = resolve_location(t.location, t.base_dir, t.name)
    except OnnxkitError:
        return ""
    if not os.path.isfile(src):
        return ""
    dst = os.path.join(folder, t.location.replace("\\", "/"))
    try:
        if os.path.exists(dst):
            return "kept" if os.path.samefile(src, dst) else ""
        if not copy:
            return ""
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = _io._copy_beside(src, os.path.dirname(dst))
        if tmp is None:
            return ""
        os.chmod(tmp, _io._default_mode())
        os.replace(tmp, dst)
        return "copied"
    except OSError:
        return ""

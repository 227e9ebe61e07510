"""``load_network(path)``: recognise a model file by its content and read it.

Recognised: the native HDF5 format (``neurosim_type="network"``), NIR files
written by ``nir.write`` (HDF5 with ``version`` and ``node``), ONNX models
(protobuf ``ModelProto``). Anything else, including PyTorch ``.pt`` files
(weights without the architecture), gets one line saying how to bring it in.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError
from ..network import Network

_HDF5 = b"\x89HDF\r\n\x1a\n"
SUPPORTED = "native neurosim .h5, NIR (nir.write) or ONNX (torch.onnx.export)"


def sniff(path) -> str:
    """``"native"``, ``"nir"``, ``"onnx"``, ``"torch"``, ``"hdf5-other:<type>"`` or ``"unknown"``."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"File not found: '{p}'. Check the path.")
    if p.is_dir():
        raise FileFormatError(f"'{p}' is a directory; expected a model file ({SUPPORTED}).")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5:
        import h5py

        try:
            with h5py.File(p, "r") as f:
                t = f.attrs.get("neurosim_type")
                t = t.decode() if isinstance(t, bytes) else t
                if t == "network":
                    return "native"
                if t is not None:
                    return f"hdf5-other:{t}"
                if "node" in f and "version" in f:
                    return "nir"
        except OSError:
            return "unknown"
        return "hdf5-other:None"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return "torch"
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version), varint
        return "onnx"
    return "unknown"


def load_network(path) -> Network:
    """Read a network from a native, NIR or ONNX file (recognised by content, not by extension)."""
    p = Path(path)
    kind = sniff(p)
    if kind == "native":
        from .native import load_native

        return load_native(p)
    if kind == "nir":
        from .nir_io import load_nir

        return load_nir(p)
    if kind == "onnx":
        from .onnx_import import load_onnx

        return load_onnx(p)
    if kind == "torch":
        raise FileFormatError(
            f"'{p}' is a PyTorch file: it holds weights, not the architecture. Build the module and call "
            "neurosim.io.from_torch(module, input_shape) (or from_torch_state_dict), save it with "
            "neurosim.save_network, or export it with torch.onnx.export."
        )
    if kind.startswith("hdf5-other"):
        t = kind.split(":", 1)[1]
        raise FileFormatError(
            f"'{p}' is an HDF5 file but not a model (neurosim type {t!r}); pass a model file: {SUPPORTED}."
        )
    raise FileFormatError(
        f"'{p}' is not a model file neurosim reads (truncated or another format); expected {SUPPORTED}."
    )

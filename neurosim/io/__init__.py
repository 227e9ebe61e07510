"""Model files: native HDF5 (read/write), NIR (read/write), ONNX and PyTorch import, scikit-learn import.

:func:`load_network` recognises native, NIR and ONNX files by content.
"""
from .loader import load_network
from .native import FORMAT_VERSION, load_bundled_data, load_native, save_network
from .sklearn_import import from_sklearn


def to_nir(net, rate_activations: str = "refuse"):
    """NIR graph of ``net`` (see :func:`neurosim.io.nir_io.to_nir`)."""
    from .nir_io import to_nir as _to_nir

    return _to_nir(net, rate_activations)


def from_nir(graph, name: str = "nir"):
    """Network from a ``nir.NIRGraph`` (see :mod:`neurosim.io.nir_io`)."""
    from .nir_io import from_nir as _from_nir

    return _from_nir(graph, name)


def save_nir(net, path, rate_activations: str = "refuse"):
    """Write ``net`` with ``nir.write`` (see :func:`neurosim.io.nir_io.to_nir`)."""
    from .nir_io import save_nir as _save_nir

    return _save_nir(net, path, rate_activations)


def from_onnx(model, name: str | None = None):
    """Network from an ``onnx.ModelProto`` or file path (see :mod:`neurosim.io.onnx_import`)."""
    from .onnx_import import from_onnx as _from_onnx

    return _from_onnx(model, name)


def from_torch(module, input_shape, name: str | None = None):
    """Network from a ``torch.nn`` module tree (see :mod:`neurosim.io.torch_import`)."""
    from .torch_import import from_torch as _from_torch

    return _from_torch(module, input_shape, name)


def from_torch_state_dict(state_dict, module=None, input_shape=None, activation: str = "relu", name: str | None = None):
    """Network from a saved state dict (path or dict), read with ``weights_only=True`` (see :mod:`neurosim.io.torch_import`)."""
    from .torch_import import from_torch_state_dict as _f

    return _f(state_dict, module, input_shape, activation, name)


__all__ = ["FORMAT_VERSION", "load_bundled_data", "load_network", "load_native", "save_network", "from_sklearn",
           "to_nir", "from_nir", "save_nir", "from_onnx", "from_torch", "from_torch_state_dict"]

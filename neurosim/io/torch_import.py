"""Import PyTorch models (torch is an optional extra: ``neurosim-faults[torch]``).

:func:`from_torch` reads ``nn.Sequential`` trees (nested ``Sequential`` are
flattened in order) of ``Linear``, ``Conv2d`` (groups 1, dilation 1, zero
padding), ``AvgPool2d`` (no padding, floor mode), ``Flatten``, ``ReLU``,
``Sigmoid``, ``Tanh``, ``Identity`` and ``Dropout`` (ignored at inference).
A module with its own ``forward()`` cannot be read structurally: export it
with ``torch.onnx.export`` instead.

:func:`from_torch_state_dict` reads a saved state dict with
``torch.load(..., weights_only=True)`` (never unpickling arbitrary objects),
either into a given module, or, without one, as an MLP (2-D ``*.weight``
tensors in order, with one hidden activation).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from ..network import Network

SUPPORTED = ("Sequential", "Linear", "Conv2d", "AvgPool2d", "Flatten", "ReLU", "Sigmoid", "Tanh", "Identity",
             "Dropout")
_ACT = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigError("Reading PyTorch models needs torch: pip install 'neurosim-faults[torch]'.") from None
    return torch


def _np(t) -> np.ndarray:
    return t.detach().cpu().to(dtype=__import__("torch").float64).numpy().copy()


def _refuse(path, m, why=""):
    raise ConfigError(
        f"torch module {path or '(root)'!r} ({type(m).__name__}) is not supported{': ' + why if why else ''}; "
        f"neurosim reads nn.Sequential trees of {', '.join(SUPPORTED[1:])} (or export with torch.onnx.export)."
    )


def _leaves(module, path=""):
    torch = _torch()
    if isinstance(module, torch.nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{path}.{name}" if path else name)
    else:
        yield path, module


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)


def from_torch(module, input_shape, name: str | None = None) -> Network:
    """Convert an ``nn.Sequential`` tree into a :class:`Network`.

    ``input_shape`` is one sample's shape without the batch axis: ``(n_in,)``
    or ``(c, h, w)``. Weights are copied as float64.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise ConfigError(f"'module' must be a torch.nn.Module. Got {type(module).__name__}.")
    if not isinstance(module, nn.Sequential):
        _refuse("", module, "only nn.Sequential has a readable layer order (a custom forward() does not)")
    layers, shapes = [], [tuple(int(s) for s in np.atleast_1d(input_shape))]

    def add(op, bias, where):
        la = Layer(op, bias, "identity")
        shapes.append(la.check(shapes[-1], where))
        layers.append(la)

    for path, m in _leaves(module):
        t = type(m).__name__
        where = f"torch module {path!r} ({t})"
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Linear):
            add(Dense(_np(m.weight)), None if m.bias is None else _np(m.bias), where)
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1:
                _refuse(path, m, f"groups={m.groups} (only 1)")
            if _pair(m.dilation) != (1, 1):
                _refuse(path, m, f"dilation={m.dilation} (only 1)")
            if m.padding_mode != "zeros":
                _refuse(path, m, f"padding_mode={m.padding_mode!r} (only 'zeros')")
            pad = m.padding
            if isinstance(pad, str):
                pad = (0, 0) if pad == "valid" else tuple((k - 1) // 2 for k in m.kernel_size)
                if m.padding == "same" and any(k % 2 == 0 for k in m.kernel_size):
                    _refuse(path, m, "padding='same' with an even kernel (asymmetric)")
            add(Conv2d(_np(m.weight), stride=_pair(m.stride), padding=_pair(pad)),
                None if m.bias is None else _np(m.bias), where)
        elif isinstance(m, nn.AvgPool2d):
            if _pair(m.padding) != (0, 0) or m.ceil_mode or m.divisor_override is not None:
                _refuse(path, m, "padding, ceil_mode or divisor_override (only plain pooling)")
            ks = _pair(m.kernel_size)
            add(AvgPool2d(ks, ks if m.stride is None else _pair(m.stride)), None, where)
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                _refuse(path, m, f"start_dim={m.start_dim}, end_dim={m.end_dim} (only 1, -1)")
            if len(shapes[-1]) > 1:
                add(Flatten(), None, where)
        elif t in _ACT:
            if not layers or layers[-1].activation != "identity":
                _refuse(path, m, "an activation must follow a layer (two in a row, or on the input)")
            la = layers[-1]
            layers[-1] = Layer(la.op, la.bias, _ACT[t])
        else:
            _refuse(path, m)
    if not layers:
        raise ConfigError("The torch module has no layers neurosim can read.")
    return Network.from_layers(layers, shapes[0], name=name or type(module).__name__)


def _load_state_dict(state_dict):
    torch = _torch()
    if isinstance(state_dict, (str, Path)):
        p = Path(state_dict)
        if not p.is_file():
            raise FileFormatError(f"File not found: '{p}'. Check the path.")
        try:
            state_dict = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError/RuntimeError for unsafe or damaged files
            raise FileFormatError(
                f"'{p}' is not a state dict loadable with weights_only=True ({type(exc).__name__}); "
                "save it with torch.save(model.state_dict(), path)."
            ) from None
    if not isinstance(state_dict, dict):
        raise ConfigError(f"'state_dict' must be a dict of tensors or a path to one. Got {type(state_dict).__name__}.")
    return state_dict


def from_torch_state_dict(state_dict, module=None, input_shape=None, activation: str = "relu",
                          name: str | None = None) -> Network:
    """A network from a state dict (a dict or a ``torch.save`` file, read with ``weights_only=True``).

    With ``module`` (an ``nn.Sequential`` of the right architecture) the
    weights are loaded into it (strictly) and :func:`from_torch` converts it;
    ``input_shape`` is then required. Without ``module`` the state dict must
    hold an MLP: its 2-D ``*.weight`` tensors in order (with matching
    ``*.bias``) become dense layers, ``activation`` between them, the last
    layer linear. Conv or pooling layers need the module (a state dict holds no
    stride, padding or pooling).
    """
    torch = _torch()
    sd = _load_state_dict(state_dict)
    if module is not None:
        if input_shape is None:
            raise ConfigError("'input_shape' is required with 'module' (one sample's shape, e.g. (1, 8, 8)).")
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"The state dict does not fit the module: {str(exc).splitlines()[0]}") from None
        return from_torch(module, input_shape, name)
    Ws, bs = [], []
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise ConfigError(f"State dict entry {k!r} is a {type(v).__name__}, not a tensor.")
        if k.endswith("weight"):
            if v.ndim != 2:
                raise ConfigError(
                    f"State dict entry {k!r} has shape {tuple(v.shape)}: conv layers need the architecture; "
                    "pass module=<nn.Sequential> and input_shape=, or use from_torch(module, input_shape)."
                )
            Ws.append(_np(v))
            bias = sd.get(k[: -len("weight")] + "bias")
            bs.append(np.zeros(v.shape[0]) if bias is None else _np(bias))
    if not Ws:
        raise ConfigError("The state dict holds no 2-D '*.weight' tensors; pass module= to read it.")
    if input_shape is not None and int(np.prod(input_shape)) != Ws[0].shape[1]:
        raise ConfigError(f"'input_shape' {tuple(input_shape)} has {int(np.prod(input_shape))} values but the first weight takes {Ws[0].shape[1]}.")
    return Network.from_arrays(Ws, bs, activation, name=name or "torch_state_dict")

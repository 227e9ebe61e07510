"""Import ONNX models with the ``onnx`` package only (no runtime).

The graph must be a chain from its one data input to its one output, made of:
``Gemm``; ``MatMul`` (+ ``Add`` of a constant bias); ``Conv`` (group 1,
dilation 1, symmetric padding); ``Relu``, ``Sigmoid``, ``Tanh``;
``AveragePool`` (no padding, ``ceil_mode=0``); ``Flatten``; ``Reshape`` that
flattens to ``(batch, n)``; ``Identity`` and ``Dropout`` (ignored at
inference); ``Constant`` nodes feeding those. Weights come from initializers
(or ``Constant`` nodes). Anything else is refused with the node type, its name
and this list.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from ..network import Network

SUPPORTED = ("Gemm", "MatMul+Add", "Conv", "Relu", "Sigmoid", "Tanh", "AveragePool", "Flatten",
             "Reshape (as flatten)", "Identity", "Dropout", "Constant")
_ACT = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConfigError("Reading ONNX needs the 'onnx' package: pip install 'neurosim-faults[onnx]'.") from None
    return onnx, numpy_helper


def _refuse(node, why=""):
    raise ConfigError(
        f"ONNX node {node.name or '(unnamed)'!r} ({node.op_type}) is not supported{': ' + why if why else ''}; "
        f"neurosim reads {', '.join(SUPPORTED)} in a chain."
    )


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Builder:
    """Accumulates layers while walking the chain; tracks the current tensor's shape."""

    def __init__(self, in_shape):
        self.layers: list = []
        self.shapes = [tuple(in_shape)]

    @property
    def shape(self):
        return self.shapes[-1]

    def add(self, op, bias=None, where=""):
        la = Layer(op, bias, "identity")
        self.shapes.append(la.check(self.shape, where))
        self.layers.append(la)

    def last_open(self):
        """The last layer if its neuron is still linear (a bias/activation may attach), else None."""
        if self.layers and self.layers[-1].activation == "identity":
            return self.layers[-1]
        return None

    def replace_last(self, layer, where):
        self.layers[-1] = layer
        self.shapes[-1] = layer.check(self.shapes[-2], where)


def from_onnx(model, name: str | None = None) -> Network:
    """Convert an ``onnx.ModelProto`` (or a path to one) into a :class:`Network`."""
    onnx, nh = _onnx()
    if isinstance(model, (str, Path)):
        return load_onnx(model)
    if not isinstance(model, onnx.ModelProto):
        raise ConfigError(f"'model' must be an onnx.ModelProto or a path. Got {type(model).__name__}.")
    g = model.graph
    const = {t.name: np.asarray(nh.to_array(t), dtype=np.float64) for t in g.initializer}
    data_inputs = [i for i in g.input if i.name not in const]
    if len(data_inputs) != 1 or len(g.output) != 1:
        raise ConfigError(
            f"The ONNX graph must have one data input and one output; it has {len(data_inputs)} inputs and {len(g.output)} outputs."
        )
    dims = [d.dim_value if d.HasField("dim_value") else None for d in data_inputs[0].type.tensor_type.shape.dim]
    feat = dims[1:]
    if len(feat) not in (1, 3) or any(d is None or d < 1 for d in feat):
        raise ConfigError(
            f"The ONNX input {data_inputs[0].name!r} must have shape (batch, n) or (batch, c, h, w) with fixed sizes. Got {dims}."
        )
    b = _Builder(feat)
    cur = data_inputs[0].name
    for node in g.node:
        t = node.op_type
        where = f"ONNX node {node.name or t!r} ({t})"
        if t == "Constant":
            a = _attrs(onnx, node)
            if "value" not in a:
                _refuse(node, "only tensor constants")
            const[node.output[0]] = np.asarray(nh.to_array(a["value"]), dtype=np.float64)
            continue
        data = [i for i in node.input if i and i not in const]
        if data != [cur]:
            _refuse(node, f"its data inputs {data} do not continue the chain from {cur!r} (branches are not supported)")
        a = _attrs(onnx, node)
        if t in ("Identity", "Dropout"):
            pass
        elif t == "Gemm":
            if a.get("transA", 0):
                _refuse(node, "transA=1")
            W = const[node.input[1]] * a.get("alpha", 1.0)
            W = W if a.get("transB", 0) else W.T
            bias = None
            if len(node.input) > 2 and node.input[2]:
                bias = np.broadcast_to(const[node.input[2]] * a.get("beta", 1.0), (W.shape[0],)).copy()
            b.add(Dense(W), bias, where)
        elif t == "MatMul":
            W = const[node.input[1]]
            if W.ndim != 2:
                _refuse(node, f"weight of shape {W.shape} (only 2-D)")
            b.add(Dense(W.T), None, where)
        elif t == "Add":
            la = b.last_open()
            other = [i for i in node.input if i != cur][0]
            if la is None or la.op.kind not in ("dense", "conv2d") or la.bias is not None:
                _refuse(node, "Add is read only as the bias of a preceding MatMul/Gemm/Conv without one")
            bias_shape = la.op.bias_shape(b.shapes[-2])
            v = const[other]
            if la.op.kind == "conv2d":
                v = v.reshape(-1) if v.size == bias_shape[0] else None
            else:
                v = np.broadcast_to(v, bias_shape).copy() if v.size in (1, bias_shape[0]) else None
            if v is None:
                _refuse(node, f"bias of shape {const[other].shape} does not match the layer ({bias_shape})")
            b.replace_last(Layer(la.op, v, "identity"), where)
        elif t == "Conv":
            W = const[node.input[1]]
            if a.get("group", 1) != 1:
                _refuse(node, f"group={a['group']} (only 1)")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                _refuse(node, f"dilations {a['dilations']} (only 1)")
            pads = list(a.get("pads", [0, 0, 0, 0]))
            ap = a.get("auto_pad", b"NOTSET")
            ap = ap.decode() if isinstance(ap, bytes) else ap
            if ap not in ("NOTSET", "VALID"):
                _refuse(node, f"auto_pad={ap} (give explicit pads)")
            if W.ndim != 4 or pads[:2] != pads[2:]:
                _refuse(node, f"pads {pads} are not symmetric (or the kernel is not 2-D)")
            bias = const[node.input[2]].reshape(-1) if len(node.input) > 2 and node.input[2] else None
            b.add(Conv2d(W, stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2])), bias, where)
        elif t in _ACT:
            la = b.last_open()
            if la is None:
                _refuse(node, "two activations in a row, or an activation on the input")
            b.replace_last(Layer(la.op, la.bias, _ACT[t]), where)
        elif t == "AveragePool":
            if any(a.get("pads", [0, 0, 0, 0])) or a.get("ceil_mode", 0):
                _refuse(node, f"pads {a.get('pads')} / ceil_mode {a.get('ceil_mode', 0)} (only no padding, floor)")
            ks = tuple(a["kernel_shape"])
            b.add(AvgPool2d(ks, tuple(a.get("strides", ks))), None, where)
        elif t == "Flatten":
            if a.get("axis", 1) != 1:
                _refuse(node, f"axis={a['axis']} (only 1: keep the batch axis)")
            if len(b.shape) > 1:
                b.add(Flatten(), None, where)
        elif t == "Reshape":
            shp = const.get(node.input[1])
            n = int(np.prod(b.shape))
            if shp is None or shp.size != 2 or int(shp[1]) not in (-1, n) or int(shp[0]) not in (-1, 0, 1):
                _refuse(node, f"target shape {None if shp is None else shp.astype(int).tolist()} is not a flatten to (batch, {n})")
            if len(b.shape) > 1:
                b.add(Flatten(), None, where)
        else:
            _refuse(node)
        cur = node.output[0]
    if cur != g.output[0].name:
        raise ConfigError(f"The ONNX chain ends at {cur!r}, not at the graph output {g.output[0].name!r}.")
    if not b.layers:
        raise ConfigError("The ONNX graph has no layers neurosim can read.")
    return Network.from_layers(b.layers, b.shapes[0], name=name or g.name or "onnx")


def load_onnx(path) -> Network:
    """Read an ONNX file (``torch.onnx.export``, ...) into a :class:`Network`."""
    onnx, _ = _onnx()
    p = Path(path)
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # protobuf raises its own DecodeError types
        raise FileFormatError(f"'{p}' is not a readable ONNX model ({type(exc).__name__}); re-export it.") from None
    try:
        return from_onnx(model, name=p.stem)
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None

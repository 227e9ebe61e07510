"""NIR (Neuromorphic Intermediate Representation, ``nir`` 1.0.8): read and write.

Reading (:func:`from_nir`, :func:`load_nir`): the graph must be a chain
``Input -> ... -> Output``. Op nodes (``Affine``, ``Linear``, ``Conv2d``,
``SumPool2d``, ``AvgPool2d``, ``Flatten``, ``Scale``) each start a layer; a
neuron node (``IF``, ``LIF``, ``CubaLIF``, ``LI``, ``I``, ``CubaLI``) that
follows an op becomes that layer's neuron model (a neuron node with no op
before it gets a unit ``Scale`` op). An op with no neuron node after it is
linear (``identity``). Neuron parameters are translated by
:data:`NIR_NEURONS` (NIR ``tau`` -> ``tau_mem_s`` etc.) and flattened to one
value per neuron; the neuron model itself comes from
:data:`neurosim.layers.NEURON_TYPES` under the kind named in :data:`NIR_NEURONS`
(``"LIF"``, ``"IF"``, ``"CubaLIF"``, ``"LI"``, ``"I"``: :mod:`neurosim.spiking.neurons`);
CubaLI is refused with one line naming the node. Settings NIR has no field
for (reset by subtraction, refractory ticks, synaptic delay) travel in the
neuron node's metadata (``neurosim_reset_subtract``, ...), which other tools ignore.

Writing (:func:`to_nir`, :func:`save_nir`): one op node per layer, then its
neuron node for spiking models. NIR has no rate activations; a ``relu``,
``sigmoid`` or ``tanh`` layer is written as its op with metadata
``{"neurosim_activation": "relu"}``, which :func:`from_nir` restores (other
NIR tools ignore metadata and would see a linear layer, so
:func:`to_nir` refuses such networks unless ``rate_activations="metadata"``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..layers import (ACTIVATIONS, NEURON_TYPES, AvgPool2d, Conv2d, Dense, Flatten, Layer, Scale, SumPool2d,
                      make_neuron)
from ..network import Network

#: NIR neuron node type -> (neurosim neuron kind, {NIR parameter: neurosim parameter})
NIR_NEURONS = {
    "IF": ("IF", {"r": "r", "v_threshold": "v_threshold", "v_reset": "v_reset"}),
    "LIF": ("LIF", {"tau": "tau_s", "r": "r", "v_leak": "v_leak", "v_threshold": "v_threshold",
                    "v_reset": "v_reset"}),
    "CubaLIF": ("CubaLIF", {"tau_mem": "tau_mem_s", "tau_syn": "tau_syn_s", "r": "r", "v_leak": "v_leak",
                            "v_threshold": "v_threshold", "v_reset": "v_reset", "w_in": "w_in"}),
    "LI": ("LI", {"tau": "tau_s", "r": "r", "v_leak": "v_leak"}),
    "CubaLI": ("cubali", {"tau_mem": "tau_mem_s", "tau_syn": "tau_syn_s", "r": "r", "v_leak": "v_leak",
                          "w_in": "w_in"}),
    "I": ("I", {"r": "r"}),
}
#: neurosim settings NIR has no field for, kept in the neuron node's metadata (other tools ignore them)
META_SETTINGS = {"neurosim_reset_subtract": "reset_subtract", "neurosim_refractory_ticks": "refractory_ticks",
                 "neurosim_delay_ticks": "delay_ticks"}
OP_NODES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale")
SUPPORTED = ("Input", "Output", "Identity") + OP_NODES + tuple(NIR_NEURONS)
META_ACT = "neurosim_activation"


def _nir():
    try:
        import nir
    except ImportError:
        raise ConfigError("Reading or writing NIR needs the 'nir' package: pip install 'neurosim-faults[nir]'.") from None
    return nir


def _refuse(name, node, why=""):
    t = type(node).__name__
    raise ConfigError(
        f"NIR node {name!r} ({t}) is not supported{': ' + why if why else ''}; neurosim reads "
        f"{', '.join(SUPPORTED)} in a feed-forward chain."
    )


def _chain(graph):
    """Node names from Input to Output in order; refuse branches, cycles and nesting."""
    nir = _nir()
    nodes, edges = graph.nodes, list(graph.edges)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            _refuse(name, node, "nested subgraphs; flatten the graph before exporting")
    succ, pred = {}, {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ConfigError(f"A NIR graph for neurosim needs exactly one Input node. Got {len(inputs)}: {inputs}.")
    order, cur, seen = [], inputs[0], set()
    while True:
        if cur in seen:
            raise ConfigError(f"NIR graph has a cycle through node {cur!r} (recurrent); neurosim runs feed-forward chains only.")
        seen.add(cur)
        order.append(cur)
        nxt = succ.get(cur, [])
        if isinstance(nodes[cur], nir.Output):
            if nxt:
                raise ConfigError(f"NIR Output node {cur!r} has outgoing edges; neurosim runs feed-forward chains only.")
            break
        if len(nxt) != 1:
            raise ConfigError(
                f"NIR node {cur!r} has {len(nxt)} successors; neurosim reads feed-forward chains (one path Input -> Output)."
            )
        cur = nxt[0]
        if len(pred.get(cur, [])) != 1:
            raise ConfigError(
                f"NIR node {cur!r} has {len(pred.get(cur, []))} inputs (a merge or recurrence); neurosim reads feed-forward chains only."
            )
    if len(order) != len(nodes):
        extra = sorted(set(nodes) - set(order))
        raise ConfigError(f"NIR graph has nodes off the Input -> Output path: {extra}; neurosim reads one chain.")
    return order


def _ints(name, node, field_name, v):
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2:
        _refuse(name, node, f"{field_name} {v!r} is not 2-D")
    return tuple(int(s) for s in a)


def _op(name, node, in_shape):
    t = type(node).__name__
    if t == "Affine":
        return Dense(np.asarray(node.weight, np.float64)), np.asarray(node.bias, np.float64).ravel()
    if t == "Linear":
        return Dense(np.asarray(node.weight, np.float64)), None
    if t == "Scale":
        return Scale(np.asarray(node.scale, np.float64).reshape(in_shape) if np.size(node.scale) == np.prod(in_shape)
                     else np.asarray(node.scale, np.float64)), None
    if t == "Flatten":
        return Flatten(), None
    if t == "Conv2d":
        if int(node.groups) != 1:
            _refuse(name, node, f"groups={node.groups} (only 1)")
        if _ints(name, node, "dilation", node.dilation) != (1, 1):
            _refuse(name, node, f"dilation {node.dilation} (only 1)")
        W = np.asarray(node.weight, np.float64)
        pad = node.padding
        if isinstance(pad, (str, bytes)):
            pad = pad.decode() if isinstance(pad, bytes) else pad
            if pad == "valid":
                pad = (0, 0)
            elif pad == "same" and _ints(name, node, "stride", node.stride) == (1, 1) and all(k % 2 for k in W.shape[2:]):
                pad = ((W.shape[2] - 1) // 2, (W.shape[3] - 1) // 2)
            else:
                _refuse(name, node, f"padding {pad!r} (use integer padding, or 'same' with stride 1 and odd kernels)")
        bias = None if node.bias is None else np.asarray(node.bias, np.float64).ravel()
        if bias is not None and bias.size == 1 and W.shape[0] != 1:
            bias = np.full(W.shape[0], float(bias[0]))
        return Conv2d(W, stride=_ints(name, node, "stride", node.stride), padding=_ints(name, node, "padding", pad)), bias
    if t in ("SumPool2d", "AvgPool2d"):
        cls = SumPool2d if t == "SumPool2d" else AvgPool2d
        pad = _ints(name, node, "padding", node.padding)
        if pad != (0, 0):
            _refuse(name, node, f"padding {pad} (only 0)")
        return cls(_ints(name, node, "kernel_size", node.kernel_size), _ints(name, node, "stride", node.stride)), None
    _refuse(name, node)


def _neuron(name, node, n_out):
    kind, table = NIR_NEURONS[type(node).__name__]
    if kind not in NEURON_TYPES:
        raise ConfigError(
            f"NIR node {name!r} is a spiking {type(node).__name__} neuron; this neurosim has no spiking '{kind}' model "
            f"registered yet (spiking mode), so it reads rate networks only ({', '.join(OP_NODES)})."
        )
    params = {}
    for nir_key, ns_key in table.items():
        v = getattr(node, nir_key, None)
        if v is None:
            continue
        a = np.asarray(v, np.float64).ravel()
        if a.size not in (1, n_out):
            raise ConfigError(f"NIR node {name!r}: parameter {nir_key!r} has {a.size} values for {n_out} neurons.")
        params[ns_key] = a
    meta = getattr(node, "metadata", None) or {}
    for mk, ns_key in META_SETTINGS.items():
        if mk in meta:
            params[ns_key] = float(np.asarray(meta[mk]).ravel()[0])
    return make_neuron(kind, params)


def _input_shape(node):
    shape = node.input_type.get("input") if isinstance(node.input_type, dict) else node.input_type
    shape = tuple(int(s) for s in np.atleast_1d(np.asarray(shape)))
    if len(shape) == 2:
        shape = (1,) + shape
    return shape


def from_nir(graph, name: str = "nir") -> Network:
    """Convert a ``nir.NIRGraph`` into a :class:`Network` (rules in the module docstring)."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError(f"'graph' must be a nir.NIRGraph. Got {type(graph).__name__}.")
    order = _chain(graph)
    nodes = graph.nodes
    shape = _input_shape(nodes[order[0]])
    layers, pending = [], None  # pending: (op, bias, activation) waiting for a neuron node
    shapes = [shape]

    def close(neuron):
        nonlocal pending
        op, bias, act = pending
        layers.append(Layer(op, bias, neuron if neuron is not None else act))
        shapes.append(layers[-1].check(shapes[-1], f"NIR layer {len(layers)}"))
        pending = None

    for nm in order[1:]:
        node = nodes[nm]
        t = type(node).__name__
        if t in ("Output", "Identity"):
            continue
        if t in NIR_NEURONS:
            if pending is None:
                pending = (Scale(np.ones(1)), None, "identity")
            op = pending[0]
            n_out = int(np.prod(op.out_shape(shapes[-1])))
            close(_neuron(nm, node, n_out))
            continue
        if t not in OP_NODES:
            _refuse(nm, node)
        if pending is not None:
            close(None)
        act = (getattr(node, "metadata", None) or {}).get(META_ACT, "identity")
        act = act.decode() if isinstance(act, bytes) else str(act)
        if act not in ACTIVATIONS:
            raise ConfigError(f"NIR node {nm!r}: metadata {META_ACT}={act!r} is not one of {', '.join(ACTIVATIONS)}.")
        op, bias = _op(nm, node, shapes[-1])
        pending = (op, bias, act)
    if pending is not None:
        close(None)
    if not layers:
        raise ConfigError("The NIR graph has no layers between Input and Output.")
    return Network.from_layers(layers, shape, name=name)


def load_nir(path) -> Network:
    """Read a NIR file written by ``nir.write`` into a :class:`Network`."""
    nir = _nir()
    p = Path(path)
    try:
        graph = nir.read(p)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as exc:
        raise FileFormatError(f"'{p}' is not a readable NIR file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                              "re-export it with nir.write.") from None
    try:
        return from_nir(graph, name=p.stem)
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None


# ----------------------------------------------------------------------------- writing
def _neuron_node(nir, la, n_out):
    kind = la.neuron.kind
    for t, (k, table) in NIR_NEURONS.items():
        if k == kind:
            inv = {v: key for key, v in table.items()}
            kw = {inv[p]: np.broadcast_to(np.asarray(v, np.float64), (n_out,)).copy()
                  for p, v in la.neuron.params.items() if p in inv}
            meta = {mk: float(np.asarray(la.neuron.params[p]).ravel()[0]) for mk, p in META_SETTINGS.items()
                    if p in la.neuron.params and float(np.asarray(la.neuron.params[p]).ravel()[0]) != 0.0}
            return getattr(nir, t)(**kw, metadata=meta) if meta else getattr(nir, t)(**kw)
    raise ConfigError(f"Neuron model {kind!r} has no NIR node type; NIR knows {', '.join(NIR_NEURONS)}.")


def to_nir(net: Network, rate_activations: str = "refuse"):
    """Write ``net`` as a ``nir.NIRGraph`` (chain ``input, layer1, [layer1_neuron], ..., output``).

    ``rate_activations="metadata"`` stores relu/sigmoid/tanh as node metadata
    (restored by :func:`from_nir`; other NIR tools see linear layers); the
    default refuses them, since NIR has no rate activation nodes.
    """
    nir = _nir()
    if not isinstance(net, Network):
        raise ConfigError(f"'net' must be a neurosim.Network. Got {type(net).__name__}.")
    if rate_activations not in ("refuse", "metadata"):
        raise ConfigError(f"'rate_activations' must be 'refuse' or 'metadata'. Got {rate_activations!r}.")
    nodes = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    order = ["input"]
    for k, (la, s_in, s_out) in enumerate(zip(net.layers, net.shapes[:-1], net.shapes[1:]), start=1):
        op = la.op
        meta = {}
        if la.is_rate and la.activation != "identity":
            if rate_activations == "refuse":
                raise ConfigError(
                    f"Layer {k} has activation {la.activation!r}, which NIR cannot express; pass "
                    "rate_activations='metadata' to store it as node metadata (read back by neurosim only)."
                )
            meta = {META_ACT: la.activation}
        if op.kind == "dense":
            node = (nir.Affine(weight=np.array(op.weight), bias=np.array(la.bias), metadata=meta) if la.bias is not None
                    else nir.Linear(weight=np.array(op.weight), metadata=meta))
        elif op.kind == "conv2d":
            b = la.bias if la.bias is not None else np.zeros(op.weight.shape[0])
            node = nir.Conv2d(input_shape=tuple(s_in[1:]), weight=np.array(op.weight), stride=op.stride,
                              padding=op.padding, dilation=(1, 1), groups=1, bias=np.array(b), metadata=meta)
        elif op.kind in ("avgpool2d", "sumpool2d"):
            cls = nir.AvgPool2d if op.kind == "avgpool2d" else nir.SumPool2d
            node = cls(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding),
                       metadata=meta)
        elif op.kind == "flatten":
            node = nir.Flatten(input_type={"input": np.array(s_in)}, start_dim=0, end_dim=-1, metadata=meta)
        elif op.kind == "scale":
            node = nir.Scale(scale=np.array(np.broadcast_to(op.factor, s_in)), metadata=meta)
        else:
            raise ConfigError(f"Layer {k}: op {op.kind!r} has no NIR node type.")
        nm = f"layer{k}_{op.kind}"
        nodes[nm] = node
        order.append(nm)
        if not la.is_rate:
            nodes[f"layer{k}_{la.neuron.kind}"] = _neuron_node(nir, la, int(np.prod(s_out)))
            order.append(f"layer{k}_{la.neuron.kind}")
    nodes["output"] = nir.Output(output_type={"output": np.array(net.shapes[-1])})
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def save_nir(net: Network, path, rate_activations: str = "refuse") -> None:
    """``nir.write(path, to_nir(net, rate_activations))``."""
    graph = to_nir(net, rate_activations)
    _nir().write(str(path), graph)

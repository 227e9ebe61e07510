"""Importers with files made by the real libraries: torch.onnx.export, nir.write, torch.save."""
import json
import warnings

import numpy as np
import pytest

import neurosim as ns
from neurosim import ConfigError, FileFormatError
from neurosim.io import from_onnx, from_torch, from_torch_state_dict, load_network, save_nir, to_nir
from reference_conv import tiny_cnn
from test_cli_foundation import run_cli

torch = pytest.importorskip("torch")  # torch exists for Python 3.11 only (the dev extra pins it there)
import nir  # noqa: E402
import onnx  # noqa: E402

nn = torch.nn


def _cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Sequential(nn.Conv2d(4, 3, 2, stride=2, bias=False), nn.Tanh()),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(12, 8), nn.Sigmoid(), nn.Identity(), nn.Linear(8, 10),
    ).eval()


def _export(module, path, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, *shape),), str(path), dynamo=False)


def test_onnx_export_and_from_torch_match_torch(tmp_path):
    """Acceptance 1: torch.onnx.export file and from_torch both give torch's outputs within 1e-5."""
    m = _cnn()
    _export(m, tmp_path / "cnn.onnx", (1, 8, 8))
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        ref = m.double()(x.double()).numpy()
    a = load_network(tmp_path / "cnn.onnx")
    b = from_torch(m, (1, 8, 8))
    assert a.kinds == b.kinds == ("conv2d", "avgpool2d", "conv2d", "flatten", "dense", "dense")
    assert a.activations == ("relu", "identity", "tanh", "identity", "sigmoid", "identity")
    np.testing.assert_allclose(a.forward(x.numpy()), ref, atol=1e-5)
    np.testing.assert_allclose(b.forward(x.numpy()), ref, atol=1e-12)


def test_onnx_matmul_add_and_reshape_flatten(tmp_path):
    """MatMul + Add (bias) and Reshape(-1, n) as flatten, built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    W = rng.normal(size=(18, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.array([-1, 18], np.int64), "shape")]
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "W"], ["m"], name="mm"),
             helper.make_node("Add", ["m", "b"], ["y"], name="add")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 5])], inits)
    onnx.save(helper.make_model(g), tmp_path / "mm.onnx")
    net = load_network(tmp_path / "mm.onnx")
    x = rng.normal(size=(4, 2, 3, 3))
    np.testing.assert_allclose(net.forward(x), x.reshape(4, -1) @ W.astype(float) + b, atol=1e-12)


@pytest.mark.parametrize("module,needle", [
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 2)), "MaxPool"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, dilation=2), nn.Flatten(), nn.Linear(32, 2)), "dilation"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.LeakyReLU(), nn.Linear(4, 2)), "LeakyRelu"),
])
def test_unsupported_onnx_nodes_refused_one_line(tmp_path, capsys, module, needle):
    """Acceptance 3: node type, its name and what is supported, on one line; exit 2 on the command line."""
    _export(module().eval(), tmp_path / "bad.onnx", (1, 8, 8))
    with pytest.raises(ConfigError) as ei:
        load_network(tmp_path / "bad.onnx")
    msg = str(ei.value)
    assert "\n" not in msg and needle in msg and "Gemm" in msg and "ONNX node" in msg
    code, out, err = run_cli(["map", str(tmp_path / "bad.onnx"), "--profile", "loihi"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


@pytest.mark.parametrize("module,needle", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), "MaxPool2d"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, padding_mode="reflect")), "padding_mode"),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.ReLU(), nn.Linear(3, 2)), "two in a row"),
    (nn.Linear(4, 2), "nn.Sequential"),
])
def test_unsupported_torch_modules_refused_one_line(module, needle):
    with pytest.raises(ConfigError) as ei:
        from_torch(module, (1, 8, 8) if isinstance(module, nn.Sequential) and isinstance(module[0], nn.Conv2d) else (4,))
    assert "\n" not in str(ei.value) and needle in str(ei.value)


def test_state_dict_weights_only(tmp_path):
    m = _cnn()
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    net = from_torch_state_dict(tmp_path / "sd.pt", _cnn(seed=1), (1, 8, 8))
    x = np.random.default_rng(0).uniform(size=(3, 1, 8, 8))
    np.testing.assert_allclose(net.forward(x), from_torch(m, (1, 8, 8)).forward(x), atol=1e-12)
    with pytest.raises(ConfigError, match="conv layers need the architecture"):
        from_torch_state_dict(tmp_path / "sd.pt")
    mlp = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))
    torch.save(mlp.state_dict(), tmp_path / "mlp.pt")
    net = from_torch_state_dict(tmp_path / "mlp.pt", activation="tanh")
    xx = torch.rand(5, 6)
    np.testing.assert_allclose(net.forward(xx.numpy()), mlp.double()(xx.double()).detach().numpy(), atol=1e-12)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"0.weight": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(FileFormatError, match="weights_only=True"):
        from_torch_state_dict(tmp_path / "evil.pt")


def test_torch_file_given_to_load_network_says_how(tmp_path, capsys):
    torch.save(_cnn().state_dict(), tmp_path / "digits_torch.pt")
    with pytest.raises(FileFormatError, match="from_torch"):
        load_network(tmp_path / "digits_torch.pt")
    code, _, err = run_cli(["map", str(tmp_path / "digits_torch.pt"), "--profile", "loihi"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "from_torch" in err
    (tmp_path / "junk.bin").write_bytes(b"\x01\x02garbage")
    with pytest.raises(FileFormatError, match="not a model file"):
        load_network(tmp_path / "junk.bin")


def test_nir_round_trip_via_nir_write(tmp_path, rng):
    net = tiny_cnn(rng, c_in=2, hw=6, pool="sum")
    x = rng.normal(size=(4, 2, 6, 6))
    save_nir(net, tmp_path / "cnn.nir", rate_activations="metadata")
    assert nir.read(str(tmp_path / "cnn.nir")).nodes  # a real NIR file
    back = load_network(tmp_path / "cnn.nir")
    assert back.kinds == net.kinds and back.activations == net.activations
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    with pytest.raises(ConfigError, match="rate_activations='metadata'"):
        to_nir(net)


def test_nir_written_by_nir_is_read(tmp_path, rng):
    """A graph built and written with the nir package itself (Affine, Scale, Conv2d, AvgPool2d, Flatten)."""
    Wc = rng.normal(size=(2, 1, 3, 3)); bc = rng.normal(size=2)
    Wa = rng.normal(size=(3, 8)); ba = rng.normal(size=3)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([1, 5, 5])}),
        "s": nir.Scale(scale=np.full((1, 5, 5), 0.5)),
        "c": nir.Conv2d(input_shape=(5, 5), weight=Wc, stride=1, padding=0, dilation=1, groups=1, bias=bc),
        "p": nir.AvgPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]), padding=np.array([0, 0])),
        "f": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0),
        "a": nir.Affine(weight=np.hstack([Wa, Wa[:, :1]]) if False else rng.normal(size=(3, 18)), bias=ba),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "s"), ("s", "c"), ("c", "p"), ("p", "f"), ("f", "a"), ("a", "out")]
    nir.write(str(tmp_path / "g.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    net = load_network(tmp_path / "g.nir")
    x = rng.normal(size=(2, 1, 5, 5))
    from reference_conv import conv2d_loops
    ref = conv2d_loops(0.5 * x, Wc, bc, (1, 1), (0, 0)).reshape(2, -1) @ nodes["a"].weight.T + ba
    np.testing.assert_allclose(net.forward(x), ref, atol=1e-12)


@pytest.mark.parametrize("case,needle", [
    ("threshold", "Threshold"), ("branch", "successors"), ("recurrent", "recurrence"),
])
def test_nir_unsupported_refused_one_line(tmp_path, capsys, rng, case, needle):
    # LIF/IF nodes are read as spiking layers since the spiking mode landed (tests/test_spiking_nir.py)
    A = nir.Affine(weight=rng.normal(size=(3, 3)), bias=np.zeros(3))
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "a": A,
             "out": nir.Output(output_type={"output": np.array([3])})}
    edges = [("in", "a"), ("a", "out")]
    if case == "lif":
        nodes["n"] = nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
        edges = [("in", "a"), ("a", "n"), ("n", "out")]
    elif case == "threshold":
        nodes["n"] = nir.Threshold(threshold=np.ones(3))
        edges = [("in", "a"), ("a", "n"), ("n", "out")]
    elif case == "branch":
        nodes["b"] = nir.Affine(weight=np.eye(3), bias=np.zeros(3))
        edges = [("in", "a"), ("in", "b"), ("a", "out"), ("b", "out")]
    elif case == "recurrent":
        nodes["b"] = nir.Affine(weight=np.eye(3), bias=np.zeros(3))
        edges = [("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")]
    nir.write(str(tmp_path / "g.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    with pytest.raises(ConfigError) as ei:
        load_network(tmp_path / "g.nir")
    assert "\n" not in str(ei.value) and needle in str(ei.value)
    code, _, err = run_cli(["map", str(tmp_path / "g.nir"), "--profile", "loihi"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_map_onnx_json(tmp_path, capsys):
    """Acceptance 1: neurosim map cnn.onnx --profile loihi --json."""
    _export(_cnn(), tmp_path / "cnn.onnx", (1, 8, 8))
    code, out, err = run_cli(["map", str(tmp_path / "cnn.onnx"), "--profile", "loihi", "--json"], capsys)
    assert code == 0, err
    s = json.loads(out)["result"]  # the command-line envelope (docs/cli.md)
    assert s["network"]["ops"][0] == "conv2d" and s["layers"][0]["positions"] == 64
    assert s["layers"][0]["shape"] == [4, 9] and s["conv_kernels"] == "shared"


@pytest.mark.parametrize("fmt", ["onnx", "nir"])
def test_every_command_accepts_onnx_and_nir(tmp_path, capsys, fmt, rng):
    m = _cnn()
    net = from_torch(m, (1, 8, 8))
    path = tmp_path / f"cnn.{fmt}"
    if fmt == "onnx":
        _export(m, path, (1, 8, 8))
    else:
        save_nir(net, path, rate_activations="metadata")
    common = ["--dataset", "digits", "--limit", "30"]
    cmds = [
        ["simulate", path, "--profile", "rram", "--fault", "synapse:transient:1e-2", "--chips", "3", "--json"],
        ["bounds", path, "--p", "0.01", "--layer", "1", "--json"],
        ["compare", path, "--fault", "neuron:transient:0.01:layers=1", "--chips", "5", "-o", tmp_path / "cmp"],
        ["sweep", path, "--fault", "synapse:transient", "--rates", "1e-3:1e-2:2", "--chips", "2",
         "-o", tmp_path / "sw.h5"],
        ["plan", path, "--profile", "rram", "--fault", "synapse:permanent:0.01", "--eps", "5", "--delta", "0.1",
         "-o", tmp_path / "plan"],
    ]
    for argv in cmds:
        seed = ["--seed", "1"] if argv[0] != "bounds" else []  # bounds draws nothing at random: no --seed
        code, out, err = run_cli(argv + common + seed, capsys)
        assert code == 0, (argv[0], err)

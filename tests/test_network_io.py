"""Network construction/validation, forward pass, native HDF5 I/O and scikit-learn import."""
import shutil
import warnings

import h5py
import numpy as np
import pytest

import neurosim
from neurosim import ConfigError, FileFormatError, Network, load_network, save_network
from neurosim.io import from_sklearn, load_bundled_data
from reference import ACT, random_net


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, f"message is not one line: {msg!r}"
    return msg


# ----------------------------------------------------------------------------- validation
def _valid(rng):
    return [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))], [np.zeros(4), np.zeros(2)]


@pytest.mark.parametrize("case", [
    "no_chain", "nan_w", "inf_w", "nan_b", "inf_b", "bias_shape", "bias_2d", "bad_act",
    "nonlinear_last", "too_many_acts", "empty", "w_1d", "n_biases",
])
def test_from_arrays_rejects_invalid(rng, case):
    """Every malformed input raises ConfigError (a ValueError) with a one-line message naming the problem."""
    Ws, bs = _valid(rng)
    acts = ["relu", "identity"]
    expect = None
    if case == "no_chain":
        Ws[1] = rng.normal(size=(2, 5)); expect = "W_2"
    elif case == "nan_w":
        Ws[0][1, 2] = np.nan; expect = "W_1"
    elif case == "inf_w":
        Ws[1][0, 0] = -np.inf; expect = "W_2"
    elif case == "nan_b":
        bs[0][3] = np.nan; expect = "b_1"
    elif case == "inf_b":
        bs[1][0] = np.inf; expect = "b_2"
    elif case == "bias_shape":
        bs[0] = np.zeros(3); expect = "b_1"
    elif case == "bias_2d":
        bs[1] = np.zeros((2, 1)); expect = "b_2"
    elif case == "bad_act":
        acts = ["softplus", "identity"]; expect = "softplus"
    elif case == "nonlinear_last":
        acts = ["relu", "relu"]; expect = "last layer"
    elif case == "too_many_acts":
        acts = ["relu", "relu", "identity"]; expect = "activations"
    elif case == "empty":
        Ws, bs = [], []; expect = "weights"
    elif case == "w_1d":
        Ws[0] = np.ones(3); expect = "W_1"
    elif case == "n_biases":
        bs = bs[:1]; expect = "biases"
    with pytest.raises(ConfigError) as ei:
        Network.from_arrays(Ws, bs, acts)
    assert isinstance(ei.value, ValueError)
    assert expect in _one_line(ei)


def test_from_arrays_activation_forms(rng):
    """One name per hidden layer, per layer, or a single string give the same network; last is identity."""
    Ws, bs = _valid(rng)
    a = Network.from_arrays(Ws, bs, ["tanh"])
    b = Network.from_arrays(Ws, bs, ["tanh", "identity"])
    c = Network.from_arrays(Ws, bs, "tanh")
    assert a.activations == b.activations == c.activations == ("tanh", "identity")
    assert a.sizes == (3, 4, 2) and a.n_synapses == 12 + 8


def test_from_arrays_copies_and_freezes(rng):
    """The network owns read-only copies: mutating the caller's arrays changes nothing."""
    Ws, bs = _valid(rng)
    net = Network.from_arrays(Ws, bs, "relu")
    w00 = net.weights[0][0, 0]
    Ws[0][0, 0] += 1.0
    assert net.weights[0][0, 0] == w00
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 5.0


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "identity"])
def test_forward_matches_hand_loop(rng, act):
    """forward(x) equals a per-row hand loop of y = act(W y + b) (to 1e-12), for every activation."""
    net = random_net(rng, [6, 5, 4, 3], act, scale=2.0)
    x = rng.normal(size=(9, 6))
    y = net.forward(x)
    assert y.shape == (9, 3)
    for r in range(9):
        h = x[r]
        for W, b, a in zip(net.weights, net.biases, net.activations):
            h = ACT[a](W @ h + b)
        np.testing.assert_allclose(y[r], h, rtol=1e-12, atol=1e-12)
    # a single 1-D input is one row
    np.testing.assert_allclose(net.forward(x[0]), y[:1], rtol=1e-12, atol=1e-12)


def test_forward_rejects_bad_inputs(small_net):
    """Wrong width, NaN inputs -> ConfigError."""
    with pytest.raises(ConfigError):
        small_net.forward(np.zeros((2, small_net.n_in + 1)))
    bad = np.zeros((2, small_net.n_in))
    bad[1, 0] = np.nan
    with pytest.raises(ConfigError):
        small_net.forward(bad)


def test_sigmoid_is_stable_for_large_inputs():
    """The logistic activation stays finite and in [0, 1] for |z| up to 1e4."""
    net = Network.from_arrays([np.array([[1.0], [-1.0]]), np.eye(2)], [np.zeros(2), np.zeros(2)], "sigmoid")
    y = net.forward(np.array([[1e4], [-1e4], [0.0]]))
    np.testing.assert_array_equal(y, [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


# ----------------------------------------------------------------------------- native HDF5
def _assert_same_net(a, b):
    assert a.name == b.name
    assert a.activations == b.activations
    assert len(a.weights) == len(b.weights)
    for Wa, Wb, ba, bb in zip(a.weights, b.weights, a.biases, b.biases):
        assert Wa.dtype == Wb.dtype == np.float64
        assert np.array_equal(Wa, Wb) and np.array_equal(ba, bb)


@pytest.mark.parametrize("sizes,acts", [
    ([1, 1], []),
    ([5, 3, 2], ["relu"]),
    ([4, 6, 5, 3], ["sigmoid", "tanh"]),
    ([3, 7, 2, 4, 2], ["identity", "relu", "sigmoid"]),
])
def test_save_load_bit_exact(rng, tmp_path, sizes, acts):
    """save_network -> load_network reproduces every weight and bias bit for bit, activations and name."""
    net = random_net(rng, sizes, acts, scale=1e3, name=f"net-{len(sizes)}-ü")
    # include values that a lossy float path would damage
    Ws = [W.copy() for W in net.weights]
    Ws[0].flat[0] = 1e-310  # subnormal
    Ws[-1].flat[-1] = np.nextafter(1.0, 2.0)
    net = net.with_weights(Ws)
    p = tmp_path / "n.h5"
    save_network(net, p)
    _assert_same_net(net, load_network(p))
    _assert_same_net(net, load_network(str(p)))


def test_bundled_data_roundtrip(rng, tmp_path, small_net):
    """Inputs and labels saved with a network come back identical; a file without data gives (None, None)."""
    x = rng.normal(size=(11, small_net.n_in))
    labels = rng.integers(0, 3, size=11)
    p = tmp_path / "with_data.h5"
    save_network(small_net, p, inputs=x, labels=labels)
    x2, l2 = load_bundled_data(p)
    assert np.array_equal(x2, x) and np.array_equal(l2, labels)
    q = tmp_path / "no_data.h5"
    save_network(small_net, q)
    assert load_bundled_data(q) == (None, None)


def test_shipped_example_loads(digits_path):
    """The bundled example is a 64-64-32-10 relu net with (n, 64) inputs and integer labels."""
    net = load_network(digits_path)
    assert net.sizes == (64, 64, 32, 10)
    assert net.activations == ("relu", "relu", "identity")
    x, y = load_bundled_data(digits_path)
    assert x.shape[1] == 64 and y.shape == (x.shape[0],) and x.shape[0] > 0
    assert np.all(np.isfinite(x))
    acc = np.mean(np.argmax(net.forward(x), 1) == y)
    assert acc > 0.8  # a trained digits classifier; chance is 0.1


def test_save_refuses_non_network(tmp_path):
    with pytest.raises(ConfigError):
        save_network("not a network", tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_failed_save_leaves_no_file(tmp_path, small_net):
    """A save that fails half-way (bad labels) leaves no file and no temporary behind."""
    p = tmp_path / "bad.h5"
    with pytest.raises(ConfigError):
        save_network(small_net, p, inputs=np.zeros((3, small_net.n_in)), labels=np.zeros(4))
    assert list(tmp_path.iterdir()) == []


def _truncated(tmp_path, digits_path):
    p = tmp_path / "trunc.h5"
    shutil.copy(digits_path, p)
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size // 2)
    return p


@pytest.mark.parametrize("kind", ["missing", "truncated", "text", "foreign_h5", "directory", "no_layers"])
def test_load_network_bad_files(tmp_path, digits_path, kind):
    """Missing, truncated, non-HDF5, foreign HDF5, directory, incomplete -> FileFormatError (an OSError), one line."""
    if kind == "missing":
        p = tmp_path / "nope.h5"
    elif kind == "truncated":
        p = _truncated(tmp_path, digits_path)
    elif kind == "text":
        p = tmp_path / "t.h5"
        p.write_text("this is not hdf5\n")
    elif kind == "foreign_h5":
        p = tmp_path / "f.h5"
        with h5py.File(p, "w") as f:
            f["data"] = np.arange(3)
            f.attrs["neurosim_type"] = "result"
            f.attrs["format_version"] = 1
    elif kind == "directory":
        p = tmp_path
    else:
        p = tmp_path / "i.h5"
        with h5py.File(p, "w") as f:
            f.attrs["neurosim_type"] = "network"
            f.attrs["format_version"] = 1
    with pytest.raises(FileFormatError) as ei:
        load_network(p)
    assert isinstance(ei.value, OSError) and isinstance(ei.value, neurosim.NeurosimError)
    msg = _one_line(ei)
    assert str(p.name) in msg or str(p) in msg


def test_load_network_nan_in_file_is_config_error(tmp_path, digits_path):
    """A file whose weights hold NaN is rejected by the same validation as from_arrays, naming the file."""
    p = tmp_path / "nan.h5"
    shutil.copy(digits_path, p)
    with h5py.File(p, "r+") as f:
        f["layers/001/weight"][0, 0] = np.nan
    with pytest.raises(ConfigError) as ei:
        load_network(p)
    msg = _one_line(ei)
    assert "nan.h5" in msg and "W_2" in msg


# ----------------------------------------------------------------------------- scikit-learn
def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_sklearn_classifier_predictions(rng, activation):
    """Converted MLPClassifier (3 classes): argmax of the logits equals predict() on every sample."""
    from sklearn.neural_network import MLPClassifier

    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    clf = _fit(MLPClassifier(hidden_layer_sizes=(7, 4), activation=activation, max_iter=300, random_state=0), X, y)
    net = from_sklearn(clf)
    assert net.sizes == (5, 7, 4, 3)
    Xt = rng.normal(size=(200, 5))
    assert np.array_equal(clf.classes_[np.argmax(net.forward(Xt), 1)], clf.predict(Xt))
    # logits -> softmax reproduces predict_proba
    z = net.forward(Xt)
    pr = np.exp(z - z.max(1, keepdims=True))
    pr /= pr.sum(1, keepdims=True)
    np.testing.assert_allclose(pr, clf.predict_proba(Xt), rtol=1e-9, atol=1e-12)


def test_sklearn_binary_classifier(rng):
    """Binary MLPClassifier: one logit; its sign gives predict()."""
    from sklearn.neural_network import MLPClassifier

    X = rng.normal(size=(100, 4))
    y = (X[:, 0] + X[:, 2] > 0).astype(int)
    clf = _fit(MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=1), X, y)
    net = from_sklearn(clf)
    assert net.n_out == 1
    Xt = rng.normal(size=(200, 4))
    assert np.array_equal(clf.classes_[(net.forward(Xt)[:, 0] > 0).astype(int)], clf.predict(Xt))


@pytest.mark.parametrize("n_targets", [1, 2])
def test_sklearn_regressor(rng, n_targets):
    """Converted MLPRegressor: forward equals predict() (1e-12)."""
    from sklearn.neural_network import MLPRegressor

    X = rng.normal(size=(80, 3))
    Y = np.stack([X[:, 0] * X[:, 1], np.sin(X[:, 2])], 1)[:, :n_targets]
    if n_targets == 1:
        Y = Y[:, 0]
    reg = _fit(MLPRegressor(hidden_layer_sizes=(5, 4), activation="tanh", max_iter=200, random_state=0), X, Y)
    net = from_sklearn(reg)
    Xt = rng.normal(size=(50, 3))
    np.testing.assert_allclose(net.forward(Xt).reshape(reg.predict(Xt).shape), reg.predict(Xt), rtol=1e-12, atol=1e-12)


def test_sklearn_unfitted_is_config_error():
    from sklearn.neural_network import MLPClassifier

    with pytest.raises(ConfigError):
        from_sklearn(MLPClassifier())

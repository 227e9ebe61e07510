"""neurosim.train: Eq. 1's gradient against finite differences; the λ term lowers b3's Var Δ on digits."""
import sys

import numpy as np
import pytest

if sys.version_info[:2] != (3, 11):
    pytest.skip(f"torch==2.13.0 is only provided for Python 3.11 (this is {sys.version.split()[0]})",
                allow_module_level=True)
torch = pytest.importorskip("torch", reason="torch is part of the dev extra on Python 3.11")

from neurosim.analysis import b3_bound  # noqa: E402
from neurosim.train import RegParams, TrainConfig, train_mlp  # noqa: E402
from neurosim.train.regularizer import regularized_loss  # noqa: E402
from neurosim.train.trainer import MLP, load_digits_split  # noqa: E402
from test_cli_foundation import run_cli  # noqa: E402


@pytest.mark.parametrize("target", ["loss", "output"])
def test_regularizer_gradient_matches_finite_differences(target):
    """Every term of Eq. 1 on; autograd (with the Hessian-vector product of the λ terms) vs central differences."""
    torch.manual_seed(0)
    model = MLP((5, 6, 4, 3), "tanh")
    x = torch.randn(7, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    reg = RegParams(lam=0.3, lam_w=0.2, mu=0.01, psi=(0.05, 0.07), nu=0.02, nu_l2=0.01, target=target,
                    layers=(1, 2), crash_layers=(1, 2))

    def f():
        return regularized_loss(model, x, y, reg)[0]

    total = f()
    params = list(model.parameters())
    grads = torch.autograd.grad(total, params)
    h = 1e-6
    rng = np.random.default_rng(1)
    checked = 0
    for P, G in zip(params, grads):
        flat = P.data.view(-1)
        for idx in rng.choice(flat.numel(), size=min(6, flat.numel()), replace=False):
            old = flat[idx].item()
            flat[idx] = old + h
            fp = f().item()
            flat[idx] = old - h
            fm = f().item()
            flat[idx] = old
            fd = (fp - fm) / (2 * h)
            assert G.view(-1)[idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-7)
            checked += 1
    assert checked >= 30
    # the λ term alone has a non-zero gradient (it is not silently detached)
    only = RegParams(lam=1.0, target=target, crash_layers=(1,))
    g = torch.autograd.grad(regularized_loss(model, x, y, only)[0] - regularized_loss(model, x, y, RegParams())[0],
                            params)
    assert sum(float(t.abs().sum()) for t in g) > 0


def test_lambda_term_lowers_b3_variance_at_equal_accuracy_on_digits():
    """Acceptance 3: training with Eq. 1's λ term lowers b3's Var Δ (crashes at layer 1) at equal accuracy."""
    _, Xte, _, _ = load_digits_split(0)
    runs = {}
    for lam in (0.0, 0.01):
        r = train_mlp(TrainConfig(hidden=(32,), epochs=150, reg=RegParams(lam=lam, target="output")))
        b3 = b3_bound(r.net, Xte, {1: 0.05})
        clean = r.net.forward(Xte)
        runs[lam] = (r.test_accuracy, float(np.mean(b3.std ** 2)), float(np.mean(b3.std ** 2) / np.var(clean)))
    (a0, v0, n0), (a1, v1, n1) = runs[0.0], runs[0.01]
    assert abs(a1 - a0) <= 0.02, runs
    assert v1 < 0.2 * v0, runs
    assert n1 < 0.5 * n0, runs  # also relative to the output's own spread (not just smaller logits)


def test_training_is_deterministic_and_dropout_changes_it():
    cfg = TrainConfig(hidden=(8,), epochs=5, crash_p=0.1, seed=3)
    a = train_mlp(cfg).net
    b = train_mlp(TrainConfig(hidden=(8,), epochs=5, crash_p=0.1, seed=3)).net
    c = train_mlp(TrainConfig(hidden=(8,), epochs=5, crash_p=0.0, seed=3)).net
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights))
    assert not all(np.array_equal(u, v) for u, v in zip(a.weights, c.weights))


def test_train_cli_writes_network_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "net.h5"
    code, stdout, err = run_cli(["train", "--hidden", "8", "--epochs", "3", "--lambda", "0.01", "--mu", "1e-6",
                                 "--psi", "1e-4,1e-2", "--nu", "1e-4", "--dropout", "0.05", "-o", out], capsys)
    assert code == 0, err
    import neurosim as ns

    assert ns.load_network(out).sizes == (64, 8, 10)
    code, _, err = run_cli(["train", "--dropout", "1.5", "-o", tmp_path / "x.h5"], capsys)
    assert code == 2 and "p_t" in err and not (tmp_path / "x.h5").exists()
    code, _, err = run_cli(["train", "--mu", "-1", "-o", tmp_path / "y.h5"], capsys)
    assert code == 2 and "mu" in err

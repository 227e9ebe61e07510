"""``neurosim train``: train an MLP on digits with the paper's regulariser (Eq. 1) and crash injection."""
from __future__ import annotations

from ..errors import ConfigError
from .common import add_json, add_output, add_seed, print_json


def _floats(text, name, n=None):
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"'{name}' must be comma-separated numbers. Got {text!r}.") from None
    if n is not None and len(vals) != n:
        raise ConfigError(f"'{name}' must hold {n} numbers (e.g. 1e-4,1e-2). Got {text!r}.")
    return vals


def _ints(text, name):
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"'{name}' must be comma-separated integers, e.g. 64,32. Got {text!r}.") from None


def add_parser(sub):
    p = sub.add_parser("train", help="train an MLP on scikit-learn's digits with Eq. 1 and crash injection (needs torch)")
    p.add_argument("--hidden", default="64", help="hidden widths, comma-separated (default 64)")
    p.add_argument("--activation", default="relu", choices=("relu", "sigmoid", "tanh"),
                   help="hidden activation (default relu)")
    p.add_argument("--epochs", type=int, default=300, help="training epochs (default 300)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    p.add_argument("--batch", type=int, default=None, help="minibatch size (default: full batch)")
    p.add_argument("--dropout", type=float, default=0.0, help="crash injection: unscaled dropout rate p_t (default 0)")
    p.add_argument("--lambda", dest="lam", type=float, default=0.0, help="λ of Eq. 1: R1 ≈ Var Δ / p (Theorem 1)")
    p.add_argument("--lambda-target", choices=("loss", "output"), default="loss",
                   help="R1 on the loss layer (paper) or summed over the outputs (b3's Var Δ)")
    p.add_argument("--lambda-w", type=float, default=0.0, help="short version's λ Σ (∂L/∂w)² w²")
    p.add_argument("--mu", type=float, default=0.0, help="μ of Eq. 1: (max_i W^i / min_i W^i)²")
    p.add_argument("--psi", default="0,0", help="ψ of Eq. 1 as DERIV,SMOOTH (paper: 1e-4,1e-2)")
    p.add_argument("--nu", type=float, default=0.0, help="ν of Eq. 1: Σ_l ||W_l||_∞")
    p.add_argument("--crash-layers", default="1", help="neuron layers of λ and dropout (0 = input), e.g. 1")
    p.add_argument("--reg-layers", default="1", help="weight matrices of μ and ψ (1-based), e.g. 1")
    add_seed(p)
    add_json(p)
    add_output(p, "file", "the trained network, native HDF5 (must not exist)", required=True, metavar="FILE.h5")
    p.set_defaults(func=run)


def run(args):
    from pathlib import Path

    out = Path(args.output)
    if out.exists():
        raise ConfigError(f"'--output' {out} exists; choose a new file name.")
    from ..train import RegParams, TrainConfig, train_mlp
    from ..train.trainer import load_digits_split
    from ..io import save_network

    reg = RegParams(lam=args.lam, lam_w=args.lambda_w, mu=args.mu, psi=_floats(args.psi, "--psi", 2), nu=args.nu,
                    target=args.lambda_target, layers=_ints(args.reg_layers, "--reg-layers"),
                    crash_layers=_ints(args.crash_layers, "--crash-layers"))
    cfg = TrainConfig(hidden=_ints(args.hidden, "--hidden"), activation=args.activation, epochs=args.epochs,
                      lr=args.lr, batch=args.batch, crash_p=args.dropout, seed=args.seed, reg=reg)
    res = train_mlp(cfg, name="digits_mlp_eq1")
    _, Xte, _, yte = load_digits_split(args.seed)
    tmp = out.with_name(out.name + ".tmp")
    save_network(res.net, tmp, inputs=Xte, labels=yte, source={"command": "neurosim train", **res.config,
                                                                "test_accuracy": res.test_accuracy})
    tmp.replace(out)
    summary = {"output": str(out), "train_accuracy": res.train_accuracy, "test_accuracy": res.test_accuracy,
               "history": res.history, "config": res.config}
    if args.json:
        print_json(args, summary, seed=args.seed)
        return 0
    last = res.history[-1]
    print(f"{res.net} trained {args.epochs} epochs: train accuracy {100 * res.train_accuracy:.2f}%, "
          f"test {100 * res.test_accuracy:.2f}%")
    print("final terms: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    print(f"wrote {out}")
    return 0

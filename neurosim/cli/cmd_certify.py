"""``neurosim certify``: Algorithm 1 of the paper on scikit-learn's digits (train, check, act; then R and verify)."""
from __future__ import annotations

from ..errors import ConfigError
from .common import add_json, add_output, add_seed, dump_json, print_json


def add_parser(sub):
    p = sub.add_parser("certify", help="Algorithm 1: train with Eq. 1 until (eps, delta) is certified, then R copies "
                                       "(needs torch)")
    p.add_argument("--eps", type=float, required=True, help="error threshold ε on the logits (‖Δ‖_∞)")
    p.add_argument("--delta", type=float, required=True, help="target failure probability of the median, e.g. 1e-5")
    p.add_argument("--p", type=float, required=True, help="neuron crash probability at the crash layer")
    p.add_argument("--complexity", type=float, required=True, help="C: the guess for R3 = smooth(W) (Algorithm 1 input)")
    p.add_argument("--layer", type=int, default=1, help="crashing hidden layer (default 1)")
    p.add_argument("--hidden", default="32", help="initial hidden widths, comma-separated (default 32)")
    p.add_argument("--width-step", type=int, default=32, help="'increase n by a constant amount' (default 32)")
    p.add_argument("--growth", type=float, default=2.0, help="factor for μ, ψ, λ increases (paper: doubling, 2)")
    p.add_argument("--activation", default="relu", choices=("relu", "sigmoid", "tanh"),
                   help="hidden activation (default relu)")
    p.add_argument("--epochs", type=int, default=200, help="training epochs per Algorithm 1 step (default 200)")
    p.add_argument("--max-iterations", type=int, default=12, help="Algorithm 1 steps before giving up (default 12)")
    p.add_argument("--verify-groups", type=int, default=300, help="median groups simulated (0 = skip)")
    add_seed(p)
    add_json(p)
    add_output(p, "dir", "receives algorithm1.json and network.h5", required=True)
    p.set_defaults(func=run)


def run(args):
    from ..io.h5util import atomic_dir, check_new_dir

    out = check_new_dir(args.output)
    try:
        hidden = tuple(int(h) for h in args.hidden.split(","))
    except ValueError:
        raise ConfigError(f"'--hidden' must be comma-separated integers, e.g. 32. Got {args.hidden!r}.") from None
    if args.verify_groups < 0:
        raise ConfigError(f"'--verify-groups' must be >= 0. Got {args.verify_groups}.")
    from ..io import save_network
    from ..plan.algorithm1 import Algorithm1Config, run_algorithm1
    from ..train.trainer import load_digits_split

    cfg = Algorithm1Config(eps=args.eps, delta=args.delta, p=args.p, complexity=args.complexity,
                           crash_layer=args.layer, hidden=hidden, width_step=args.width_step, growth=args.growth,
                           activation=args.activation, epochs=args.epochs, max_iterations=args.max_iterations,
                           verify_groups=args.verify_groups, seed=args.seed)
    cfg.validate()
    data = load_digits_split(args.seed)
    res = run_algorithm1(cfg, data=data, emit=(lambda s: None) if args.json else print)
    result = res.to_dict()
    with atomic_dir(out) as tmp:
        if res.net is not None:
            save_network(res.net, tmp / "network.h5", inputs=data[1], labels=data[3],
                         source={"command": "neurosim certify", "status": res.status, "R": res.R})
        (tmp / "algorithm1.json").write_text(dump_json(result) + "\n")
    if args.json:
        print_json(args, result, seed=args.seed)
        return 0
    print(f"status: {res.status} ({res.reason}); widths {res.widths}; regularisation {res.reg}")
    if res.R is not None:
        print(f"R = {res.R} copies (exact median tail {res.tail_at_R:.3g} <= {args.delta:g} at single-copy δ = "
              f"{res.delta_single:.3g}); the paper's (1/3)^(R/2) rule would give R = {res.R_paper}")
    print(f"wrote {out / 'algorithm1.json'}" + (f" and {out / 'network.h5'}" if res.net is not None else ""))
    return 0 if res.status == "certified" else 1

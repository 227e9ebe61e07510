r"""Algorithm 1 of the paper ("Achieving fault tolerance after training"), as written, step by step.

Main paper Sec. 6 (arXiv:1902.01686 v3), with the supplementary's Sec. 6
(expectations over inputs) and 6.1 (parameter doublings)::

    Select initial width N = (n_1, ..., n_{L-1});
    while true do
        Train a network to obtain W, B;                          # Eq. 1 regulariser
        Compute q from Proposition 3;
        If q < 1e-2, increase μ from Eq. 1, continue;
        Compute δ0 from Proposition 3 using q;
        If δ0 > 1/3, increase n by a constant amount, continue;
        Compute R3 from Eq. 1;
        If R3 > C, increase ψ from Eq. 1, continue;
        Compute E Δ and Var Δ from Theorem 1;
        If E Δ > ε, output infeasible;
        Compute δ from Proposition 5;
        If δ > 1/3, increase n by a constant amount and increase λ in Eq. 1, continue;
        Compute R = O(log 1/δ);
        Output R, N, W, B;

Choices (each stated in the log and the result):

* "increase μ / ψ / λ": multiply by ``growth`` (the paper doubles "for the
  simplicity of the proof"; 2 is allowed, the default 10 saves trainings);
  from 0 a parameter starts at ``mu0``/``psi0``/``lam0`` (defaults: the
  paper's MNIST values μ = 1e-10, ψ = (1e-4, 1e-2), λ = 1e-3 of Fig. 2).
* "increase n by a constant amount": every hidden width += ``width_step``.
* q and δ0 (Proposition 3, :func:`~neurosim.analysis.tails.proposition3_tail`)
  on the crashing layers' masses ``W_l^i = Σ_j |W_l^{ij}|``, α = e²·p
  (supplementary Sec. 6.1); several crashing layers: the smallest q, the
  union bound Σ δ0.
* E Δ and Var Δ (Theorem 1 = b3) over the input distribution (supplementary
  Sec. 6): ``E Δ_o = E_x E_ξ Δ_o``, ``Var Δ_o = E_x Var_ξ Δ_o + Var_x E_ξ Δ_o``
  (law of total variance), on the logits; the infeasibility check is
  ``max_o |E Δ_o| >= ε``.
* δ (Proposition 5, supplementary form): ``δ0 + Σ_o Var Δ_o / (ε - |E Δ_o|)²``
  (union over outputs for ``‖Δ‖_∞ >= ε``).
* R: the smallest odd R whose median of R independent copies has exact tail
  ``P(Bin(R, δ) >= ⌈R/2⌉) <= δ_target`` (the paper's ``(1/3)^{R/2}`` is not a
  bound, see ``docs/theory.md``), shown next to the paper's formula.
* R3 = smooth(W) = C1 + C2 + C3 of the regularised matrices
  (:func:`neurosim.train.regularizer.smoothness`).
* The λ term is R1 on the outputs (``target="output"``: b3's Var Δ / p), the
  quantity the δ check bounds.
* Verification by simulation: ``verify_chips`` groups of R independent chips
  (permanent neuron crashes at rate p, the same Bernoulli model for a fixed
  input), component-wise median of the R outputs, chip-clustered rate of
  ``‖median Δ‖_∞ >= ε`` and of single copies, next to δ and the exact tail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConfigError
from ..analysis.bounds import b3_bound
from ..analysis.cluster_stats import clustered_proportion
from ..analysis.tails import default_alpha, proposition3_tail, proposition5_tail, weight_mass
from ..train.regularizer import RegParams
from ..train.trainer import TrainConfig, load_digits_split, train_mlp

__all__ = ["Algorithm1Config", "Algorithm1Result", "run_algorithm1", "smoothness_of", "median_R"]

Q_MIN = 1e-2  # q_max of the paper's caption ("the numbers q_max = 1e-2 and δ_max = 1/3")
DELTA_MAX = 1.0 / 3.0


@dataclass
class Algorithm1Config:
    eps: float
    delta: float
    p: float
    complexity: float
    crash_layer: int = 1
    hidden: tuple = (32,)
    width_step: int = 32
    growth: float = 10.0
    mu0: float = 1e-10
    psi0: tuple = (1e-4, 1e-2)
    lam0: float = 1e-3
    reg: RegParams = field(default_factory=RegParams)
    activation: str = "relu"
    epochs: int = 200
    lr: float = 1e-2
    max_iterations: int = 12
    max_width: int = 1024
    verify_groups: int = 300
    seed: int = 0

    def validate(self):
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"'eps' must be > 0. Got {self.eps!r}.")
        if not 0 < self.delta < 1:
            raise ConfigError(f"'delta' must be in (0, 1), e.g. 1e-5. Got {self.delta!r}.")
        if not 0 < self.p < 0.5:
            raise ConfigError(f"'p' (neuron crash probability) must be in (0, 0.5). Got {self.p!r}.")
        if not (np.isfinite(self.complexity) and self.complexity > 0):
            raise ConfigError(f"'complexity' (C, the guess for R3) must be > 0. Got {self.complexity!r}.")
        if not self.growth > 1:
            raise ConfigError(f"'growth' must be > 1 (the paper doubles: 2). Got {self.growth!r}.")
        if int(self.width_step) != self.width_step or self.width_step < 1:
            raise ConfigError(f"'width_step' must be an integer >= 1. Got {self.width_step!r}.")
        if not 1 <= self.crash_layer <= len(self.hidden):
            raise ConfigError(f"'crash_layer' must be a hidden layer 1..{len(self.hidden)}. Got {self.crash_layer!r}.")
        if int(self.max_iterations) != self.max_iterations or self.max_iterations < 1:
            raise ConfigError(f"'max_iterations' must be an integer >= 1. Got {self.max_iterations!r}.")


@dataclass
class Algorithm1Result:
    status: str  # "certified", "infeasible" or "stopped"
    reason: str
    log: list
    widths: tuple
    reg: dict
    R: int | None
    R_paper: int | None
    delta_single: float | None
    tail_at_R: float | None
    net: object = None
    verification: dict | None = None
    config: dict | None = None

    def to_dict(self):
        d = {k: v for k, v in self.__dict__.items() if k != "net"}
        return d


def median_R(q: float, delta: float, max_R: int = 100001):
    """Smallest odd R with exact ``P(Bin(R, q) >= ⌈R/2⌉) <= delta`` and the paper's ``(1/3)^{R/2}`` R."""
    from ..analysis.planner import plan_replicas

    plan = plan_replicas(q, delta, max_R=max_R)  # exact tail; smallest R is odd (planner docstring)
    return int(plan.R), float(plan.tail), int(plan.paper_R)


def smoothness_of(net, layers) -> float:
    """R3 = Σ over ``layers`` of smooth(W_l) = C1 + C2 + C3 (torch-free evaluation through torch tensors)."""
    from ..train.regularizer import smoothness, torch

    total = 0.0
    for l in layers:
        d, s = smoothness(torch.from_numpy(np.array(net.weights[l - 1])))
        total += float(d + s)
    return total


def _moments_over_inputs(net, x, layer, p):
    """Theorem 1 (b3) over the input distribution: E Δ_o and total Var Δ_o (supplementary Sec. 6)."""
    b = b3_bound(net, x, {layer: p})
    mean = b.mean.mean(axis=0)
    var = (b.std ** 2).mean(axis=0) + b.mean.var(axis=0)
    return mean, var


def _verify(net, x, cfg, R, delta_single):
    """Simulate ``verify_groups`` groups of R independent chips; clustered rates of failures."""
    from ..faults import FaultSpec
    from ..sim import simulate

    G = int(cfg.verify_groups)
    spec = FaultSpec("neuron", "permanent", cfg.p, layers=[cfg.crash_layer])
    res = simulate(net, x, spec, n_chips=G * R, seed=cfg.seed + 7)
    d = res.delta.reshape(G, R, *res.delta.shape[1:])
    med = np.median(d, axis=1)  # component-wise median of R copies (Δ of the median = median of Δ)
    fail_med = np.max(np.abs(med), axis=-1) >= cfg.eps
    fail_one = np.max(np.abs(res.delta), axis=-1) >= cfg.eps
    one = clustered_proportion(fail_one, 0.95)
    mid = clustered_proportion(fail_med, 0.95)
    return {"groups": G, "R": R, "chips": G * R, "n_inputs": int(x.shape[0]), "fault": spec.to_text(),
            "single_copy": {k: one[k] for k in ("k", "n", "rate", "lo_clustered", "hi_clustered", "design_effect")},
            "median": {k: mid[k] for k in ("k", "n", "rate", "lo_clustered", "hi_clustered", "design_effect")},
            "delta_single_bound": delta_single,
            "single_copy_within_bound": bool(one["lo_clustered"] <= delta_single),
            "note": "a δ_target of 1e-5 cannot be observed with this many samples; the check is that the single-copy "
                    "rate does not exceed Proposition 5's δ and the median's rate is consistent with the exact tail"}


def run_algorithm1(cfg: Algorithm1Config, data=None, emit=print) -> Algorithm1Result:
    """Run Algorithm 1 (module docstring); ``emit`` receives one line per step (the log)."""
    cfg.validate()
    Xtr, Xte, ytr, yte = load_digits_split(cfg.seed) if data is None else data
    reg = replace(cfg.reg, target="output", crash_layers=(cfg.crash_layer,),
                  layers=tuple(sorted({cfg.crash_layer, cfg.crash_layer + 1})))
    hidden = tuple(int(h) for h in cfg.hidden)
    alpha = default_alpha(cfg.p)
    log = []
    conf = {k: (v if not isinstance(v, RegParams) else v.to_dict()) for k, v in cfg.__dict__.items()}

    def step(it, what, **kv):
        entry = {"iteration": it, "step": what, **kv}
        log.append(entry)
        emit(f"[{it}] {what}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in kv.items()))

    net = None
    for it in range(int(cfg.max_iterations)):
        tr = train_mlp(TrainConfig(hidden=hidden, activation=cfg.activation, epochs=cfg.epochs, lr=cfg.lr,
                                   seed=cfg.seed, reg=reg), data=(Xtr, Xte, ytr, yte), name="algorithm1")
        net = tr.net
        step(it, "train", widths=hidden, test_accuracy=tr.test_accuracy, **_reg_short(reg))
        t3 = proposition3_tail(weight_mass(net, cfg.crash_layer), cfg.p, alpha)
        if t3.q < Q_MIN:
            reg = replace(reg, mu=reg.mu * cfg.growth if reg.mu else cfg.mu0)
            step(it, "q < 1e-2: increase mu", q=t3.q, mu=reg.mu)
            continue
        if t3.delta0 > DELTA_MAX:
            hidden = tuple(h + int(cfg.width_step) for h in hidden)
            step(it, "delta0 > 1/3: widen", q=t3.q, alpha=alpha, delta0=t3.delta0, widths=hidden)
            if max(hidden) > cfg.max_width:
                return _stop(cfg, "stopped", f"width exceeds max_width={cfg.max_width}", log, hidden, reg, net, conf)
            continue
        R3 = smoothness_of(net, reg.layers)
        if R3 > cfg.complexity:
            psi = tuple(v * cfg.growth for v in reg.psi) if any(reg.psi) else tuple(cfg.psi0)
            reg = replace(reg, psi=psi)
            step(it, "R3 > C: increase psi", q=t3.q, delta0=t3.delta0, R3=R3, C=cfg.complexity, psi=psi)
            continue
        mean, var = _moments_over_inputs(net, Xte, cfg.crash_layer, cfg.p)
        if np.max(np.abs(mean)) >= cfg.eps:
            step(it, "E delta >= eps: infeasible", q=t3.q, delta0=t3.delta0, R3=R3,
                 max_abs_E_delta=float(np.max(np.abs(mean))), eps=cfg.eps)
            return _stop(cfg, "infeasible", "the mean error is at least eps; more neurons cannot lower it "
                         "(Theorem 1, footnote 11)", log, hidden, reg, net, conf)
        d = float(proposition5_tail(mean, np.sqrt(var), cfg.eps, t3.delta0).delta_any)
        if d > DELTA_MAX:
            hidden = tuple(h + int(cfg.width_step) for h in hidden)
            reg = replace(reg, lam=reg.lam * cfg.growth if reg.lam else cfg.lam0)
            step(it, "delta > 1/3: widen and increase lambda", q=t3.q, delta0=t3.delta0, R3=R3,
                 max_abs_E_delta=float(np.max(np.abs(mean))), var_delta=float(var.sum()), delta=d, widths=hidden,
                 lam=reg.lam)
            if max(hidden) > cfg.max_width:
                return _stop(cfg, "stopped", f"width exceeds max_width={cfg.max_width}", log, hidden, reg, net, conf)
            continue
        R, tail, R_paper = median_R(d, cfg.delta)
        step(it, "certified", q=t3.q, delta0=t3.delta0, R3=R3, max_abs_E_delta=float(np.max(np.abs(mean))),
             var_delta=float(var.sum()), delta=d, R=R, tail_at_R=tail, R_paper=R_paper)
        ver = _verify(net, Xte, cfg, R, d) if cfg.verify_groups else None
        if ver is not None:
            s, m = ver["single_copy"], ver["median"]
            step(it, "verify by simulation", single_copy_rate=s["rate"], single_hi=s["hi_clustered"], bound=d,
                 median_rate=m["rate"], median_hi=m["hi_clustered"], exact_tail=tail)
        return Algorithm1Result("certified", "all checks passed", log, hidden, reg.to_dict(), R, R_paper, d, tail,
                                net, ver, conf)
    return _stop(cfg, "stopped", f"max_iterations={cfg.max_iterations} reached", log, hidden, reg, net, conf)


def _stop(cfg, status, reason, log, hidden, reg, net, conf):
    return Algorithm1Result(status, reason, log, hidden, reg.to_dict(), None, None, None, None, net, None, conf)


def _reg_short(reg):
    return {"lam": reg.lam, "mu": reg.mu, "psi": reg.psi}


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt(u) for u in v) + ")"
    return str(v)

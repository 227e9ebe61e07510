"""Compare simulated output-error distributions with the analytic predictions.

Which prediction applies to which faults (``predictions_for``):

* neuron crashes at layer ``l`` with rate ``p`` — permanent or transient alike,
  since for a fixed input the crash set of a random chip is Bernoulli(p) per
  neuron either way; intermittent faults are Bernoulli(``rate * duty``) per
  inference (weak with probability ``rate``, faulty with the stationary
  probability ``duty``); several specs on one layer combine as
  ``1 - Π(1 - p_k)`` → b1..b4 (:func:`neurosim.analysis.bounds`);
* synapse crashes → the first-order synapse prediction
  (:func:`neurosim.analysis.synapse_first_order`);
* neuron and synapse crashes together → first-order superposition (means and
  variances add; Additional Proposition 7) for b3 + synapse;
* faults with other values than zero (stuck-at-value, saturated, max/min,
  bit flips, scale) → the first-order stuck-at-value moments
  (:func:`neurosim.analysis.values.value_first_order`; needs the mapping for
  tile-dependent values), for all neuron and synapse specs together;
* core faults are correlated (a whole core at once): no analytic prediction.

Uncertainty (issue 16): every rate printed is a proportion over chips ×
items whose items share the chip's faults, so its interval is
chip-clustered (:func:`~neurosim.analysis.cluster_stats.clustered_proportion`,
Korn–Graubard with the design effect estimated from the per-chip rates);
the coverage fraction and the relative errors carry a percentile bootstrap
over chips (:func:`~neurosim.analysis.cluster_stats.cluster_bootstrap`).
The tail threshold ``ε`` is never a quantile of the same data (that makes
the empirical tail equal the quantile level by construction): it is given,
or :func:`default_eps` derives it from the clean outputs. The Kolmogorov–
Smirnov distance to ``N(mean, std)`` is kept only as a labelled diagnostic:
the paper assumes no Gaussian law and Δ has an atom at 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .bounds import BoundResult, bounds, synapse_first_order
from .cluster_stats import cluster_bootstrap, clustered_proportion
from .stats import dkw_epsilon, ks_distance_normal, rank_loss
from .tails import proposition5_tail


def effective_rates(faults, n_layers):
    """Per-layer neuron and synapse crash probabilities implied by fault specs.

    ``n_layers`` is the number of layers, or the network itself: then wiring
    layers (pooling, flatten: no fault sites) are left out.
    Returns ``(p_neuron, p_synapse, uncovered)`` where ``uncovered`` lists the
    specs no prediction covers (core faults).
    """
    net = None
    if not isinstance(n_layers, (int, np.integer)):
        net, n_layers = n_layers, n_layers.n_layers
    pn, ps, unc = {}, {}, []
    for s in faults:
        if s.site == "core":
            unc.append(s)
            continue
        rate = s.rate * (s.duty if s.mode == "intermittent" else 1.0)
        target = pn if s.site == "neuron" else ps
        for l in s.resolve_layers(n_layers):
            if net is not None and l > 0 and (net.neuron_sites(l) if s.site == "neuron" else net.synapse_sites(l)) == 0:
                continue
            target[l] = rate if l not in target else 1.0 - (1.0 - target[l]) * (1.0 - rate)
    return pn, ps, unc


def predictions_for(net, x, faults, mapping=None) -> dict:
    """Analytic predictions for the given fault specs (see module docstring)."""
    pn, ps, unc = effective_rates(faults, net)  # wiring layers (pooling, flatten) carry no faults
    out = {}
    if any(s.site != "core" and not s.fault_value.is_zero for s in faults):
        from .values import value_first_order

        covered = [s for s in faults if s.site != "core"]
        out["values"] = value_first_order(mapping if mapping is not None else net, x, covered)
        return out
    if pn and not ps:
        out.update(bounds(net, x, pn))
    if ps:
        syn = synapse_first_order(net, x, ps)
        if pn:
            b3 = bounds(net, x, pn)["b3"]
            out["b3+synapse"] = BoundResult(
                "b3+synapse", b3.mean + syn.mean, np.sqrt(b3.std ** 2 + syn.std ** 2),
                "first-order superposition of neuron (b3) and synapse crashes (Additional Proposition 7)")
        else:
            out["synapse"] = syn
    return out


def default_eps(clean) -> tuple[float, str]:
    """The stated default tail threshold ``ε`` from the *clean* outputs ``(n_inputs, n_out)``.

    Classification (``n_out >= 2``): half the median top-two margin of the
    clean outputs — an error of that size on one output can flip a typical
    decision. One output: a tenth of the clean output's spread over inputs
    (std), or of its median magnitude when the spread is 0. Returns
    ``(eps, rule)`` with the rule in words.
    """
    y = np.asarray(clean, dtype=np.float64)
    if y.ndim != 2 or y.size == 0:
        raise ConfigError(f"'clean' must be a non-empty (n_inputs, n_out) array. Got shape {y.shape}.")
    if y.shape[1] >= 2:
        top = -np.sort(-y, axis=1)
        eps = 0.5 * float(np.median(top[:, 0] - top[:, 1]))
        rule = "half the median top-two margin of the clean outputs"
    else:
        eps = 0.1 * float(np.std(y)) if y.shape[0] > 1 else 0.0
        rule = "a tenth of the clean output's std over inputs"
        if not eps > 0:
            eps = 0.1 * float(np.median(np.abs(y)))
            rule = "a tenth of the clean output's median magnitude"
    if not (np.isfinite(eps) and eps > 0):
        raise ConfigError(f"The default eps rule ({rule}) gives {eps!r}; pass --eps explicitly (a number > 0).")
    return eps, rule


@dataclass
class BoundComparison:
    """How one prediction fares against the simulation (all over (input, output) pairs).

    ``*_ci`` are ``[lo, hi]`` normal bootstrap intervals over chips (None
    when not computable). ``tail_bound`` is Proposition 5's
    ``δ0 + Var/t²`` averaged over pairs (``δ0`` from Proposition 3 when the
    caller passes it, else 0: then it is the Chebyshev part only).
    """

    name: str
    signed: bool
    mean_rel_error: float | None
    mean_rel_error_ci: list | None
    std_rel_error: float | None
    std_rel_error_ci: list | None
    mean_covered: float | None
    mean_covered_ci: list | None
    bound_holds: float | None
    bound_holds_ci: list | None
    tail_bound: float | None
    rank_loss_std: float | None
    corr_std: float | None
    diagnostic_ks_gaussian: float | None
    diagnostic_ks_within_dkw: float | None
    description: str = ""

    def to_dict(self):
        return dict(self.__dict__)


@dataclass
class Comparison:
    n_chips: int
    n_inputs: int
    confidence: float
    eps: float
    eps_rule: str
    dkw_band: float
    empirical_tail: dict
    delta0: float | None = None
    flip_rate: dict | None = None
    atom_at_zero: float | None = None
    rows: list = field(default_factory=list)
    uncovered: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_dict(self):
        d = dict(self.__dict__)
        d["rows"] = [r.to_dict() for r in self.rows]
        return d


def _rel(a, b):
    """Median over pairs of |a - b| / |b| (b = simulation), ignoring pairs with b == 0."""
    ok = np.abs(b) > 1e-12 * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    if not np.any(ok):
        return None
    return float(np.median(np.abs(a[ok] - b[ok]) / np.abs(b[ok])))


def _row_stats(delta, mean, std, signed, z):
    """Point statistics of one prediction on chips ``delta`` (C, B, O): rel.errs and coverage."""
    C = delta.shape[0]
    sim_mean = delta.mean(0)
    sim_std = delta.std(0, ddof=1)
    se = sim_std / np.sqrt(C)
    if signed:
        cov = float(np.mean(np.abs(sim_mean - mean) <= z * se + 1e-12))
        holds = None
        mrel = _rel(mean, sim_mean)
    else:
        cov, mrel = None, None
        holds = float(np.mean(np.abs(sim_mean) - z * se <= mean + 1e-12))
    srel = None if std is None else _rel(std, sim_std)
    return mrel, srel, cov, holds


def _nan(v):
    return np.nan if v is None else v


def compare(delta: np.ndarray, preds: dict, eps: float, confidence: float = 0.95, uncovered=(),
            eps_rule: str = "given", delta0: float | None = None, flips=None, n_boot: int = 200,
            seed: int = 0) -> Comparison:
    """Compare ``delta`` (n_chips, n_inputs, n_out) with predictions ``{name: BoundResult}``.

    Per prediction: median relative error of mean and std over (input, output)
    pairs; the fraction of pairs whose Monte Carlo interval of the mean
    (``z·sd/sqrt(C)`` over chips) covers the predicted mean (signed
    predictions) or where ``|mean|`` is below the bound within the interval
    (absolute bounds b1, b2) — each with a bootstrap interval over chips
    (``value ± z·sd*``, :func:`~neurosim.analysis.cluster_stats.cluster_bootstrap`);
    Proposition 5's tail ``δ0 + Var/(ε-|EΔ|)²`` averaged over pairs
    (:func:`neurosim.analysis.tails.proposition5_tail`; ``delta0`` from
    Proposition 3, 0 if not given); rank loss and Pearson correlation of the
    predicted vs simulated std across pairs; and, as a diagnostic only, the
    KS distance to ``N(mean, std)``.

    The empirical ``P(|Δ| >= ε)`` and the flip rate (``flips``: bool
    ``(n_chips, n_inputs)``) carry chip-clustered intervals.
    ``eps`` is required (see :func:`default_eps` for the CLI's rule).
    """
    from scipy import stats as st

    if not 0 < confidence < 1:
        raise ConfigError(f"'confidence' must be in (0, 1). Got {confidence!r}.")
    delta = np.asarray(delta, dtype=np.float64)
    if delta.ndim != 3:
        raise ConfigError(f"'delta' must be (n_chips, n_inputs, n_out). Got shape {delta.shape}.")
    C, B, O = delta.shape
    if C < 2:
        raise ConfigError(f"Comparison needs at least 2 chips to estimate a distribution. Got n_chips={C}.")
    if eps is None or not (np.isfinite(eps) and eps > 0):
        raise ConfigError(f"'eps' must be a number > 0 (see compare.default_eps for the stated rule). Got {eps!r}.")
    eps = float(eps)
    d0 = 0.0 if delta0 is None else float(delta0)
    if not 0.0 <= d0 <= 1.0:
        raise ConfigError(f"'delta0' must be a probability in [0, 1]. Got {delta0!r}.")
    z = st.norm.ppf(0.5 + confidence / 2)
    emp = clustered_proportion(np.abs(delta) >= eps, confidence)
    emp["eps"] = eps
    flip = None
    if flips is not None:
        flip = clustered_proportion(np.asarray(flips, dtype=bool), confidence)
    sim_std = delta.std(0, ddof=1)
    band = float(dkw_epsilon(C, 1 - confidence))
    norm = []
    for name, b in preds.items():
        mean = np.broadcast_to(b.mean, (B, O))
        std = None if b.std is None else np.broadcast_to(b.std, (B, O))
        norm.append((name, name not in ("b1", "b2"), mean, std, b.description))

    def stat(d):
        out = []
        for _, signed, mean, std, _ in norm:
            out.extend(_nan(v) for v in _row_stats(d, mean, std, signed, z))
        return np.array(out, dtype=np.float64)

    boot = cluster_bootstrap(stat, delta, n_boot=n_boot, confidence=confidence, seed=seed) if norm else None
    rows = []
    for k, (name, signed, mean, std, desc) in enumerate(norm):
        point = _row_stats(delta, mean, std, signed, z)
        cis = []
        for j in range(4):
            lo = None if boot is None or boot["lo"] is None else boot["lo"][4 * k + j]
            hi = None if boot is None or boot["hi"] is None else boot["hi"][4 * k + j]
            ok = point[j] is not None and lo is not None and np.isfinite(lo) and np.isfinite(hi)
            top = 1.0 if j >= 2 else np.inf  # coverage fractions live in [0, 1]
            cis.append([max(0.0, float(lo)), min(top, float(hi))] if ok else None)
        ks = ks_in = tail = rl = corr = None
        if std is not None:
            if signed:
                ks_vals = np.asarray(ks_distance_normal(delta, mean, std, axis=0))
                ks = float(ks_vals.mean())
                ks_in = float(np.mean(ks_vals <= band))
                tail = float(np.mean(proposition5_tail(mean, std, eps, d0).delta))
            if B * O >= 3 and np.ptp(sim_std) > 0:
                rl = float(rank_loss(std.ravel(), sim_std.ravel()))
                if np.ptp(std) > 0:
                    corr = float(np.corrcoef(std.ravel(), sim_std.ravel())[0, 1])
        rows.append(BoundComparison(name, signed, point[0], cis[0], point[1], cis[1], point[2], cis[2],
                                    point[3], cis[3], tail, rl, corr, ks, ks_in, desc))
    notes = ["intervals on rates are chip-clustered (Korn-Graubard); on rel.err and coverage a percentile "
             f"normal bootstrap over chips ({n_boot} resamples, seed {seed})",
             "diagnostic_ks_gaussian: KS distance to N(mean, std); a diagnostic only, the paper assumes no Gaussian"]
    return Comparison(C, B, confidence, eps, eps_rule, band, emp, None if delta0 is None else d0, flip,
                      float(np.mean(delta == 0.0)), rows, [s.to_text() for s in uncovered], notes)

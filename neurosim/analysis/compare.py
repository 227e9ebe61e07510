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
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .bounds import BoundResult, bounds, synapse_first_order
from .stats import clopper_pearson, dkw_epsilon, ks_distance_normal, rank_loss
from .tails import chebyshev_tail


def effective_rates(faults, n_layers: int):
    """Per-layer neuron and synapse crash probabilities implied by fault specs.

    Returns ``(p_neuron, p_synapse, uncovered)`` where ``uncovered`` lists the
    specs no prediction covers (core faults).
    """
    pn, ps, unc = {}, {}, []
    for s in faults:
        if s.site == "core":
            unc.append(s)
            continue
        rate = s.rate * (s.duty if s.mode == "intermittent" else 1.0)
        target = pn if s.site == "neuron" else ps
        for l in s.resolve_layers(n_layers):
            target[l] = rate if l not in target else 1.0 - (1.0 - target[l]) * (1.0 - rate)
    return pn, ps, unc


def predictions_for(net, x, faults, mapping=None) -> dict:
    """Analytic predictions for the given fault specs (see module docstring)."""
    pn, ps, unc = effective_rates(faults, net.n_layers)
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


@dataclass
class BoundComparison:
    """How one prediction fares against the simulation (all over (input, output) pairs)."""

    name: str
    signed: bool
    mean_rel_error: float | None
    std_rel_error: float | None
    mean_covered: float | None
    bound_holds: float | None
    ks_mean: float | None
    ks_within_dkw: float | None
    tail_bound: float | None
    rank_loss_std: float | None
    corr_std: float | None
    description: str = ""

    def to_dict(self):
        return dict(self.__dict__)


@dataclass
class Comparison:
    n_chips: int
    n_inputs: int
    confidence: float
    eps: float
    dkw_band: float
    empirical_tail: dict
    rows: list = field(default_factory=list)
    uncovered: list = field(default_factory=list)

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


def compare(delta: np.ndarray, preds: dict, eps: float | None = None, confidence: float = 0.95,
            uncovered=()) -> Comparison:
    """Compare ``delta`` (n_chips, n_inputs, n_out) with predictions ``{name: BoundResult}``.

    Per prediction: median relative error of mean and std over (input, output)
    pairs; fraction of pairs whose Monte Carlo confidence interval of the mean
    covers the predicted mean (signed predictions) or where ``|mean|`` is below
    the bound within the interval (absolute bounds b1, b2); the mean
    Kolmogorov–Smirnov distance between the chips' Δ and the Gaussian
    ``N(mean, std)`` the prediction implies, and the fraction of pairs inside the
    DKW band ``sqrt(ln(2/α)/(2n))``; the Chebyshev tail bound on
    ``P(|Δ| ≥ eps)`` averaged over pairs (Proposition 5 as implemented in
    :func:`neurosim.analysis.chebyshev_tail`) next to the empirical tail with a
    Clopper–Pearson interval; rank loss and Pearson correlation of the
    predicted vs simulated std across pairs.
    """
    from scipy import stats as st

    if not 0 < confidence < 1:
        raise ConfigError(f"'confidence' must be in (0, 1). Got {confidence!r}.")
    C, B, O = delta.shape
    if C < 2:
        raise ConfigError(f"Comparison needs at least 2 chips to estimate a distribution. Got n_chips={C}.")
    sim_mean = delta.mean(0)
    sim_std = delta.std(0, ddof=1)
    se = sim_std / np.sqrt(C)
    z = st.norm.ppf(0.5 + confidence / 2)
    if eps is None:
        eps = float(np.quantile(np.abs(delta), 0.9)) or 1e-9
    if not eps > 0:
        raise ConfigError(f"'eps' must be > 0. Got {eps!r}.")
    k = int(np.sum(np.abs(delta) >= eps))
    n = int(delta.size)
    lo, hi = clopper_pearson(k, n, confidence)
    emp = {"eps": eps, "k": k, "n": n, "rate": k / n, "lo": float(lo), "hi": float(hi)}
    alpha = 1 - confidence
    band = float(dkw_epsilon(C, alpha))
    rows = []
    for name, b in preds.items():
        signed = name not in ("b1", "b2")
        mean = np.broadcast_to(b.mean, (B, O))
        std = None if b.std is None else np.broadcast_to(b.std, (B, O))
        if signed:
            covered = float(np.mean(np.abs(sim_mean - mean) <= z * se + 1e-12))
            holds = None
            mrel = _rel(mean, sim_mean)
        else:
            covered = None
            holds = float(np.mean(np.abs(sim_mean) - z * se <= mean + 1e-12))
            mrel = None
        ks = ks_in = tail = rl = corr = srel = None
        if std is not None:
            srel = _rel(std, sim_std)
            if signed:
                ks_vals = np.asarray(ks_distance_normal(delta, mean, std, axis=0))
                ks = float(ks_vals.mean())
                ks_in = float(np.mean(ks_vals <= band))
                tail = float(np.mean(chebyshev_tail(mean, std, eps).delta))
            if B * O >= 3 and np.ptp(sim_std) > 0:
                rl = float(rank_loss(std.ravel(), sim_std.ravel()))
                if np.ptp(std) > 0:
                    corr = float(np.corrcoef(std.ravel(), sim_std.ravel())[0, 1])
        rows.append(BoundComparison(name, signed, mrel, srel, covered, holds, ks, ks_in, tail, rl, corr,
                                    b.description))
    return Comparison(C, B, confidence, eps, band, emp, rows, [s.to_text() for s in uncovered])

"""Constants, seeds and argument checks shared by the plan modules."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..errors import ConfigError
from ..faults.spec import FaultSpec

AGGREGATION = "component-wise median"
FAILURE_RULE = "a copy fails on an input when ||y_copy - y_clean||_inf > eps (outputs of the mapped, quantised network)"
MAX_R = 100001
#: Largest delta array (elements) held per simulate() call; results do not depend on it
#: except through the per-call seeds, which are keyed by the call index (stored in the plan).
CALL_ELEMENTS = 1 << 22
#: Phase keys of the seed derivation ``SeedSequence(seed, spawn_key=(phase, call))``.
PHASE_ESTIMATE, PHASE_VERIFY, PHASE_COMMON = 1, 2, 3

RULES = ("componentwise", "copywise")
_RULE_TEXT = {
    "componentwise": ("smallest odd R with mean_x min(T(R, q(x)), sum_{o,s} T(R, q_{o,s}(x))) <= delta at simultaneous "
                      "upper confidence limits of q(x) and of the per-(output, direction) rates q_{o,s}(x); "
                      "T(R, q) = P(Bin(R, q) >= ceil(R/2))"),
    "copywise": ("smallest odd R with mean_x T(R, q(x)) <= delta at simultaneous upper confidence limits of q(x); "
                 "T(R, q) = P(Bin(R, q) >= ceil(R/2))"),
}


def _check_eps(eps) -> float:
    return V.positive(eps, "eps", "output error threshold, ||Δ||_∞ units", "2.0")


def _check_common_cause(F):
    if F is None:
        return None
    return V.unit_interval(F, "common_cause", "shared fraction of permanent faults", "0.3",
                           " (F = 1 would make the replicas identical; a median of identical copies cannot help.)")


def _check_int(name, v, lo, what):
    return V.integer(v, name, lo, what)


def _check_rule(rule):
    if rule not in RULES:
        raise ConfigError(f"'rule' must be one of {', '.join(RULES)}. Got {rule!r}.")
    return rule


def _check_specs(specs) -> tuple:
    out = []
    for s in specs:
        if not isinstance(s, FaultSpec):
            raise ConfigError(f"Faults must be FaultSpec objects. Got {type(s).__name__}.")
        if s.group > 1:
            raise ConfigError(
                f"Fault '{s.to_text()}' sets group={s.group}; the planner draws replica groups itself. "
                "Remove 'group' and use --common-cause F (common_cause=F) for shared faults."
            )
        out.append(s)
    if not out:
        raise ConfigError("No fault given: pass at least one fault spec, e.g. synapse:permanent:0.0175.")
    return tuple(out)


def derive_seed(seed: int, phase: int, call: int) -> int:
    """Seed of one ``simulate()`` call: ``SeedSequence(seed, spawn_key=(phase, call))`` -> uint32."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(phase), int(call)))
    return int(ss.generate_state(1, np.uint32)[0])


def _chips_per_call(B: int, n_out: int, unit: int) -> int:
    per_chip = max(1, B * n_out)
    n = max(1, CALL_ELEMENTS // per_chip)
    return max(unit, (n // unit) * unit)


def _ci_short(ci):
    return {"k": ci["k"], "n": ci["n"], "rate": ci["rate"], "lo": ci["lo_clustered"], "hi": ci["hi_clustered"]}

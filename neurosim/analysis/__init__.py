"""Analysis: continuous-limit bounds, exact moments, tail guarantees, statistics, planner."""
# --- bounds (owned by analysis/bounds.py, exact.py, tails.py, fep.py) ---
from .bounds import (
    BoundResult, LIPSCHITZ, b1_bound, b2_bound, b3_bound, b4_bound, bounds,
    loss_first_order, output_jacobians, synapse_first_order,
)
from .exact import ExactMoments, exact_moments
from .fep import FepResult, fep_bound
from .tails import (
    Balancedness, ChebyshevTail, CrashCountTail, Feasibility, algorithm1_feasibility,
    balanced_tail, chebyshev_tail, crash_count_tail, kl_bernoulli, q_balancedness,
)
from .values import fep_value_bound, saturation_levels_of, synapse_value_moments, value_first_order
# --- end bounds ---
# --- statistics and planner (owned by analysis/stats.py, planner.py) ---
from .stats import (
    LEVEUGLE_T,
    TailEstimate,
    clopper_pearson,
    dkw_epsilon,
    dkw_sample_size,
    empirical_tail,
    ks_distance_normal,
    leveugle_sample_size,
    mean_ci,
    rank_loss,
    std_ci,
    wilson_interval,
)
from .planner import ReplicaPlan, log_median_failure_tail, median_failure_tail, plan_replicas
# --- end statistics and planner ---
# --- deployment plans (analysis/replicas.py) ---
from .replicas import TailModel, build_plan, common_cause_specs, verify_replicas

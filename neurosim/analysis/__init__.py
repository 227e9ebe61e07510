"""Analysis: continuous-limit bounds, exact moments, tail guarantees, statistics, planner maths (no simulation)."""
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
    Proposition3Tail, Proposition5Tail, crash_count_balancedness, default_alpha, network_delta0,
    proposition3_tail, proposition5_tail, weight_balancedness, weight_mass,
)
from .cluster_stats import cluster_bootstrap, clustered_proportion
from .values import fep_value_bound, saturation_levels_of, synapse_value_moments, value_first_order
# --- end bounds ---
# --- statistics and planner (owned by analysis/stats.py, planner.py) ---
from .stats import (
    LEVEUGLE_T,
    TailEstimate,
    clopper_pearson,
    clustered_interval,
    dkw_epsilon,
    dkw_sample_size,
    empirical_tail,
    ks_distance_normal,
    leveugle_sample_size,
    mean_ci,
    t_interval,
    rank_loss,
    std_ci,
    wilson_interval,
)
from .planner import (
    ReplicaPlan, log_median_failure_tail, median_failure_tail, median_failure_tails, plan_replicas, smallest_odd_R,
)
# --- end statistics and planner ---
# Deployment plans (simulation, verification, plan files) live in neurosim.plan; analysis is pure maths
# and imports nothing that simulates (tests/test_architecture.py).

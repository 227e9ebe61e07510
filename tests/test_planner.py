"""Tests for neurosim.analysis.planner against exact integer/rational brute force."""
from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from neurosim.errors import ConfigError
from neurosim.analysis.planner import (
    ReplicaPlan,
    log_median_failure_tail,
    median_failure_tail,
    plan_replicas,
)


# ---------------------------------------------------------------------------
# exact references (integers only: no floating point, no underflow)
# ---------------------------------------------------------------------------

def tail_exact(R: int, q: Fraction) -> Fraction:
    """P(Bin(R, q) >= ceil(R/2)) as an exact fraction, via math.comb."""
    a, b = q.numerator, q.denominator
    num = sum(math.comb(R, k) * a**k * (b - a) ** (R - k) for k in range(-(-R // 2), R + 1))
    return Fraction(num, b**R)


def log_fraction(f: Fraction) -> float:
    """Natural log of a positive fraction with huge numerator/denominator (no underflow)."""
    return math.log(f.numerator) - math.log(f.denominator)


def smallest_R_bruteforce(q: Fraction, delta: Fraction, limit: int = 2000) -> int:
    """Linear scan over every R = 1, 2, 3, ... (odd and even)."""
    for R in range(1, limit + 1):
        if tail_exact(R, q) <= delta:
            return R
    raise AssertionError("limit too small")


# ---------------------------------------------------------------------------
# the tail
# ---------------------------------------------------------------------------

def test_threshold_is_ceil_half():
    # odd R: (R+1)/2 failures; even R: R/2 failures (a tie breaks the median)
    q = Fraction(1, 5)
    assert tail_exact(1, q) == q
    assert tail_exact(2, q) == 1 - (1 - q) ** 2  # >= 1 of 2 fail
    assert tail_exact(3, q) == 3 * q**2 * (1 - q) + q**3  # >= 2 of 3
    assert tail_exact(4, q) == 1 - (1 - q) ** 4 - 4 * q * (1 - q) ** 3  # >= 2 of 4
    for R in range(1, 12):
        assert median_failure_tail(R, 0.2) == pytest.approx(float(tail_exact(R, q)), rel=1e-12)


@pytest.mark.parametrize("R,q", [(1, "1/3"), (2, "1/3"), (21, "1/3"), (155, "1/3"), (301, "1/100"),
                                 (1001, "3/10"), (2001, "1/10"), (4001, "1/3"), (3000, "1/1000")])
def test_log_tail_matches_exact_including_far_below_underflow(R, q):
    qf = Fraction(q)
    exact = tail_exact(R, qf)
    got = log_median_failure_tail(R, float(qf))
    assert got == pytest.approx(log_fraction(exact), rel=1e-10)
    assert math.isfinite(got)


def test_tiny_tail_1e_300_is_not_garbage():
    # P ~ 1e-300: representable, must agree with exact arithmetic to ~1e-10 relative
    R, q = 1355, Fraction(1, 10)
    exact = tail_exact(R, q)
    assert 1e-305 < exact < 1e-295
    assert median_failure_tail(R, 0.1) == pytest.approx(float(exact), rel=1e-9)
    # far below the double range: the log stays exact, the value underflows to 0.0 cleanly
    R = 5001
    lt = log_median_failure_tail(R, 0.01)
    assert lt == pytest.approx(log_fraction(tail_exact(R, Fraction(1, 100))), rel=1e-10)
    assert lt < math.log(5e-324)  # below the smallest subnormal double
    assert median_failure_tail(R, 0.01) == 0.0


def test_tail_special_values_and_broadcasting():
    assert median_failure_tail(7, 0.0) == 0.0
    assert log_median_failure_tail(7, 0.0) == -math.inf
    assert median_failure_tail(7, 1.0) == 1.0
    assert median_failure_tail(2, 0.5) == pytest.approx(0.75)
    assert median_failure_tail(3, 0.5) == pytest.approx(0.5)
    R = np.array([[1], [3], [5]])
    q = np.array([0.1, 0.2, 0.3, 0.4])
    out = median_failure_tail(R, q)
    assert out.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            ref = float(tail_exact(int(R[i, 0]), Fraction(q[j])))
            assert out[i, j] == pytest.approx(ref, rel=1e-12)


def test_even_R_never_beats_its_odd_neighbours_and_identities():
    """T(2m) > T(2m-1), T(2m) > T(2m+1); odd tails strictly decrease for q < 1/2."""
    for q in (Fraction(1, 100), Fraction(1, 10), Fraction(1, 3), Fraction(49, 100)):
        for m in range(1, 40):
            t_prev, t_even, t_next = tail_exact(2 * m - 1, q), tail_exact(2 * m, q), tail_exact(2 * m + 1, q)
            assert t_even > t_prev and t_even > t_next and t_next < t_prev
            # the identities stated in the module docstring
            assert t_even - t_prev == q * math.comb(2 * m - 1, m - 1) * q ** (m - 1) * (1 - q) ** m
            assert t_next - t_prev == -math.comb(2 * m - 1, m - 1) * q**m * (1 - q) ** m * (1 - 2 * q)
    # R = 2 is worse than R = 1
    assert median_failure_tail(2, 0.1) > median_failure_tail(1, 0.1)


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------

PLAN_TABLE = [
    ("1/3", "1e-5"),
    ("1/3", "1e-12"),
    ("1/10", "1e-12"),
    ("1/100", "1e-12"),
    ("1/1000", "1e-12"),
    ("1/4", "1e-3"),
    ("2/5", "1e-4"),
    ("9/20", "1e-2"),
    ("49/100", "0.3"),
    ("1/5", "0.5"),
    ("1/3", "0.4"),  # R = 1 already meets it
]


@pytest.mark.parametrize("q,delta", PLAN_TABLE)
def test_plan_matches_bruteforce_linear_scan(q, delta):
    qf, df = Fraction(q), Fraction(delta)
    R_true = smallest_R_bruteforce(qf, df)
    # keep float rounding of q and delta irrelevant: tail(R_true) is not a near-tie with delta
    assert abs(tail_exact(R_true, qf) / df - 1) > 1e-9
    plan = plan_replicas(float(qf), float(df))
    assert plan.R == R_true
    assert plan.R_odd == R_true and R_true % 2 == 1
    assert plan.tail == pytest.approx(float(tail_exact(R_true, qf)), rel=1e-9)
    assert plan.log_tail == pytest.approx(math.log(plan.tail), rel=1e-12)
    assert plan.tail <= plan.delta


def test_reference_md_example_155_vs_21():
    """REFERENCE.md: q = 1/3, delta = 1e-5 -> 155; (1/3)^(R/2) would claim 21. Derived here."""
    q, d = Fraction(1, 3), Fraction(1, 10**5)
    assert tail_exact(155, q) <= d < tail_exact(153, q)
    assert tail_exact(154, q) > d
    # paper's formula: (1/3)^(R/2) <= d  <=>  3^R >= d^-2 = 10^10
    paper = next(R for R in range(1, 100) if 3**R >= 10**10)
    assert paper == 21
    plan = plan_replicas(1 / 3, 1e-5)
    assert (plan.R, plan.paper_R) == (155, 21)
    assert plan.paper_tail_at_R == pytest.approx(float(tail_exact(21, q)), rel=1e-10)
    assert plan.paper_tail_at_R > 0.05  # the paper's R fails 5000x more often than claimed
    assert "binomial coefficient" in plan.note and "not a valid bound" in plan.note


@pytest.mark.parametrize("j", [1, 2, 3, 5, 6, 9, 12, 20, 100, 300])
def test_paper_R_by_integer_arithmetic(j):
    d = Fraction(10.0 ** -j)  # exactly the float passed in
    # (1/3)^(R/2) <= d  <=>  3^R * d^2 >= 1
    paper = next(R for R in range(1, 10**4) if 3**R * d * d >= 1)
    assert plan_replicas(0.01, 10.0 ** -j).paper_R == paper


def test_plan_tiny_delta_is_minimal_without_underflow():
    q = 0.1
    plan = plan_replicas(q, 1e-300)
    qf, df = Fraction(q), Fraction(1e-300)
    assert tail_exact(plan.R, qf) <= df
    assert tail_exact(plan.R - 2, qf) > df and tail_exact(plan.R - 1, qf) > df
    assert plan.log_tail == pytest.approx(log_fraction(tail_exact(plan.R, qf)), rel=1e-10)


def test_plan_large_R_near_half():
    plan = plan_replicas(0.49, 1e-6)
    assert plan.R > 10000
    assert log_median_failure_tail(plan.R, 0.49) <= math.log(1e-6)
    assert log_median_failure_tail(plan.R - 2, 0.49) > math.log(1e-6)
    assert log_median_failure_tail(plan.R - 1, 0.49) > math.log(1e-6)


def test_q_zero_and_small_q():
    plan = plan_replicas(0.0, 1e-9)
    assert plan.R == 1 and plan.tail == 0.0 and plan.log_tail == -math.inf
    assert plan_replicas(1e-7, 1e-6).R == 1
    assert plan_replicas(1e-7, 1e-8).R == 3


def test_plan_is_frozen_and_serialisable():
    plan = plan_replicas(0.2, 1e-4)
    assert isinstance(plan, ReplicaPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.R = 3  # type: ignore[misc]
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["R"] == plan.R and d["paper_R"] == plan.paper_R and d["note"] == plan.note


def test_note_when_paper_R_happens_to_suffice():
    plan = plan_replicas(1e-3, 1e-5)  # tiny q: the paper's 21 copies are (far) enough here
    assert plan.paper_tail_at_R <= plan.delta
    assert "happens to meet" in plan.note and "not a valid bound" in plan.note


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,name", [
    ({"q": 0.5, "delta": 1e-3}, "'q'"),
    ({"q": 0.6, "delta": 1e-3}, "'q'"),
    ({"q": -0.1, "delta": 1e-3}, "'q'"),
    ({"q": float("nan"), "delta": 1e-3}, "'q'"),
    ({"q": "0.1", "delta": 1e-3}, "'q'"),
    ({"q": 0.1, "delta": 0.0}, "'delta'"),
    ({"q": 0.1, "delta": 1.0}, "'delta'"),
    ({"q": 0.1, "delta": 1.5}, "'delta'"),
    ({"q": 0.1, "delta": float("nan")}, "'delta'"),
    ({"q": 0.1, "delta": 1e-3, "max_R": 0}, "'max_R'"),
    ({"q": 0.45, "delta": 1e-12, "max_R": 11}, "'max_R'"),
])
def test_plan_bad_input(kwargs, name):
    with pytest.raises(ConfigError) as exc:
        plan_replicas(**kwargs)
    assert name in str(exc.value) and "\n" not in str(exc.value)


def test_q_half_message_explains():
    with pytest.raises(ConfigError, match=r"must be < 0\.5 for a median of replicas to help\. Got 0\.6"):
        plan_replicas(0.6, 1e-3)


@pytest.mark.parametrize("R,q,name", [(0, 0.1, "'R'"), (2.5, 0.1, "'R'"), (3, 1.5, "'q'"), (3, -0.1, "'q'"),
                                      (3, float("nan"), "'q'")])
def test_tail_bad_input(R, q, name):
    with pytest.raises(ConfigError, match=name):
        median_failure_tail(R, q)


@pytest.mark.parametrize("R", [1001, 5000, 100001])
@pytest.mark.parametrize("q", [0.001, 0.3, 0.49, 0.7])
def test_truncated_sum_equals_full_sum(R, q):
    """The early stop of the log-sum-exp (geometric remainder bound) changes nothing."""
    from scipy.special import gammaln, logsumexp

    k = np.arange((R + 1) // 2, R + 1, dtype=float)
    full = logsumexp(gammaln(R + 1.0) - gammaln(k + 1) - gammaln(R - k + 1) + k * np.log(q) + (R - k) * np.log1p(-q))
    assert log_median_failure_tail(R, q) == pytest.approx(min(0.0, full), rel=1e-13, abs=1e-15)


def test_plan_far_beyond_default_max_R_is_fast():
    plan = plan_replicas(0.499, 1e-6, max_R=10**7)
    assert plan.R > 10**6
    assert log_median_failure_tail(plan.R, 0.499) <= math.log(1e-6) < log_median_failure_tail(plan.R - 2, 0.499)

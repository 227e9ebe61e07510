r"""The median voter (``--voter``): ideal, or digital with its own per-inference fault rate.

The voter takes the ``R`` replica outputs of one inference and emits their
component-wise median. ``ideal`` never fails. ``digital:RATE[@WHERE]`` fails on
an inference with probability ``RATE`` independently of the replicas (its own
logic and memory upsets); a failed vote is counted as a failed inference
(worst case: its output is arbitrary). ``WHERE`` is ``host`` (default: the
host processor or an FPGA beside the chips; no extra chip) or ``chip`` (a
dedicated voter chip per deployment: one more chip in the cost).

Tail with a voter (independent of the replicas): ``P(fail) = v + (1 - v) T``
with ``v`` = RATE and ``T`` the replicas' median failure probability; so no
``R`` can meet ``delta <= v`` (the voter's floor). In the verification every
(group, input) draws a Bernoulli(``v``) vote fault from
``SeedSequence(seed, spawn_key=(4, g))``.

Cost: a median of ``R`` values per output, ``n_out`` medians per inference
(``n_out R log2 R`` comparisons, counted in the plan's energy proxy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["Voter", "parse_voter", "PHASE_VOTER"]

PHASE_VOTER = 4
WHERE = ("host", "chip")


@dataclass(frozen=True)
class Voter:
    kind: str = "ideal"
    rate: float = 0.0
    where: str = "host"

    @property
    def text(self) -> str:
        return "ideal" if self.kind == "ideal" else f"digital:{self.rate:g}@{self.where}"

    @property
    def extra_chips(self) -> int:
        return 1 if (self.kind == "digital" and self.where == "chip") else 0

    def total(self, tail: float) -> float:
        """``v + (1 - v) T``: failure probability of the voted output."""
        return float(self.rate + (1.0 - self.rate) * tail)

    def comparisons(self, R: int, n_out: int) -> int:
        return int(n_out * R * max(1, math.ceil(math.log2(max(R, 2)))))

    def draws(self, seed: int, groups: int, n_inputs: int) -> np.ndarray:
        """Bool ``(groups, n_inputs)``: the vote failed (all False for an ideal voter)."""
        out = np.zeros((groups, n_inputs), dtype=bool)
        if self.rate <= 0.0:
            return out
        for g in range(groups):
            rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(PHASE_VOTER, g)))
            out[g] = rng.random(n_inputs) < self.rate
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rate": self.rate, "where": self.where, "text": self.text,
                "extra_chips": self.extra_chips,
                "model": ("ideal: never fails" if self.kind == "ideal" else
                          "fails per inference with probability rate, independently of the replicas; a failed vote "
                          "is a failed inference; P(fail) = rate + (1 - rate) T(R)")}


def parse_voter(text) -> Voter:
    """``'ideal'`` or ``'digital:RATE[@host|@chip]'`` -> :class:`Voter`."""
    if isinstance(text, Voter):
        return text
    if text is None or str(text).strip().lower() == "ideal":
        return Voter()
    s = str(text).strip().lower()
    kind, _, rest = s.partition(":")
    rate_s, _, where = rest.partition("@")
    where = where or "host"
    if kind != "digital" or not rate_s:
        raise ConfigError(f"'--voter' must be 'ideal' or 'digital:RATE[@host|@chip]', e.g. digital:1e-7@host. Got {text!r}.")
    try:
        rate = float(rate_s)
    except ValueError:
        raise ConfigError(f"'--voter digital:RATE': RATE must be a number in [0, 1). Got {rate_s!r}.") from None
    if not (0.0 <= rate < 1.0):
        raise ConfigError(f"'--voter digital:RATE': RATE (the voter's per-inference fault probability) must be in "
                          f"[0, 1), e.g. 1e-7. Got {rate_s}.")
    if where not in WHERE:
        raise ConfigError(f"'--voter ...@WHERE': WHERE must be host or chip (where the voter runs). Got {where!r}.")
    return Voter("digital", rate, where)

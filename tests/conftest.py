"""Shared fixtures: a seeded Generator, tiny random networks, a tiny-tile chip profile."""
from pathlib import Path

import numpy as np
import pytest

from neurosim.chip.profile import profile_from_dict
from reference import random_net

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"


def tiny_profile_dict(**overrides):
    """A profile document with 3x2 tiles, 2 tiles and 3 neurons per core (every net spans many cores)."""
    d = {
        "chip": {"name": "tiny", "description": "test chip", "cores_per_chip": 1000, "max_chips": 1},
        "core": {"crossbar_rows": 3, "crossbar_cols": 2, "crossbars_per_core": 2, "neurons_per_core": 3},
        "synapse": {"weight_bits": 4, "weight_scaling": "per_tile", "weight_scale_rule": "max"},
    }
    for dotted, v in overrides.items():
        table, key = dotted.split("__")
        d[table][key] = v
    return d


@pytest.fixture
def rng():
    """A fresh seeded Generator per test (tests are reproducible)."""
    return np.random.default_rng(20240611)


@pytest.fixture
def digits_path():
    return DIGITS


@pytest.fixture
def tiny_profile():
    return profile_from_dict(tiny_profile_dict())


@pytest.fixture
def small_net(rng):
    """7-5-4-3 with tanh and relu hidden layers (awkward sizes for 3x2 tiles)."""
    return random_net(rng, [7, 5, 4, 3], ["tanh", "relu"])


@pytest.fixture
def tiny_net(rng):
    """3-3-2 tanh network."""
    return random_net(rng, [3, 3, 2], "tanh")


#: Why torch-backed tests skip off Python 3.11 (printed by ``-rs``); on 3.11 torch is part of the dev extra.
TORCH_SKIP_REASON = "torch 2.13.0 has a CPU wheel here for Python 3.11 only; torch-backed tests run on 3.11"


def need_torch():
    """``torch`` for a torch-backed test: skipped with :data:`TORCH_SKIP_REASON` off 3.11, an error if missing on 3.11."""
    import sys

    if sys.version_info[:2] != (3, 11):
        pytest.skip(TORCH_SKIP_REASON)
    import torch  # the dev extra installs it on 3.11: missing is a CI bug, not a skip

    return torch

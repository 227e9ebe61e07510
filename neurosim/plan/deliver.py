r"""What a hardware team builds from: ``acceptance/`` test vectors and ``programming/`` files (docs/plan-format.md).

* ``acceptance/vectors.h5`` (``neurosim_type="acceptance"``): the evaluation
  inputs, the clean outputs of the mapped network (what a fault-free chip
  computes), the criterion's tolerance per input, and the pass rule: a chip
  is accepted when it fails on at most ``max_failed`` vectors, the
  ``quantile`` of the failing-vector counts of the plan's simulated chips under
  the stated faults (so a chip from the assumed fault population is rejected
  with probability about ``1 - quantile``; a fault-free chip fails on none).
* ``programming/replica_NNN.h5`` (``neurosim_type="programming"``), one per
  replica: for every crossbar cell the signed integer level (weight = level ×
  the tile's step) with its chip (deployment-global), core (within the chip),
  tile (crossbar slot within the core), row and column (within the crossbar),
  layer and matrix indices; the tiles' steps; the neurons' chip/core and bias.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..io.h5util import header_attrs, open_for_read

__all__ = ["ACCEPT_QUANTILE", "acceptance_rule", "programming_tables", "write_acceptance", "write_programming",
           "check_acceptance", "check_programming", "ACCEPT_FILE", "replica_file"]

ACCEPT_FILE = "acceptance/vectors.h5"
ACCEPT_QUANTILE = 0.99
VERSION = 1


def replica_file(r: int) -> str:
    return f"programming/replica_{r:03d}.h5"


def acceptance_rule(counts, n_vectors: int, quantile: float = ACCEPT_QUANTILE) -> dict:
    """Pass rule from the simulated chips' failing-vector counts (``counts[c]`` = vectors chip ``c`` fails)."""
    c = np.sort(np.asarray(counts, dtype=np.int64))
    k = int(c[min(c.size - 1, int(np.ceil(quantile * c.size)) - 1)])
    return {"max_failed": k, "quantile": float(quantile), "n_vectors": int(n_vectors), "simulated_chips": int(c.size),
            "simulated_reject_rate": float(np.mean(c > k)),
            "rule": (f"apply every vector, compare the chip's outputs with 'clean' under the plan's criterion; the chip "
                     f"passes when at most {k} of the {n_vectors} vectors fail (the {quantile:g} quantile of the "
                     "simulated chips under the stated faults); a fault-free chip fails on none")}


def write_acceptance(path: Path, x, clean, labels, criterion, eps_x, rule: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in header_attrs("acceptance", VERSION).items():
            f.attrs[k] = v
        f.attrs["criterion"] = criterion.text
        f.attrs["criterion_text"] = criterion.describe()
        f.attrs["pass_rule"] = rule["rule"]
        f.attrs["max_failed"] = rule["max_failed"]
        f.create_dataset("inputs", data=np.asarray(x, dtype=np.float64))
        f.create_dataset("clean", data=np.asarray(clean, dtype=np.float64))
        f.create_dataset("expected_class", data=np.argmax(clean, axis=1).astype(np.int64))
        tol = np.full(len(x), float(criterion.value)) if criterion.kind in ("linf", "loss") else \
            np.full(len(x), float(criterion.value or 1))
        f.create_dataset("tolerance", data=tol)
        f.create_dataset("surrogate_eps", data=np.asarray(eps_x, dtype=np.float64))
        if labels is not None:
            f.create_dataset("labels", data=np.asarray(labels).astype(np.int64))


def programming_tables(mapping) -> dict:
    """Cell, tile and neuron tables of one replica (chip indices local: 0 .. chips_used-1)."""
    p = mapping.profile
    cpc = p.cores_per_chip
    slot = np.zeros(mapping.n_tiles, dtype=np.int64)
    for k in np.unique(mapping.tile_core):
        idx = np.flatnonzero(mapping.tile_core == k)
        slot[idx] = np.arange(idx.size)
    cols = {n: [] for n in ("layer", "out", "in", "core_global", "tile", "row", "col", "level")}
    for t in range(mapping.n_tiles):
        l = int(mapping.tile_layer[t])
        r0, r1, c0, c1 = (int(mapping.tile_r0[t]), int(mapping.tile_r1[t]), int(mapping.tile_c0[t]), int(mapping.tile_c1[t]))
        blk = mapping.qnet.weights[l - 1][c0:c1, r0:r1]
        lev = np.rint(blk / mapping.tile_scale[t]).astype(np.int64)
        oo, ii = np.meshgrid(np.arange(c0, c1), np.arange(r0, r1), indexing="ij")
        n = lev.size
        cols["layer"].append(np.full(n, l)); cols["out"].append(oo.ravel()); cols["in"].append(ii.ravel())
        cols["core_global"].append(np.full(n, int(mapping.tile_core[t]))); cols["tile"].append(np.full(n, slot[t]))
        cols["row"].append((ii - r0).ravel()); cols["col"].append((oo - c0).ravel()); cols["level"].append(lev.ravel())
    cells = {k: np.concatenate(v).astype(np.int64) for k, v in cols.items()}
    cells["chip"], cells["core"] = cells["core_global"] // cpc, cells["core_global"] % cpc
    tiles = {"layer": mapping.tile_layer, "core_global": mapping.tile_core, "chip": mapping.tile_core // cpc,
             "core": mapping.tile_core % cpc, "slot": slot, "r0": mapping.tile_r0, "r1": mapping.tile_r1,
             "c0": mapping.tile_c0, "c1": mapping.tile_c1, "step": np.asarray(mapping.tile_scale, dtype=np.float64)}
    nl = np.concatenate([np.full(c.size, l + 1) for l, c in enumerate(mapping.neuron_core)]).astype(np.int64)
    ni = np.concatenate([np.arange(c.size) for c in mapping.neuron_core]).astype(np.int64)
    nc = np.concatenate(mapping.neuron_core).astype(np.int64)
    bias = np.concatenate([np.asarray(b, dtype=np.float64) for b in mapping.qnet.biases])
    neurons = {"layer": nl, "index": ni, "core_global": nc, "chip": nc // cpc, "core": nc % cpc, "bias": bias}
    return {"cells": cells, "tiles": tiles, "neurons": neurons}


def write_programming(folder: Path, mapping, R: int) -> list:
    """One file per replica; chip ``c`` of replica ``r`` is deployment chip ``r * chips_used + c``."""
    folder.mkdir(parents=True, exist_ok=True)
    tabs = programming_tables(mapping)
    names = []
    for r in range(int(R)):
        name = replica_file(r)
        with h5py.File(folder.parent / name, "w") as f:
            for k, v in header_attrs("programming", VERSION).items():
                f.attrs[k] = v
            f.attrs["replica"] = r
            f.attrs["R"] = int(R)
            f.attrs["profile"] = mapping.profile.name
            f.attrs["weight_bits"] = int(mapping.profile.weight_bits)
            f.attrs["chips_per_replica"] = int(mapping.n_chips)
            f.attrs["level_rule"] = ("weight = level * tiles/step[tile of the cell]; signed levels in "
                                     "[-(2^(bits-1)-1), 2^(bits-1)-1]; map each level to the device's conductance "
                                     "(e.g. a differential pair: positive levels on G+, negative on G-)")
            off = r * mapping.n_chips
            for grp, tab in tabs.items():
                g = f.create_group(grp)
                for k, v in tab.items():
                    v = np.asarray(v)
                    g.create_dataset(k, data=(v + off) if k == "chip" else v)
        names.append(name)
    return names


# --------------------------------------------------------------------------- checking
def check_acceptance(plan_dir: Path, lp, record) -> None:
    """The vectors are the plan's inputs, their clean outputs reproduce on the stored mapping, the rule recomputes."""
    from ..sim import simulate

    doc = lp.doc
    with open_for_read(plan_dir / ACCEPT_FILE, "acceptance", VERSION) as f:
        xv, cv = f["inputs"][()], f["clean"][()]
        kmax, crit = int(f.attrs["max_failed"]), str(f.attrs["criterion"])
    same_x = np.array_equal(xv, lp.arrays["inputs/x"])
    from .spiking import sim_kwargs

    clean = simulate(lp.mapping, xv, [], n_chips=1, seed=0, **sim_kwargs(doc)).clean
    ok = same_x and np.array_equal(clean, cv) and crit == doc["target"]["criterion"]
    record("acceptance vectors", ok, "the vectors' clean outputs reproduce bit for bit on the stored mapping" if ok else
           "the acceptance vectors do not reproduce on the stored mapping (inputs, clean outputs or criterion differ)")
    counts = lp.arrays["estimate/criterion_fail"].astype(np.int64).sum(axis=1)
    rule = acceptance_rule(counts, xv.shape[0], doc["acceptance"]["quantile"])
    ok = rule["max_failed"] == kmax == doc["acceptance"]["max_failed"]
    record("acceptance rule", ok, f"pass when at most {kmax} vectors fail, recomputed from the stored chips" if ok else
           f"the pass rule ({kmax}) does not follow from the stored chips ({rule['max_failed']})")


def check_programming(plan_dir: Path, lp, record) -> None:
    """Every replica file re-assembles to the stored quantised weights, with the deployment's chip numbering."""
    mapping, R = lp.mapping, lp.doc["replicas"]["R"]
    want = programming_tables(mapping)
    bad = []
    for r in range(R):
        with open_for_read(plan_dir / replica_file(r), "programming", VERSION) as f:
            if int(f.attrs["replica"]) != r:
                bad.append(f"{replica_file(r)}: replica attribute {int(f.attrs['replica'])}")
                continue
            for grp, tab in want.items():
                for k, v in tab.items():
                    v = np.asarray(v)
                    if not np.array_equal(f[grp][k][()], (v + r * mapping.n_chips) if k == "chip" else v):
                        bad.append(f"{replica_file(r)}: {grp}/{k}")
            c, steps = f["cells"], f["tiles"]["step"][()]
            tile_of = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(f["tiles"]["core_global"][()], f["tiles"]["slot"][()]))}
            t = np.array([tile_of[(int(a), int(b))] for a, b in zip(c["core_global"][()], c["tile"][()])])
            for l in range(1, mapping.qnet.n_layers + 1):
                sel = c["layer"][()] == l
                W = np.zeros_like(mapping.qnet.weights[l - 1])
                W[c["out"][()][sel], c["in"][()][sel]] = c["level"][()][sel] * steps[t[sel]]
                if not np.array_equal(W, mapping.qnet.weights[l - 1]):
                    bad.append(f"{replica_file(r)}: layer {l} levels x steps differ from the mapping")
    extra = sorted(p.name for p in (plan_dir / "programming").glob("*.h5")
                   if p.name not in {Path(replica_file(r)).name for r in range(R)})
    if extra:
        bad.append("unexpected file(s) " + ", ".join(extra))
    record("programming", not bad, f"{R} replica files; levels x steps re-assemble the stored quantised weights" if not bad
           else "; ".join(bad[:3]) + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""))

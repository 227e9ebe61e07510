"""Chip profiles (shipped files, validation) and mapping invariants (tiles, cores, quantisation, I/O)."""
import json
import math
import tomllib

import numpy as np
import pytest

from neurosim import CapacityError, ConfigError, FileFormatError, list_profiles, load_profile, map_network
from neurosim.chip.profile import PROFILE_DIR, profile_from_dict
from neurosim.chip.quantize import levels, quantize_block
from neurosim.io.mapping_io import load_mapping, save_mapping
from conftest import tiny_profile_dict
from reference import random_net

SHIPPED = list_profiles()


def dump_toml(d) -> str:
    """Tiny TOML writer for tables of scalars (enough for profile documents)."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    out = []
    for table, kv in d.items():
        out.append(f"[{table}]")
        out += [f"{k} = {val(v)}" for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------- shipped profiles
def test_shipped_profiles_present():
    """At least the five documented profiles ship, and list_profiles() matches the folder."""
    assert {"ideal", "loihi", "pcm", "rram", "truenorth"} <= set(SHIPPED)
    assert SHIPPED == sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads(name):
    """Each shipped profile loads by name and by path to the same values; its name is the file stem."""
    p = load_profile(name)
    assert p.name == name
    q = load_profile(PROFILE_DIR / f"{name}.toml")
    assert p.to_dict() == q.to_dict()
    assert p.synapses_per_core == p.crossbar_rows * p.crossbar_cols * p.crossbars_per_core
    assert p.description.strip()


@pytest.mark.parametrize("name", SHIPPED)
def test_every_number_has_a_source(name):
    """STYLE/DESIGN: every number in [chip]/[core]/[synapse]/[faults] of a shipped file has a [sources] entry."""
    doc = tomllib.loads((PROFILE_DIR / f"{name}.toml").read_text())
    sources = doc.get("sources", {})
    missing = [f"{t}.{k}" for t in ("chip", "core", "synapse", "faults") for k, v in doc.get(t, {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in sources]
    assert not missing, f"{name}.toml: numbers without a [sources] entry: {missing}"
    for k, v in sources.items():
        assert isinstance(v, str) and v.strip(), k


# ----------------------------------------------------------------------------- profile validation
def _load_doc(tmp_path, doc, text=None):
    p = tmp_path / "user.toml"
    p.write_text(text if text is not None else dump_toml(doc))
    return load_profile(p)


def test_user_profile_path(tmp_path, rng):
    """A user TOML path loads with its values, and map_network accepts the path directly."""
    doc = tiny_profile_dict(core__crossbar_rows=5, chip__name="mine")
    doc["faults"] = {"synapse_stuck0": 0.01}
    doc["sources"] = {"crossbar_rows": "test"}
    p = _load_doc(tmp_path, doc)
    assert (p.name, p.crossbar_rows, p.crossbar_cols, p.weight_bits) == ("mine", 5, 2, 4)
    assert p.fault_rates == {"synapse_stuck0": 0.01}
    assert p.path == str(tmp_path / "user.toml")
    m = map_network(random_net(rng, [6, 4, 2]), str(tmp_path / "user.toml"))
    assert m.profile.name == "mine"


def _bad(doc, **kw):
    d = json.loads(json.dumps(doc))
    for dotted, v in kw.items():
        table, key = dotted.split("__")
        d.setdefault(table, {})[key] = v
    return d


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.update(bogus={"x": 1}), "[bogus]"),
    (lambda d: d["core"].update(crossbar_depth=4), "core.crossbar_depth"),
    (lambda d: d["chip"].update(cores_per_chip="64"), "chip.cores_per_chip"),
    (lambda d: d["chip"].update(cores_per_chip=True), "chip.cores_per_chip"),
    (lambda d: d["chip"].update(cores_per_chip=64.0), "chip.cores_per_chip"),
    (lambda d: d["core"].update(crossbar_rows=0), "core.crossbar_rows"),
    (lambda d: d["core"].update(neurons_per_core=-3), "core.neurons_per_core"),
    (lambda d: d["chip"].update(max_chips=0), "chip.max_chips"),
    (lambda d: d["synapse"].update(weight_bits=1), "synapse.weight_bits"),
    (lambda d: d["synapse"].update(weight_bits=33), "synapse.weight_bits"),
    (lambda d: d["synapse"].update(weight_bits=True), "synapse.weight_bits"),
    (lambda d: d["synapse"].update(weight_scaling="per_core"), "synapse.weight_scaling"),
    (lambda d: d["synapse"].update(weight_scale_rule="l1"), "synapse.weight_scale_rule"),
    (lambda d: d.update(faults={"synapse_stuck0": 1.5}), "faults.synapse_stuck0"),
    (lambda d: d.update(faults={"synapse_stuck0": "high"}), "faults.synapse_stuck0"),
    (lambda d: d.update(sources={"crossbar_rows": 3}), "sources.crossbar_rows"),
    (lambda d: d.pop("core"), "[core]"),
    (lambda d: d["core"].pop("crossbar_cols"), "core.crossbar_cols"),
    (lambda d: d["chip"].pop("name"), "chip.name"),
])
def test_profile_validation_names_the_key(tmp_path, mutate, needle):
    """Unknown table/key, wrong type, out-of-range value, missing table/key -> ConfigError naming it (one line)."""
    doc = tiny_profile_dict()
    mutate(doc)
    with pytest.raises(ConfigError) as ei:
        _load_doc(tmp_path, doc)
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg, msg
    # the same document given as a dict fails the same way
    with pytest.raises(ConfigError):
        profile_from_dict(doc)


def test_malformed_toml(tmp_path):
    """Broken TOML syntax -> ConfigError (not a tomllib exception), one line naming the file."""
    with pytest.raises(ConfigError) as ei:
        _load_doc(tmp_path, None, text="[chip\nname = 'x'\n")
    assert "user.toml" in str(ei.value) and "\n" not in str(ei.value)


def test_unknown_profile_lists_shipped_names():
    """An unknown profile name -> ConfigError listing every shipped name."""
    with pytest.raises(ConfigError) as ei:
        load_profile("no_such_chip")
    for n in SHIPPED:
        assert n in str(ei.value)


def test_missing_profile_path(tmp_path):
    with pytest.raises(FileFormatError):
        load_profile(tmp_path / "absent.toml")


# ----------------------------------------------------------------------------- mapping invariants
def check_mapping(m):
    """Assert every structural invariant of a mapping (placement, quantisation, CSR)."""
    net, prof, q = m.network, m.profile, m.qnet
    rows, cols = prof.crossbar_rows, prof.crossbar_cols
    nlev = levels(prof.weight_bits)
    assert m.tile_core.size == m.n_tiles and np.all(np.diff(m.tile_core) >= 0)
    assert m.n_chips == math.ceil(m.n_cores / prof.cores_per_chip)
    # tiles: within bounds, at most rows x cols, cover every cell exactly once
    for l, (W, Wq) in enumerate(zip(net.weights, q.weights), start=1):
        cover = np.zeros(W.shape, dtype=np.int64)
        idx = np.flatnonzero(m.tile_layer == l)
        assert idx.size == math.ceil(W.shape[0] / cols) * math.ceil(W.shape[1] / rows)
        scales = m.tile_scale[idx]
        for t in idx:
            r0, r1, c0, c1 = m.tile_r0[t], m.tile_r1[t], m.tile_c0[t], m.tile_c1[t]
            assert 0 <= r0 < r1 <= W.shape[1] and 0 <= c0 < c1 <= W.shape[0]
            assert r1 - r0 <= rows and c1 - c0 <= cols
            cover[c0:c1, r0:r1] += 1
            blk, qblk, s = W[c0:c1, r0:r1], Wq[c0:c1, r0:r1], m.tile_scale[t]
            if prof.weight_bits == 0:
                assert np.array_equal(qblk, blk)
                continue
            # the tile is quantised with its own step: integer levels in [-n, n]
            k = qblk / s
            assert np.allclose(k, np.rint(k), rtol=0, atol=1e-9) and np.all(np.abs(np.rint(k)) <= nlev)
            assert np.array_equal(qblk, quantize_block(blk, prof.weight_bits, s))
            err = np.abs(qblk - blk)
            tol = s / 2 * (1 + 1e-12)
            if prof.weight_scale_rule == "max":
                assert np.all(err <= tol), (l, t, err.max(), s)
            else:
                inside = np.abs(blk) <= nlev * s
                assert np.all(err[inside] <= tol)
                assert np.all(np.abs(qblk[~inside]) == nlev * s)
        assert np.all(cover == 1), f"layer {l}: coverage {np.unique(cover)}"
        if prof.weight_scaling == "per_layer" and prof.weight_bits:
            assert np.all(scales == scales[0])
        # synapse_core agrees with the tiles
        sc = m.synapse_core(l)
        for t in idx:
            assert np.all(sc[m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]] == m.tile_core[t])
        assert np.array_equal(q.biases[l - 1], net.biases[l - 1])
    # neurons: one core each, within range
    assert len(m.neuron_core) == net.n_layers
    for l, nc in enumerate(m.neuron_core, start=1):
        assert nc.shape == (net.sizes[l],) and nc.dtype.kind == "i"
        assert np.all((nc >= 0) & (nc < m.n_cores))
    # per-core capacity, and no empty core
    tiles_per = np.bincount(m.tile_core, minlength=m.n_cores)
    neur_per = np.bincount(np.concatenate(m.neuron_core), minlength=m.n_cores)
    assert tiles_per.size == m.n_cores and neur_per.size == m.n_cores
    assert tiles_per.max() <= prof.crossbars_per_core
    assert neur_per.max() <= prof.neurons_per_core
    assert np.all(tiles_per + neur_per > 0)
    # CSR of core contents
    tp, npt, nl, ni = m.core_contents()
    assert tp[0] == 0 and tp[-1] == m.n_tiles and npt[0] == 0 and npt[-1] == sum(c.size for c in m.neuron_core)
    seen = set()
    for k in range(m.n_cores):
        assert np.all(m.tile_core[tp[k]:tp[k + 1]] == k)
        for q_ in range(npt[k], npt[k + 1]):
            assert m.neuron_core[nl[q_] - 1][ni[q_]] == k
            seen.add((int(nl[q_]), int(ni[q_])))
    assert len(seen) == npt[-1]


AWKWARD = [[7, 5, 4, 3], [1, 1], [10, 3, 1], [5, 9, 2], [4, 13, 6, 5, 2]]


@pytest.mark.parametrize("name", SHIPPED)
def test_mapping_invariants_shipped(name, digits_path, rng):
    """All invariants hold on every shipped profile, for the example and a multi-tile random net."""
    from neurosim import load_network

    check_mapping(map_network(load_network(digits_path), name))
    check_mapping(map_network(random_net(rng, [300, 257, 130, 10], "relu"), name))


@pytest.mark.parametrize("overrides", [
    {},
    {"synapse__weight_scale_rule": "mse", "synapse__weight_bits": 2},
    {"synapse__weight_scaling": "per_layer", "synapse__weight_bits": 3},
    {"synapse__weight_bits": 0},
    {"core__neurons_per_core": 1, "core__crossbars_per_core": 1},
    {"core__crossbar_rows": 1, "core__crossbar_cols": 1, "core__neurons_per_core": 2},
    {"core__crossbar_cols": 4, "core__neurons_per_core": 2, "core__crossbars_per_core": 3},
])
@pytest.mark.parametrize("sizes", AWKWARD)
def test_mapping_invariants_small_tiles(rng, overrides, sizes):
    """Invariants on tiny tiles where every layer spans many tiles and cores."""
    prof = profile_from_dict(tiny_profile_dict(**overrides))
    net = random_net(rng, sizes, "tanh")
    check_mapping(map_network(net, prof))


def test_mse_rule_not_worse_than_max(rng):
    """The 'mse' scale minimises squared error over its search grid, which contains the 'max' scale."""
    net = random_net(rng, [20, 12, 4], "relu")
    a = map_network(net, profile_from_dict(tiny_profile_dict(synapse__weight_bits=2)))
    b = map_network(net, profile_from_dict(tiny_profile_dict(synapse__weight_bits=2, synapse__weight_scale_rule="mse")))
    for t in range(a.n_tiles):
        sl = (a.tile_layer[t] - 1, slice(a.tile_c0[t], a.tile_c1[t]), slice(a.tile_r0[t], a.tile_r1[t]))
        W = net.weights[sl[0]][sl[1], sl[2]]
        ea = np.sum((a.qnet.weights[sl[0]][sl[1], sl[2]] - W) ** 2)
        eb = np.sum((b.qnet.weights[sl[0]][sl[1], sl[2]] - W) ** 2)
        assert eb <= ea * (1 + 1e-12)


def test_deviation_report_matches_qnet(rng, tiny_profile):
    """The deviation report is max |qnet(x) - net(x)| on the given sample."""
    net = random_net(rng, [7, 5, 4, 3], "tanh")
    x = rng.uniform(size=(33, 7))
    m = map_network(net, tiny_profile, x_sample=x)
    assert m.deviation["n_samples"] == 33
    assert m.deviation["max_abs"] == pytest.approx(np.max(np.abs(m.qnet.forward(x) - net.forward(x))), rel=1e-12)


def test_capacity_error_and_max_chips(rng):
    """Too large for one chip -> CapacityError saying how many cores are needed and suggesting max_chips; raising max_chips succeeds."""
    net = random_net(rng, [9, 8, 5], "relu")
    big = map_network(net, profile_from_dict(tiny_profile_dict()))
    need = big.n_cores
    assert need > 4
    prof = profile_from_dict(tiny_profile_dict(chip__cores_per_chip=4))
    with pytest.raises(CapacityError) as ei:
        map_network(net, prof)
    msg = str(ei.value)
    chips = math.ceil(need / 4)
    assert isinstance(ei.value, ValueError)
    assert f"{need} cores" in msg and "max_chips" in msg and str(chips) in msg and "\n" not in msg
    m = map_network(net, prof, max_chips=chips)
    assert m.n_chips == chips and m.n_cores == need
    check_mapping(m)
    with pytest.raises(CapacityError):
        map_network(net, prof, max_chips=chips - 1)
    # the profile's own max_chips is honoured too
    m2 = map_network(net, profile_from_dict(tiny_profile_dict(chip__cores_per_chip=4, chip__max_chips=chips)))
    assert m2.n_chips == chips
    with pytest.raises(ConfigError):
        map_network(net, prof, max_chips=0)


@pytest.mark.parametrize("overrides", [{}, {"synapse__weight_scale_rule": "mse", "synapse__weight_bits": 2},
                                       {"synapse__weight_bits": 0}])
def test_mapping_save_load_roundtrip(tmp_path, rng, overrides):
    """save_mapping -> load_mapping gives identical arrays, networks, profile and reports."""
    prof = profile_from_dict(tiny_profile_dict(**overrides) | {"faults": {"synapse_stuck0": 0.25}},
                             path="/some/where.toml")
    m = map_network(random_net(rng, [7, 5, 4, 3], ["sigmoid", "relu"], name="rt"), prof)
    p = tmp_path / "m.h5"
    save_mapping(m, p)
    m2 = load_mapping(p)
    for f in ("tile_layer", "tile_r0", "tile_r1", "tile_c0", "tile_c1", "tile_core", "tile_scale"):
        a, b = getattr(m, f), getattr(m2, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    assert len(m2.neuron_core) == len(m.neuron_core)
    assert all(np.array_equal(a, b) for a, b in zip(m.neuron_core, m2.neuron_core))
    for a, b in ((m.network, m2.network), (m.qnet, m2.qnet)):
        assert a.name == b.name and a.activations == b.activations
        assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))
        assert all(np.array_equal(x, y) for x, y in zip(a.biases, b.biases))
    assert m2.profile == m.profile
    assert (m2.n_cores, m2.n_chips) == (m.n_cores, m.n_chips)
    assert list(m2.layers) == list(m.layers) and m2.deviation == m.deviation
    assert m2.summary() == m.summary()


def test_load_mapping_rejects_network_file(tmp_path, digits_path):
    """A network file is not a mapping file: FileFormatError."""
    with pytest.raises(FileFormatError):
        load_mapping(digits_path)

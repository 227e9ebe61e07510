"""Fault values: parsing, validation, profile rates, soft errors, device models (no engine)."""
from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

import neurosim as ns
from neurosim.chip import devices as D
from neurosim.chip.profile import PROFILE_DIR
from neurosim.errors import ConfigError
from neurosim.faults import FaultSpec, FaultValue, check_for_chip, flip_bit, load_faults_toml, parse_fault

TEXTS = [
    "synapse:permanent:0.1:value=max",
    "synapse:transient:0.1:value=min:range=-2,1.5",
    "neuron:transient:0.001:value=saturated",
    "neuron:permanent:0.2:value=-0.75:layers=1",
    "synapse:permanent:0.0001:value=bitflip:bit=7",
    "synapse:permanent:0.0001:value=bitflip",
    "synapse:intermittent:0.01:value=scale=0.9:p_on=0.1:p_off=0.5",
    "synapse:permanent:0.1",
]


@pytest.mark.parametrize("text", TEXTS)
def test_text_and_dict_round_trip(text):
    s = parse_fault(text)
    assert parse_fault(s.to_text()) == s
    assert FaultSpec.from_dict(s.to_dict()) == s
    assert s.with_rate(0.5).fault_value == s.fault_value and s.with_rate(0.5).rate == 0.5


def test_aliases_and_canonical_forms():
    assert parse_fault("synapse:permanent:0.1:value=stuck0").value == "zero"
    assert parse_fault("synapse:permanent:0.1:value=0").value == "zero"
    assert FaultSpec("synapse", "permanent", 0.1).value == "zero"
    assert FaultSpec("synapse", "permanent", 0.1, value="stuck0") == FaultSpec("synapse", "permanent", 0.1)
    a = parse_fault("synapse:permanent:1:value=scale=0.9")
    assert a == parse_fault("synapse:permanent:1:value=scale:scale=0.9")
    assert a.fault_value == FaultValue("scale", 0.9)
    assert parse_fault("neuron:permanent:1:value=0.5").fault_value == FaultValue("number", 0.5)
    assert parse_fault("synapse:permanent:1:value=max:range=-1,2").fault_value.range == (-1.0, 2.0)
    assert "value" not in FaultSpec("synapse", "permanent", 0.1).to_text()


@pytest.mark.parametrize("text, needle", [
    ("neuron:permanent:0.1:value=max", "neurons take zero, a number or saturated"),
    ("synapse:permanent:0.1:value=saturated", "synapses take"),
    ("core:permanent:0.1:value=0.5", "core faults are zero only"),
    ("synapse:permanent:0.1:value=foo", "must be one of"),
    ("synapse:permanent:0.1:value=nan", "finite number"),
    ("synapse:permanent:0.1:value=inf", "finite number"),
    ("synapse:permanent:0.1:value=zero:bit=3", "'bit' applies to value=bitflip only"),
    ("synapse:permanent:0.1:value=bitflip:bit=-1", "integer >= 0"),
    ("synapse:permanent:0.1:value=bitflip:bit=x", "integer >= 0"),
    ("synapse:permanent:0.1:value=max:range=1,2", "LO <= 0 <= HI"),
    ("synapse:permanent:0.1:value=max:range=1", "two numbers"),
    ("synapse:permanent:0.1:value=0.3:range=-1,1", "'range' applies to value=max/min only"),
    ("synapse:permanent:0.1:value=scale", "no factor"),
    ("synapse:permanent:0.1:value=scale=x", "finite number"),
    ("synapse:permanent:0.1:value=1:scale=2", "'scale' applies to value=scale only"),
    ("synapse:permanent:0.1:bitflip", "write value=bitflip"),
    ("synapse:permanent:0.1:value=max:value=min", "twice"),
])
def test_bad_values_are_one_line_config_errors(text, needle):
    with pytest.raises(ConfigError) as ei:
        parse_fault(text)
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg
    assert isinstance(ei.value, ValueError)


def test_chip_dependent_values_need_a_chip():
    bf = parse_fault("synapse:permanent:0.1:value=bitflip")
    mx = parse_fault("synapse:permanent:0.1:value=max")
    for spec, needle in ((bf, "stores float weights"), (mx, "state the range")):
        with pytest.raises(ConfigError, match=needle):
            check_for_chip(spec, None)
        with pytest.raises(ConfigError, match=needle):
            check_for_chip(spec, 0)
        check_for_chip(spec, 8)
    check_for_chip(parse_fault("synapse:permanent:0.1:value=max:range=-1,1"), None)
    with pytest.raises(ConfigError, match=r"bit.*0\.\.4"):
        check_for_chip(parse_fault("synapse:permanent:0.1:value=bitflip:bit=5"), 5)
    with pytest.raises(ConfigError, match="stores float weights"):
        parse_fault("synapse:permanent:0.1:value=bitflip", profile=ns.load_profile("ideal"))


def test_profile_rates_per_value():
    rram = ns.load_profile("rram")
    assert parse_fault("synapse:permanent:profile", profile=rram).rate == 0.0175
    mx = parse_fault("synapse:permanent:profile:value=max", profile=rram)
    mn = parse_fault("synapse:permanent:profile:value=min", profile=rram)
    assert mx.rate == mn.rate == 0.0452 and mx.rate + mn.rate == pytest.approx(rram.fault_rates["synapse_stuck1"])
    with pytest.raises(ConfigError, match="no literature rate 'faults.synapse_bitflip'"):
        parse_fault("synapse:permanent:profile:value=bitflip", profile=rram)
    with pytest.raises(ConfigError, match="no literature rate for value=0.5"):
        parse_fault("synapse:permanent:profile:value=0.5", profile=rram)
    loihi = ns.load_profile("loihi")
    bf = parse_fault("synapse:permanent:profile:value=bitflip", profile=loihi)
    se = loihi.soft_errors
    lam = se["fit_per_mbit"] * 1e-9 / 2 ** 20
    p_bit = (1 - math.exp(-2 * lam * se["mission_hours"])) / 2
    assert bf.rate == pytest.approx(1 - (1 - p_bit) ** 8, rel=1e-12)


def test_toml_values(tmp_path):
    f = tmp_path / "f.toml"
    f.write_text('[[fault]]\nsite = "synapse"\nmode = "permanent"\nrate = "profile"\nvalue = "max"\n'
                 '[[fault]]\nsite = "neuron"\nmode = "transient"\nrate = 0.01\nvalue = 0.5\n'
                 '[[fault]]\nsite = "synapse"\nmode = "permanent"\nrate = 0.01\nvalue = "bitflip"\nbit = 3\n'
                 '[[fault]]\nsite = "synapse"\nmode = "permanent"\nrate = 1\nvalue = "scale"\nscale = 0.8\n'
                 '[[fault]]\nsite = "synapse"\nmode = "permanent"\nrate = 0.1\nvalue = "min"\nrange = [-1.0, 1.0]\n')
    specs = load_faults_toml(f, profile=ns.load_profile("rram"))
    assert [s.value for s in specs] == ["max", "0.5", "bitflip", "scale=0.8", "min"]
    assert specs[0].rate == 0.0452 and specs[2].fault_value.bit == 3 and specs[4].fault_value.range == (-1.0, 1.0)
    with pytest.raises(ConfigError, match="needs a profile"):
        load_faults_toml(f)


def test_flip_bit_reference():
    # two's complement over b bits: every bit flips exactly that bit of q mod 2^b
    for bits in (2, 5, 8):
        n = (1 << (bits - 1)) - 1
        for q in range(-n, n + 1):
            for k in range(bits):
                f = flip_bit(q, k, bits)
                assert -(1 << (bits - 1)) <= f <= n
                assert (f - q) in ((1 << k), -(1 << k)) or k == bits - 1
                assert ((f % (1 << bits)) ^ (q % (1 << bits))) == (1 << k)
                assert flip_bit(f, k, bits) == q
    assert flip_bit(5, 7, 8) == 5 - 128 and flip_bit(0, 0, 8) == 1 and flip_bit(-1, 0, 8) == -2


# ----------------------------------------------------------------------------- profiles: sources, tables
@pytest.mark.parametrize("name", ns.list_profiles())
def test_soft_error_and_device_numbers_have_sources(name):
    doc = tomllib.loads((PROFILE_DIR / f"{name}.toml").read_text())
    sources = doc.get("sources", {})
    for t in ("soft_errors", "device"):
        missing = [k for k, v in doc.get(t, {}).items() if not isinstance(v, bool) and k not in sources]
        assert not missing, f"{name}.toml [{t}] without a source: {missing}"


@pytest.mark.parametrize("table, needle", [
    ({"programming": "magic"}, "device.programming"),
    ({"programming": "gaussian"}, "programming_sigma > 0"),
    ({"adc_bits": 1}, "device.adc_bits"),
    ({"read_sigma": -1}, "device.read_sigma"),
    ({"drift": "constant"}, "drift_nu > 0"),
    ({"drift_compensation": 1}, "true or false"),
    ({"colour": 3}, "unknown key 'device.colour'"),
])
def test_device_table_validation(table, needle):
    with pytest.raises(ConfigError, match=needle):
        D.device_model(table, "'x.toml'")


@pytest.mark.parametrize("text, sec", [("3600", 3600.0), (90, 90.0), ("10min", 600.0), ("2h", 7200.0),
                                       ("30d", 30 * 86400.0), ("1y", 365.25 * 86400.0), ("1.5e3s", 1500.0)])
def test_parse_age(text, sec):
    assert D.parse_age(text) == pytest.approx(sec)


@pytest.mark.parametrize("bad", ["-1", "1w", "soon", float("nan")])
def test_parse_age_bad(bad):
    with pytest.raises(ConfigError, match="'age'"):
        D.parse_age(bad)


def test_soft_error_formula_against_poisson_simulation():
    # p_bit = P(odd number of Poisson(lam T) hits); check against direct sampling of hit counts
    lam_t = 0.3  # large enough to see the odd/even structure
    fit = lam_t / 1000.0 / 1e-9 * 2 ** 20
    p = D.bitflip_probability(fit, 1000.0)
    hits = np.random.default_rng(0).poisson(lam_t, size=400_000)
    est = np.mean(hits % 2 == 1)
    se = math.sqrt(p * (1 - p) / hits.size)
    assert abs(est - p) < 5 * se
    assert D.expected_upsets(fit, 1000.0, 10) == pytest.approx(10 * lam_t)


def test_programming_noise_statistics_and_determinism():
    W = np.full((200, 200), 0.5)
    S = [np.ones_like(W)]
    m = D.device_model({"programming": "gaussian", "programming_sigma": 0.02, "g_max_us": 10.0})
    a = D.chip_weights([W], S, m, entropy=3, chip=0)[0]
    b = D.chip_weights([W], S, m, entropy=3, chip=0)[0]
    c = D.chip_weights([W], S, m, entropy=3, chip=1)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # active device: 5 uS + N(0, 0.2 uS); idle device max(0, N(0, 0.2 uS)): mean 0.2/sqrt(2 pi), var 0.04 (1/2 - 1/(2 pi))
    sd = 0.02
    var = sd ** 2 + sd ** 2 * (0.5 - 1 / (2 * math.pi))
    assert abs(a.mean() - (0.5 - sd / math.sqrt(2 * math.pi))) < 5 * math.sqrt(var / W.size)
    assert a.var() == pytest.approx(var, rel=0.05)


def test_constant_drift_is_the_power_law():
    W = np.array([[0.8, -0.4]])
    m = D.device_model({"drift": "constant", "drift_nu": 0.06, "drift_t0_s": 20.0})
    t = 365.25 * 86400.0
    out = D.chip_weights([W], [np.ones_like(W)], m, entropy=0, chip=0, age_s=t)[0]
    np.testing.assert_allclose(out, W * ((t + 20.0) / 20.0) ** -0.06, rtol=1e-12)
    mc = D.device_model({"drift": "constant", "drift_nu": 0.06, "drift_compensation": True})
    comp = D.chip_weights([W], [np.ones_like(W)], mc, entropy=0, chip=0, age_s=t)[0]
    np.testing.assert_allclose(comp, W, rtol=1e-12)  # one common factor: compensation undoes it exactly


def test_pcm_drift_shrinks_weights_with_age():
    rng = np.random.default_rng(1)
    W = rng.uniform(-1, 1, size=(64, 64))
    m = D.device_model(ns.load_profile("pcm").device | {"drift_compensation": False})
    S = [np.ones_like(W)]
    early = D.chip_weights([W], S, m, 0, 0, age_s=60.0)[0]
    late = D.chip_weights([W], S, m, 0, 0, age_s=D.parse_age("1y"))[0]
    ratio = np.sum(np.abs(late)) / np.sum(np.abs(early))
    # mean nu >= 0.049: a year shrinks conductances by at least ((1y+20)/20)^-0.049 relative to t=80 s
    assert ratio < ((D.parse_age("1y") + 20) / 80) ** -0.04


def test_uniform_quantize():
    a = np.linspace(-2, 2, 101)
    q = D.uniform_quantize(a, 3, -1.0, 1.0)
    assert q.min() == -1.0 and q.max() == 1.0
    assert len(np.unique(q)) == 8  # 2^3 levels, 7 steps
    assert np.max(np.abs(q - np.clip(a, -1, 1))) <= (2 / 7) / 2 + 1e-12


# ----------------------------------------------------------------------------- sweeps over value types
def test_sweep_over_value_types_points_and_report(tmp_path):
    """A sweep over value types keeps one spec per value (distinct keys), every point equals a direct
    simulation with that value, and the report labels and predicts each value."""
    from neurosim import sweep as S
    from neurosim.plot.sweep import make_report
    from neurosim.io import load_bundled_data

    net = ns.load_network("examples/digits_mlp.h5")
    x, _ = load_bundled_data("examples/digits_mlp.h5")
    x = x[:30]
    faults = ["synapse:permanent", "synapse:permanent:value=0.5", "neuron:transient:layers=1:value=saturated"]
    ctx = S.build_context(net, x, faults=faults, rates=S.parse_rates("1e-3:1e-2:2"), n_chips=3, seed=5)
    assert len({S.spec_key(s) for s in ctx.grid.specs}) == 3
    S.run_sweep(ctx, tmp_path / "v.h5", progress=False)
    data = S.load_sweep(tmp_path / "v.h5")
    assert list(data.specs) == ["synapse:permanent", "synapse:permanent:value=0.5",
                                "neuron:transient:layers=1:value=saturated"]
    for i in range(ctx.grid.n_points):
        p, s, r = ctx.grid.point(i)
        res = ns.simulate(net, x, [S.with_rate(ctx.grid.specs[s], ctx.grid.rates[r])], n_chips=3,
                          seed=S.point_seed(5, i))
        d, _ = S.load_raw_delta(tmp_path / "v.h5", i)
        np.testing.assert_array_equal(d.reshape(res.delta.shape), res.delta)
    make_report(tmp_path / "v.h5", tmp_path / "rep")
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "value=0.5" in md and "value=saturated" in md
    assert md.count("first-order stuck-at-value moments overlaid") == 2

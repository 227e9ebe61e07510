"""Simulation with device non-idealities (:mod:`neurosim.chip.devices`).

``simulate(..., devices=True, age="1y")`` runs the chip as its devices are:

* programming noise and drift: every chip instance ``c`` gets its own weights
  (:func:`~neurosim.chip.devices.chip_weights`, keyed by (seed, chip, layer))
  and is simulated with the engine as chip ``c``, so its faults are exactly
  those of the same chip without device effects;
* read noise: drawn per (chip, input, layer) by the engine (column-sum form,
  :func:`neurosim.kernels.values.column_noise`);
* ADC/DAC: each crossbar layer's inputs and column outputs are quantised over
  the layer's clean range (measured on the evaluation inputs).

Δ is measured against the *intended* chip: the mapped network with ideal
devices but with its ADC/DAC (deterministic parts of the chip), without
faults. So with devices on and no faults, Δ shows what the devices alone do.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..chip.devices import DeviceModel, chip_weights, device_model, full_scale, parse_age, read_noise_std
from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..kernels import values as KV

NOISE_SALT = 0x7E57


class DeviceHooks:
    """Per-layer ADC/DAC and read noise, called by the engine inside a block (in place)."""

    def __init__(self, model: DeviceModel, net, x, wmax, key, noise: bool = True, chunk: int = 4096):
        self.model, self.key, self.noise = model, np.uint64(key), noise and model.read_sigma > 0
        L = net.n_layers
        in_lo, in_hi = np.zeros(L), np.zeros(L)
        out_m = np.zeros(L)
        first = True
        for b0 in range(0, x.shape[0], chunk):
            ys, zs = net.forward_all(x[b0:b0 + chunk])
            for l in range(L):
                lo, hi = float(ys[l].min()), float(ys[l].max())
                in_lo[l] = lo if first else min(in_lo[l], lo)
                in_hi[l] = hi if first else max(in_hi[l], hi)
                out_m[l] = max(out_m[l], float(np.max(np.abs(zs[l]))))
            first = False
        self.in_lo, self.in_hi, self.out_m = in_lo, in_hi, out_m
        self.S2 = [np.ascontiguousarray(s * s) for s in read_noise_std(wmax, model)] if self.noise else None

    def without_noise(self) -> "DeviceHooks":
        h = object.__new__(DeviceHooks)
        h.__dict__.update(self.__dict__)
        h.noise, h.S2 = False, None
        return h

    def layer_input(self, l: int, Y) -> None:
        """DAC: quantise the inputs of weight layer ``l`` (1-based)."""
        b = self.model.dac_bits
        if b:
            _quantize(Y, b, self.in_lo[l - 1], self.in_hi[l - 1])

    def layer_output(self, l: int, Z, Y, chips, inputs) -> None:
        """Read noise on the column sums, then the ADC."""
        if self.noise:
            KV.column_noise(Z, Y, self.S2[l - 1], np.arange(Z.shape[0], dtype=np.int64), self.key,
                            NOISE_SALT + l, chips, inputs)
        b = self.model.adc_bits
        if b:
            m = self.out_m[l - 1]
            _quantize(Z, b, -m, m)


def _quantize(a, bits, lo, hi):
    """In place: non-negative ranges get ``2^b - 1`` steps over ``[0, hi]``; signed ranges are
    symmetric about 0 with ``2^(b-1) - 1`` steps per side (0 is a level in both cases)."""
    if hi <= lo:
        return
    if lo >= 0.0:
        lo, step = 0.0, hi / ((1 << bits) - 1)
    else:
        m = max(-lo, hi)
        lo, hi, step = -m, m, m / ((1 << (bits - 1)) - 1)
    np.clip(a, lo, hi, out=a)
    a /= step
    np.rint(a, out=a)
    a *= step


def resolve_devices(target, devices) -> DeviceModel | None:
    """``devices``: None/False (ideal), True (the mapping's profile ``[device]`` table), a dict or a DeviceModel."""
    if devices is None or devices is False:
        return None
    net = target.qnet if isinstance(target, ChipMapping) else target
    if not net.is_dense:
        raise ConfigError(f"'devices' (device non-idealities) is simulated for dense layers only; network "
                          f"{net.name!r} has conv or wiring layers ({', '.join(sorted({la.op.kind for la in net.layers}))}); "
                          "drop devices/--devices or use a dense network.")
    if devices is True:
        if not isinstance(target, ChipMapping):
            raise ConfigError("devices=True uses the profile's [device] table and needs a mapping; pass "
                              "neurosim.map_network(net, profile) (--profile on the command line) or a device dict.")
        m = device_model(target.profile.device, f"'{target.profile.name}'")
        if not m.any:
            raise ConfigError(f"Profile '{target.profile.name}' has no [device] non-idealities; add a [device] table "
                              "(docs/profiles.md) or drop devices/--devices.")
        return m
    return device_model(devices, "<devices>")


def route_devices(engine_simulate, target, x, faults, n_chips, seed, devices, age, **kw):
    """:func:`simulate_with_devices` when ``devices`` asks for device effects, else None (``age`` refused then)."""
    model = resolve_devices(target, devices)
    if model is None:
        if age is not None:
            raise ConfigError("'age' (drift time) needs device non-idealities: pass devices=True (--devices) with a "
                              "profile whose [device] table has drift.")
        return None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    return simulate_with_devices(engine_simulate, target, x, faults, n_chips, seed, model, age, **kw)


def simulate_with_devices(engine_simulate, target, x, faults, n_chips, entropy, model: DeviceModel, age, **kw):
    """Run the engine chip by chip with device effects (see module docstring); returns a SimResult."""
    if isinstance(entropy, bool) or not isinstance(entropy, (int, np.integer)) or entropy < 0:
        raise ConfigError(f"'seed' must be a non-negative integer or None. Got {entropy!r}.")
    age_s = parse_age(age if age is not None else 0.0)
    if age is not None and float(age_s) > 0 and model.drift == "none":
        raise ConfigError("'age' only matters with drift; the device model has drift = 'none' (set device.drift).")
    net = target.qnet if isinstance(target, ChipMapping) else target
    x = net.check_inputs(x)
    wmax = full_scale(target)
    key = np.random.SeedSequence(entropy, spawn_key=(0xD5, 2)).generate_state(1, np.uint64)[0]
    hooks = DeviceHooks(model, net, x, wmax, key)
    ideal = engine_simulate(target, x, [], n_chips=1, seed=entropy, _hooks=hooks.without_noise(), **kw)
    clean = ideal.clean
    if not model.per_chip:
        r = engine_simulate(target, x, faults, n_chips=n_chips, seed=entropy, _hooks=hooks, **kw)
        r.config["devices"] = dataclasses.asdict(model) | {"age_s": age_s}
        return r
    first = int(kw.pop("first_chip", 0))
    from .._resources import check_memory, network_bytes, simulate_bytes

    # per-chip weights one chip at a time, but Δ, clean + Δ and the counts of every chip are stacked at the end
    check_memory(2 * simulate_bytes(net.sizes, x.shape[0], n_chips, len(faults) if isinstance(faults, (list, tuple)) else 1) + 2 * network_bytes(net.sizes),
                 f"simulate(devices=...) of {n_chips} chips x {x.shape[0]} inputs",
                 "use fewer chips, or run the chips in chunks with first_chip=")
    deltas, counts, events, res = [], [], [], None
    for c in range(first, first + n_chips):
        W = chip_weights(net.weights, wmax, model, entropy, c, age_s)
        qn = net.with_weights(W, name=net.name)
        tgt = dataclasses.replace(target, qnet=qn) if isinstance(target, ChipMapping) else qn
        res = engine_simulate(tgt, x, faults, n_chips=1, seed=entropy, _hooks=hooks, first_chip=c, **kw)
        deltas.append(res.clean + res.delta[0] - clean)
        counts.append(res.fault_counts[0])
        events.append(res.fault_events[0])
    out = dataclasses.replace(res, delta=np.stack(deltas), clean=clean, fault_counts=np.stack(counts),
                              fault_events=np.stack(events), config=dict(res.config))
    out.config.update(n_chips=n_chips, **({"first_chip": first} if first else {}), devices=dataclasses.asdict(model) | {"age_s": age_s})
    return out

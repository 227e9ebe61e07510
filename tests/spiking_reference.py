"""Plain-numpy forward-Euler reference of DESIGN.md's spiking semantics (independent of the engine).

Dense masks, one input at a time, no numba, the formulas written straight from
DESIGN.md "Semantics" (spiking paragraph):

    I_l[k] = W_l s_{l-1}[k - d_l] + b_l
    IF:      v += dt * r * I
    LIF:     v += dt / tau * (v_leak - v + r * I)
    CubaLIF: I_syn += dt / tau_syn * (-I_syn + w_in * I); then LIF with I_syn
    LI:      LIF without spikes;  I (integrator): IF without spikes
    z = v > v_threshold; reset v = v_reset (or v -= v_threshold)
"""
from __future__ import annotations

import numpy as np


def _p(v, n):
    return np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()


def reference_run(net, x, ticks, dead=None, saturated=None, dead_synapses=None, thr_scale=None,
                  leak_scale=None, dt_s=None, rate_spikes=None):
    """Outputs ``(n_inputs, n_out)`` and spike counts ``{layer: (n_inputs, n_l)}`` of a SpikingNetwork.

    ``dead`` / ``saturated``: ``{layer: bool mask (n_l,)}`` (layer 0 = inputs);
    ``dead_synapses``: ``{layer: bool mask of W_l's shape}``; ``thr_scale`` /
    ``leak_scale``: ``{layer: factor per neuron}``. ``rate_spikes``: optional
    ``(n_inputs, T, n_in)`` input spike trains replacing the constant current.
    """
    dt = net.dt_s if dt_s is None else dt_s
    dead, saturated = dead or {}, saturated or {}
    dead_synapses, thr_scale, leak_scale = dead_synapses or {}, thr_scale or {}, leak_scale or {}
    L = net.n_layers
    outs, counts = [], {l: [] for l in range(1, L + 1)}
    for b in range(x.shape[0]):
        Ws = [np.where(dead_synapses.get(l, np.zeros(lay.weight.shape, bool)), 0.0, lay.weight)
              for l, lay in enumerate(net.layers, start=1)]
        st = []
        for l, lay in enumerate(net.layers, start=1):
            m, n = lay.neuron, lay.weight.shape[0]
            rest = _p(getattr(m, "v_leak", 0.0), n) if m.kind in ("LIF", "CubaLIF", "LI") else (
                _p(m.v_reset, n) if m.kind == "IF" else np.zeros(n))
            st.append({"v": rest, "isyn": np.zeros(n), "ref": np.zeros(n, int), "hist": []})
        c = {l: np.zeros(net.sizes[l], int) for l in range(1, L + 1)}
        src_hist = {0: []}
        for k in range(ticks):
            s = x[b].copy() if rate_spikes is None else rate_spikes[b, k].astype(float)
            if 0 in saturated:
                s[saturated[0]] = 1.0
            if 0 in dead:
                s[dead[0]] = 0.0
            src_hist[0].append(s)
            for l, lay in enumerate(net.layers, start=1):
                m, n, d = lay.neuron, lay.weight.shape[0], lay.delay_ticks
                prev = src_hist[l - 1]
                inp = prev[k - d] if k - d >= 0 else np.zeros(net.sizes[l - 1])
                I = Ws[l - 1] @ inp + lay.bias
                S = st[l - 1]
                if m.kind == "CubaLIF":
                    S["isyn"] = S["isyn"] + dt / _p(m.tau_syn_s, n) * (-S["isyn"] + _p(m.w_in, n) * I)
                    I = S["isyn"]
                th = _p(getattr(m, "v_threshold", 0.0), n) * thr_scale.get(l, 1.0)
                v = S["v"]
                if m.kind in ("LIF", "LI", "CubaLIF"):
                    tau = _p(m.tau_mem_s if m.kind == "CubaLIF" else m.tau_s, n)
                    a = dt / tau * leak_scale.get(l, 1.0)
                    vn = v + a * (_p(m.v_leak, n) - v + _p(m.r, n) * I)
                else:
                    vn = v + dt * _p(m.r, n) * I
                ref = S["ref"]
                vn = np.where(ref > 0, v, vn)
                if m.kind in ("LI", "I"):
                    z = np.zeros(n)
                    if l in dead:
                        vn = np.where(dead[l], 0.0, vn)
                else:
                    fire = (vn > th) & (ref == 0)
                    reset = vn - th if m.reset == "subtract" else _p(m.v_reset, n)
                    vn = np.where(fire, reset, vn)
                    S["ref"] = np.where(fire, m.refractory_ticks, np.maximum(ref - 1, 0))
                    z = fire.astype(float)
                    if l in saturated:
                        z[saturated[l]] = 1.0
                    if l in dead:
                        z[dead[l]] = 0.0
                S["v"] = vn
                c[l] += z.astype(int)
                src_hist.setdefault(l, []).append(z)
        for l in c:
            counts[l].append(c[l])
        last = net.layers[-1].neuron
        outs.append(st[-1]["v"].copy() if last.kind in ("LI", "I") else c[L] / ticks)
    return np.array(outs), {l: np.array(v) for l, v in counts.items()}

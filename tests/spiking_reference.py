"""Plain-numpy forward-Euler reference of DESIGN.md's spiking semantics (independent of the engine).

Dense masks, one input at a time, no numba, the formulas written straight from
DESIGN.md "Semantics" (spiking paragraph):

    I_l[k] = W_l s_{l-1}[k - d_l] + b_l
    IF:      v += dt * r * I
    LIF:     v += dt / tau * (v_leak - v + r * I)
    CubaLIF: I_syn += dt / tau_syn * (-I_syn + w_in * I); then LIF with I_syn
    LI:      LIF without spikes;  I (integrator): IF without spikes
    z = v > v_threshold; reset v = v_reset (or v -= v_threshold)

A dead neuron cannot fire (and so does not reset); a saturated one emits a
spike every tick; a neuron both dead and saturated is silent.
"""
from __future__ import annotations

import numpy as np


def reference_run(net, x, ticks, dt_s=1e-3, dead=None, saturated=None, dead_synapses=None, thr_scale=None,
                  leak_scale=None, rate_spikes=None):
    """Outputs ``(n_inputs, n_out)`` and spike counts ``{layer: (n_inputs, n_l)}`` of a spiking Network.

    ``dead`` / ``saturated``: ``{layer: bool mask (n_l,)}`` (layer 0 = inputs);
    ``dead_synapses``: ``{layer: bool mask of the dense-equivalent W_l}``;
    ``thr_scale`` / ``leak_scale``: ``{layer: factor per neuron}``.
    ``rate_spikes``: optional ``(n_inputs, T, n_in)`` input spike trains
    replacing the constant current. Identity layers relay their current.
    """
    dt = dt_s
    dead, saturated = dead or {}, saturated or {}
    dead_synapses, thr_scale, leak_scale = dead_synapses or {}, thr_scale or {}, leak_scale or {}
    L = net.n_layers
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    outs, counts = [], {l: [] for l in range(1, L + 1)}
    for b in range(x.shape[0]):
        Ws = [np.where(dead_synapses.get(l, np.zeros(W.shape, bool)), 0.0, W)
              for l, W in enumerate(net.weights, start=1)]
        st = []
        for l, lay in enumerate(net.layers, start=1):
            m, n = lay.neuron, net.sizes[l]
            P = {k: np.broadcast_to(v, (n,)).astype(float) for k, v in m.params.items()}
            rest = P["v_leak"] if m.kind in ("LIF", "CubaLIF", "LI") else (P["v_reset"] if m.kind == "IF" else np.zeros(n))
            st.append({"v": rest.copy(), "isyn": np.zeros(n), "ref": np.zeros(n, int), "P": P})
        c = {l: np.zeros(net.sizes[l], int) for l in range(1, L + 1)}
        acc = np.zeros(net.sizes[L])
        hist = {0: []}
        for k in range(ticks):
            s = x[b].copy() if rate_spikes is None else rate_spikes[b, k].astype(float)
            if 0 in saturated:
                s[saturated[0]] = 1.0
            if 0 in dead:
                s[dead[0]] = 0.0
            hist[0].append(s)
            for l, lay in enumerate(net.layers, start=1):
                m, n = lay.neuron, net.sizes[l]
                d = int(m.params["delay_ticks"]) if "delay_ticks" in m.params else 0
                inp = hist[l - 1][k - d] if k - d >= 0 else np.zeros(net.sizes[l - 1])
                I = Ws[l - 1] @ inp + net.biases[l - 1]
                S, P = st[l - 1], st[l - 1]["P"]
                if m.kind == "identity":
                    z = I.copy()
                    if l in dead:
                        z[dead[l]] = 0.0
                    if l == L:
                        acc += z
                    hist[l] = hist.get(l, []) + [z]
                    continue
                if m.kind == "CubaLIF":
                    S["isyn"] = S["isyn"] + dt / P["tau_syn_s"] * (-S["isyn"] + P["w_in"] * I)
                    I = S["isyn"]
                th = P.get("v_threshold", np.zeros(n)) * thr_scale.get(l, 1.0)
                v = S["v"]
                if m.kind in ("LIF", "LI", "CubaLIF"):
                    tau = P["tau_mem_s"] if m.kind == "CubaLIF" else P["tau_s"]
                    a = dt / tau * leak_scale.get(l, 1.0)
                    vn = v + a * (P["v_leak"] - v + P["r"] * I)
                else:
                    vn = v + dt * P["r"] * I
                ref = S["ref"]
                vn = np.where(ref > 0, v, vn)
                if m.kind in ("LI", "I"):
                    z = np.zeros(n)
                    if l in dead:
                        vn = np.where(dead[l], 0.0, vn)
                else:
                    fire = (vn > th) & (ref == 0) & ~dead.get(l, np.zeros(n, bool))  # dead: no fire, no reset
                    reset = vn - th if P["reset_subtract"][0] else P["v_reset"]
                    vn = np.where(fire, reset, vn)
                    S["ref"] = np.where(fire, int(P["refractory_ticks"][0]), np.maximum(ref - 1, 0))
                    z = fire.astype(float)
                    if l in saturated:
                        z[saturated[l]] = 1.0
                    if l in dead:
                        z[dead[l]] = 0.0
                    if l == L:
                        acc += z
                S["v"] = vn
                c[l] += z.astype(int)
                hist[l] = hist.get(l, []) + [z]
        for l in c:
            counts[l].append(c[l])
        last = net.layers[-1].neuron
        outs.append(st[-1]["v"].copy() if last.kind in ("LI", "I") else acc / ticks)
    return np.array(outs), {l: np.array(v) for l, v in counts.items()}

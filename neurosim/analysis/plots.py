"""Figures (matplotlib, Agg backend): Δ histogram with bound overlays."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def compare_figure(delta, preds: dict, path, input_index=None, output_index=None, title=""):
    """Two panels: Δ histogram of one (input, output) with the Gaussians the
    signed predictions imply; predicted vs simulated std over all pairs."""
    plt = _plt()
    C, B, O = delta.shape
    sim_std = delta.std(0, ddof=1)
    if input_index is None or output_index is None:
        i, o = np.unravel_index(int(np.argmax(sim_std)), sim_std.shape)
        input_index = i if input_index is None else input_index
        output_index = o if output_index is None else output_index
    d = delta[:, input_index, output_index]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    ax1.hist(d, bins=min(60, max(10, C // 20)), density=True, color="0.75", edgecolor="0.5",
             label=f"simulated ({C} chips)")
    lo, hi = float(d.min()), float(d.max())
    span = hi - lo if hi > lo else 1.0
    grid = np.linspace(lo - 0.2 * span, hi + 0.2 * span, 400)
    colors = {"b3": "tab:blue", "b4": "tab:orange", "synapse": "tab:green", "b3+synapse": "tab:purple"}
    for name, b in preds.items():
        m = float(np.broadcast_to(b.mean, (B, O))[input_index, output_index])
        if b.std is not None and name not in ("b1", "b2"):
            s = float(np.broadcast_to(b.std, (B, O))[input_index, output_index])
            if s > 0:
                ax1.plot(grid, np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)),
                         color=colors.get(name, "k"), label=f"{name}: mean {m:.3g}, sd {s:.3g} (as N, a guide only)")
            ax1.axvline(m, color=colors.get(name, "k"), ls=":", lw=1)
        elif name == "b2":
            ax1.axvspan(-m, m, color="tab:red", alpha=0.08, label=f"b2: |EΔ| ≤ {m:.3g}")
    ax1.axvline(d.mean(), color="k", lw=1.2, label=f"simulated mean {d.mean():.3g}")
    ax1.set_xlabel(f"Δ of output {output_index} on input {input_index}")
    ax1.set_ylabel("density")
    ax1.legend(fontsize=8)
    ax1.set_title("output error distribution")
    for name, b in preds.items():
        if b.std is None:
            continue
        std = np.broadcast_to(b.std, (B, O))
        ax2.scatter(sim_std.ravel(), std.ravel(), s=6, alpha=0.5, color=colors.get(name, "tab:red"), label=name)
    top = max(float(sim_std.max()), 1e-12)
    ax2.plot([0, top], [0, top], color="k", lw=1, label="prediction = simulation")
    ax2.set_xlabel("simulated std of Δ (per input, output)")
    ax2.set_ylabel("predicted std of Δ")
    ax2.set_title("spread: prediction vs simulation")
    ax2.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return input_index, output_index

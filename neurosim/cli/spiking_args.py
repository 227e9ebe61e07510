"""Spiking-mode options shared by the commands (``--ticks``, ``--dt``, ``--encoding``, ``--delay-ticks``)."""
from __future__ import annotations

from ..errors import ConfigError

DEFAULT_TICKS = 100


def add_spiking_args(p):
    g = p.add_argument_group("spiking mode (networks with IF/LIF/CubaLIF/LI neurons)")
    g.add_argument("--ticks", type=int, default=None, help=f"time steps T per inference (default {DEFAULT_TICKS})")
    g.add_argument("--dt", type=float, default=None, dest="dt_s", help="step in seconds (default 1e-3)")
    g.add_argument("--encoding", choices=["current", "rate"], default=None,
                   help="inputs as a constant current (default) or Bernoulli rate-coded spikes")
    g.add_argument("--delay-ticks", type=int, default=None,
                   help="synaptic delay of every layer (0: same-tick chain; 1: Brian2/Loihi-style)")


def spiking_kwargs(args, net) -> dict:
    """Keyword arguments for ``simulate`` on a spiking ``net`` ({} for a rate network; spiking options refused there)."""
    from ..spiking.network import is_spiking

    given = {k: getattr(args, k, None) for k in ("ticks", "dt_s", "encoding", "delay_ticks")}
    if not is_spiking(net):
        used = [f"--{k.replace('_s', '').replace('_', '-')}" for k, v in given.items() if v is not None]
        if used:
            raise ConfigError(f"{', '.join(used)} apply to spiking networks; '{net.name}' is a rate network "
                              "(convert it first: neurosim convert MODEL -o snn.h5).")
        return {}
    kw = {"ticks": DEFAULT_TICKS if given["ticks"] is None else given["ticks"]}
    for k in ("dt_s", "encoding", "delay_ticks"):
        if given[k] is not None:
            kw[k] = given[k]
    return kw

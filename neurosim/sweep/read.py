"""Reading a sweep file: :class:`SweepData` (summaries, grid, inputs, networks) and raw Δ."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..faults.spec import FaultSpec
from .store import SWEEP_KIND, SWEEP_VERSION, verify_sweep


# ============================================================================ reading
@dataclass(frozen=True, eq=False)
class SweepData:
    """A sweep file in memory (summaries only; raw Δ via :func:`load_raw_delta`)."""

    path: str
    config: dict
    status: str
    profiles: tuple
    specs: tuple
    rates: np.ndarray
    point_profile: np.ndarray
    point_spec: np.ndarray
    point_rate_index: np.ndarray
    point_rate: np.ndarray
    point_seed: np.ndarray
    complete: np.ndarray
    summary: dict
    levels: np.ndarray
    confidence: float
    x: np.ndarray
    labels: np.ndarray | None
    networks: tuple
    """Per profile: the simulated network (the mapping's quantised network, or the float one)."""
    cleans: tuple
    devices: tuple = ()
    """Noise points (dicts of device-noise axis values; ``()``: ideal devices), :mod:`neurosim.sweep.noise`."""
    point_device: np.ndarray | None = None
    """Noise-point index of every point (zeros without device noise)."""

    @property
    def n_points(self) -> int:
        return int(self.complete.size)

    def fault_specs(self) -> tuple:
        return tuple(FaultSpec.from_dict({**d, "rate": 0.0}) for d in self.config["faults"])

    @property
    def n_noise(self) -> int:
        return max(1, len(self.devices))

    def select(self, profile: int, spec: int, device: int = 0) -> np.ndarray:
        """Indices of the complete points of (profile, noise point, spec), by ascending rate."""
        m = (self.point_profile == profile) & (self.point_spec == spec) & self.complete
        if self.point_device is not None:
            m &= self.point_device == device
        idx = np.flatnonzero(m)
        return idx[np.argsort(self.point_rate[idx], kind="stable")]


def load_sweep(path, verify: bool = True) -> SweepData:
    """Read a sweep file (complete or partial); ``verify``: check the checksums of every dataset but raw Δ first."""
    from ..io.h5util import damaged, open_for_read, read_json_attr
    from ..io.mapping_io import read_network_group

    if verify:
        verify_sweep(path, raw=False)
    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f, damaged(path, "sweep"):
        try:
            st = f.attrs["status"]
            status = st.decode() if isinstance(st, bytes) else str(st)
            dec = lambda a: [v.decode() if isinstance(v, bytes) else str(v) for v in a]  # noqa: E731
            sg = f["summary"]
            pts = f["points"]
            nets, cleans = [], []
            for k in sorted(f["targets"].keys()):
                g = f["targets"][k]
                kind = g.attrs["kind"]
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                nets.append(read_network_group(g["qnetwork"] if kind == "mapping" else g["network"]))
                cleans.append(np.array(g["clean"][()]))
            return SweepData(
                path=str(path), config=read_json_attr(f, "config"), status=status,
                profiles=tuple(p or None for p in dec(f["grid/profiles"][()])),
                specs=tuple(dec(f["grid/specs"][()])), rates=np.array(f["grid/rates"][()]),
                point_profile=np.array(pts["profile"][()]), point_spec=np.array(pts["spec"][()]),
                point_rate_index=np.array(pts["rate_index"][()]), point_rate=np.array(pts["rate"][()]),
                point_seed=np.array(pts["seed"][()]), complete=np.array(pts["complete"][()]),
                summary={k: np.array(sg[k][()]) for k in sg.keys()},
                levels=np.array(sg.attrs["quantile_levels"]), confidence=float(sg.attrs["confidence"]),
                x=np.array(f["inputs/x"][()]),
                labels=np.array(f["inputs/labels"][()]) if "labels" in f["inputs"] else None,
                networks=tuple(nets), cleans=tuple(cleans),
                devices=tuple(json.loads(d) for d in dec(f["grid/devices"][()])) if "devices" in f["grid"] else (),
                point_device=np.array(pts["device"][()]) if "device" in pts else np.zeros(pts["spec"].shape, np.int64),
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise FileFormatError(f"'{path}' is a damaged sweep file ({exc}); re-run the sweep.") from None


def load_raw_delta(path, index: int):
    """Raw Δ of point ``index`` of a complete sweep file -> ``(delta (K, n_out), row (K,))``.

    ``row = chip * n_inputs + input``; when every row is kept, ``delta`` reshapes
    to ``(n_chips, n_inputs, n_out)``.
    """
    from ..io.h5util import open_for_read

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f:
        if "raw" not in f:
            raise FileFormatError(f"'{path}' is a partial sweep: raw Δ is still in '{path}.parts/'; finish the sweep first.")
        n = f["raw/delta"].shape[0]
        if not 0 <= index < n:
            raise ConfigError(f"Point index must be in 0..{n - 1}. Got {index}.")
        return np.array(f["raw/delta"][index]), np.array(f["raw/row"][index])

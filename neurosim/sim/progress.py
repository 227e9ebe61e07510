"""Progress bars (tqdm on stderr), shared by the library's long runs and the CLI."""
from __future__ import annotations

import sys


def progress_bar(total, desc, enabled=None, initial=0):
    """A tqdm bar with ETA on stderr; hidden when stderr is not a terminal unless ``enabled``."""
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit="inf", unit_scale=True, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

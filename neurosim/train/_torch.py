"""Optional torch import with a one-line fix when it is missing."""
from __future__ import annotations

import sys

from ..errors import ConfigError

TORCH_SPEC = 'torch==2.13.0; python_version=="3.11"'


def require():
    """Return the torch module, or raise ConfigError saying how to install it."""
    try:
        import torch
    except ModuleNotFoundError:
        where = "" if sys.version_info[:2] == (3, 11) else f" (it is only provided for Python 3.11; this is {sys.version.split()[0]})"
        raise ConfigError("neurosim.train needs torch: pip install -e '.[train]' "
                          f"(installs {TORCH_SPEC}){where}.") from None
    return torch

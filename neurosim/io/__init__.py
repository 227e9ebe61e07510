"""File formats: native HDF5 (read/write), scikit-learn import, NIR (optional)."""
from .native import FORMAT_VERSION, load_bundled_data, load_network, save_network
from .sklearn_import import from_sklearn

__all__ = ["FORMAT_VERSION", "load_bundled_data", "load_network", "save_network", "from_sklearn"]

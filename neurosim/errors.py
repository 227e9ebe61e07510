"""Exception hierarchy.

Every error a user can cause is a :class:`NeurosimError`; each also subclasses
the builtin that fits, so ``except ValueError`` keeps working. Messages name the
parameter, the constraint, the value and the fix, on one line.
"""


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose."""


class ConfigError(NeurosimError, ValueError):
    """A parameter, profile or fault specification is invalid."""


class CapacityError(NeurosimError, ValueError):
    """The network does not fit on the chip described by the profile."""


class FileFormatError(NeurosimError, OSError):
    """A file is missing, unreadable, truncated or of a foreign format."""

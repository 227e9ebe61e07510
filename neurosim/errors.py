"""Exception hierarchy.

Every error a user can cause is a :class:`NeurosimError`; each also subclasses
the builtin that fits, so ``except ValueError`` keeps working. Messages name the
parameter, the constraint, the value and the fix, on one line.
"""


from __future__ import annotations


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose.

    ``parameter`` (the option or key at fault) and ``fix`` (what to do) are
    optional structured copies of what the message says; ``neurosim --json``
    prints them (and parses them out of the message when absent).
    """

    def __init__(self, *args, parameter: str | None = None, fix: str | None = None):
        super().__init__(*args)
        self.parameter = parameter
        self.fix = fix


class ConfigError(NeurosimError, ValueError):
    """A parameter, profile or fault specification is invalid."""


class CapacityError(NeurosimError, ValueError):
    """The network does not fit on the chip described by the profile."""


class FileFormatError(NeurosimError, OSError):
    """A file is missing, unreadable, truncated or of a foreign format."""

"""Helpers shared by the sweep tests: a file digest and an executor that is interrupted after k points."""
import hashlib
from pathlib import Path

from neurosim.sweep.executors import SerialExecutor


def digest(path) -> str:
    """sha256 of a file's bytes (equal digests: byte-identical files)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class InterruptAfter(SerialExecutor):
    """The in-process executor, raising KeyboardInterrupt (as Ctrl-C would) once ``k`` points are done."""

    def __init__(self, k: int):
        super().__init__()
        self.k = int(k)

    def run(self, fn, ctx, indices, on_rows=None):
        for n, item in enumerate(super().run(fn, ctx, indices, on_rows)):
            if n == self.k:
                raise KeyboardInterrupt
            yield item

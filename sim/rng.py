"""Named random streams spawned from the scenario seed.

Each component gets its own `numpy.random.Generator`, derived from the root seed and the
component's name (not from the order in which components ask), so that adding a stream
never shifts another and two scenarios with the same seed share shopper heterogeneity and
daily noise (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np


class Streams:
    """Factory of independent generators keyed by component name."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.root = np.random.SeedSequence(self.seed)

    def generator(self, name: str) -> np.random.Generator:
        """A generator for `name`; the same name always gives the same stream for a seed."""
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(key,))))

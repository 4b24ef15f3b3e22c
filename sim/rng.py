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

    def counter(self, name: str) -> CounterUniforms:
        """Counter-based uniforms for `name`, keyed by (shopper, day): see CounterUniforms."""
        key = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode("utf-8")),))
        return CounterUniforms(int(key.generate_state(1, np.uint64)[0]))


_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, SplitMix64's increment (Steele, Lea & Flood 2014)
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's finaliser constants


def _mix_int(x: int) -> int:
    """SplitMix64's finaliser on one Python integer (the key of a day)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on uint64 (one scratch array for the shifts)."""
    shifted = np.right_shift(x, np.uint64(30))
    x ^= shifted
    x *= np.uint64(_MIX1)
    x ^= np.right_shift(x, np.uint64(27), out=shifted)
    x *= np.uint64(_MIX2)
    x ^= np.right_shift(x, np.uint64(31), out=shifted)
    return x


class CounterUniforms:
    """Uniforms u(shopper, day) of one named stream, computed for any shoppers without drawing anyone else's.

    A counter-based generator (Salmon et al. 2011's idea; here SplitMix64, Steele, Lea & Flood 2014): the
    stream's key and the day give a day key; shopper i's number is SplitMix64's finaliser of day key +
    (i + 1) x its increment, i.e. draw i of a SplitMix64 sequence seeded by the day key. So a shopper's
    draw of a day is the same whoever else is drawn, in whichever order, in every scenario that shares the
    seed (common random numbers) - and a day costs only the draws it needs. The `_at` draws take a
    counter per shopper instead of the day (its purchase number: a shopper's k-th purchase meets the same
    draws in every scenario, whichever day it falls on).
    """

    def __init__(self, key: int) -> None:
        self.key = int(key) & _MASK

    def _bits(self, day: int, idx: np.ndarray) -> np.ndarray:
        day_key = np.uint64(_mix_int(self.key ^ ((int(day) * _GOLDEN) & _MASK)))
        x = np.asarray(idx).astype(np.uint64) + np.uint64(1)
        x *= np.uint64(_GOLDEN)
        x += day_key
        return _mix(x)

    def _bits_at(self, counter: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """This stream's bits of shoppers `idx` at their counters (_counter_bits)."""
        return _counter_bits(np.uint64(self.key), counter, idx)

    def uniform_at(self, counter: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """float32 uniforms in (0, 1) of shoppers `idx` at their own counters (aligned)."""
        return _uniform32(self._bits_at(counter, idx))

    def exponential_at(self, counter: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Exp(1) draws of shoppers `idx` at their own counters (aligned)."""
        return -np.log(_uniform64(self._bits_at(counter, idx)))

    def uniform(self, day: int, idx: np.ndarray) -> np.ndarray:
        """float32 uniforms in (0, 1), one per shopper in `idx` (24 bits, the resolution of the daily draws)."""
        return _uniform32(self._bits(day, idx))

    def exponential(self, day: int, idx: np.ndarray) -> np.ndarray:
        """Exp(1) waiting 'hazards' (float64, from 53-bit uniforms in (0, 1)), one per shopper in `idx`."""
        return -np.log(_uniform64(self._bits(day, idx)))


def _counter_bits(keys: np.ndarray, counter: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Like CounterUniforms._bits with a counter per shopper (e.g. its purchase number) instead of one day:
    the counter is mixed with the stream's key first, then the shopper. `keys` is one stream's key, or
    several as a column (streams x 1: a row of bits per stream)."""
    x = np.asarray(counter).astype(np.uint64) * np.uint64(_GOLDEN) + keys
    _mix(x)
    x += (np.asarray(idx).astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)
    return _mix(x)


def uniforms_at(streams: list[CounterUniforms], counter: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`uniform_at(counter, idx)` of several streams at once, one row per stream (float32, streams x shoppers):
    the same numbers, computed with one pass of each operation over all of them (a day's purchase draws are
    a few hundred shoppers, where the cost of each numpy call, not their number, decides)."""
    return _uniform32(_counter_bits(np.array([s.key for s in streams], dtype=np.uint64)[:, None], counter, idx))


_BELOW_ONE32 = np.nextafter(np.float32(1.0), np.float32(0.0))
_BELOW_ONE64 = np.nextafter(1.0, 0.0)


def _uniform32(bits: np.ndarray) -> np.ndarray:
    """The top 24 bits as a float32 in (0, 1): (k + 1/2) / 2^24, rounded to float32, and the one value that
    rounds up to 1 (k = 2^24 - 1) held just below it (at 1 an inverse-CDF draw could pick an option of
    weight 0)."""
    u = ((bits >> np.uint64(40)).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-24)
    return np.minimum(u, _BELOW_ONE32, out=u)


def _uniform64(bits: np.ndarray) -> np.ndarray:
    """The top 53 bits as a float64 in (0, 1) (the value that rounds up to 1 held just below it)."""
    u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return np.minimum(u, _BELOW_ONE64, out=u)

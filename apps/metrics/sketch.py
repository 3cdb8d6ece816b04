"""A mergeable quantile sketch with bounded relative error (log-spaced buckets, as in DDSketch).

A positive value x goes to key k = ceil(log_gamma(x)), the bucket (gamma^(k-1), gamma^k], whose
representative 2 gamma^k / (gamma + 1) is within ALPHA of every value in it; negative values use
the same keys on -x; zeros are counted apart. Sketches merge by adding counts per key, so minute
rollups merge into hours and hours into days with no loss beyond the bucket width.

Each bucket has one int32 code ordering buckets by value: 0 for zeros, OFFSET + k for positive
values, -(OFFSET + k) for negative ones (|k| stays below 75,000 for every finite double). A sketch
is a list of (code, count) pairs sorted by code; stored, it is those pairs packed little-endian
(PAIR, 12 bytes each) in a bytea.

A quantile is read like the raw percentile (linear interpolation between the two order statistics
around rank q * (n - 1)), using the representatives of their buckets. Each representative is within
ALPHA (0.5%) of the true order statistic, so for values of one sign the interpolated answer is
within ALPHA of the exact one; the stated bound is 1%. Between a negative and a positive value
(a percentile near zero) the relative error is not bounded.
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.005
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
OFFSET = 1 << 18
PAIR = np.dtype([("code", "<i4"), ("count", "<i8")])


def codes(values: np.ndarray) -> np.ndarray:
    """The bucket code of each value."""
    with np.errstate(divide="ignore"):
        keys = np.ceil(np.log(np.abs(values)) / LN_GAMMA)
    keys = np.where(values == 0, 0, keys).astype(np.int32)
    return np.where(values > 0, OFFSET + keys, np.where(values < 0, -(OFFSET + keys), 0)).astype(np.int32)


def representatives(code: np.ndarray) -> np.ndarray:
    """The value standing for each bucket code."""
    magnitude = np.abs(code).astype(np.float64) - OFFSET
    return np.sign(code) * (2 * GAMMA ** magnitude / (GAMMA + 1))


def quantiles(owner: np.ndarray, code: np.ndarray, count: np.ndarray, sketches: int, q: float) -> np.ndarray:
    """The q-quantile of each of `sketches` sketches given as pairs sorted by (owner, code); NaN
    for an empty sketch."""
    if not len(code):
        return np.full(sketches, np.nan)
    sizes = np.bincount(owner, weights=count, minlength=sketches).astype(np.int64)
    ends = np.cumsum(count)
    offsets = np.cumsum(sizes) - sizes
    position = q * (sizes - 1)
    low, high = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
    last = len(code) - 1
    at_low = representatives(code[np.minimum(np.searchsorted(ends, offsets + low, side="right"), last)])
    at_high = representatives(code[np.minimum(np.searchsorted(ends, offsets + high, side="right"), last)])
    return np.where(sizes > 0, at_low + (at_high - at_low) * (position - low), np.nan)

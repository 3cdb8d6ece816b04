"""A mergeable quantile sketch with bounded relative error (log-spaced buckets, as in DDSketch).

A positive value x goes to key k = ceil(log_gamma(x)), the bucket (gamma^(k-1), gamma^k], whose
representative 2 gamma^k / (gamma + 1) is within ALPHA of every value in it; negative values use
the same keys on -x; zeros are counted apart. Sketches merge by adding counts per key, so minute
rollups merge into hours and hours into days with no loss beyond the bucket width.

A quantile is read like the raw percentile (linear interpolation between the two order statistics
around rank q * (n - 1)), using the representatives of their buckets. Each representative is within
ALPHA (0.5%) of the true order statistic, so for values of one sign the interpolated answer is
within ALPHA of the exact one; the stated bound is 1%. Between a negative and a positive value
(a percentile near zero) the relative error is not bounded.

The keys are computed in SQL (apps/metrics/queries/rollup.py) with KEY_SQL.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate

ALPHA = 0.005
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
# The key of a value's magnitude, in SQL; `%(ln_gamma)s` is bound to LN_GAMMA.
KEY_SQL = "ceil(ln(abs({value})) / %(ln_gamma)s)::int"


def representative(key: int) -> float:
    return 2 * GAMMA ** key / (GAMMA + 1)


class Sketch:
    __slots__ = ("positive", "negative", "zeros")

    def __init__(self) -> None:
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0

    def add_counts(self, pos_keys: list[int], pos_counts: list[int], neg_keys: list[int], neg_counts: list[int],
                   zeros: int) -> None:
        for key, count in zip(pos_keys, pos_counts):
            self.positive[key] = self.positive.get(key, 0) + count
        for key, count in zip(neg_keys, neg_counts):
            self.negative[key] = self.negative.get(key, 0) + count
        self.zeros += zeros

    @property
    def count(self) -> int:
        return sum(self.positive.values()) + sum(self.negative.values()) + self.zeros

    def quantile(self, q: float) -> float | None:
        # Values in ascending order: negatives by decreasing magnitude, zeros, positives.
        values = [-representative(k) for k in sorted(self.negative, reverse=True)] + [0.0] + \
                 [representative(k) for k in sorted(self.positive)]
        counts = [self.negative[k] for k in sorted(self.negative, reverse=True)] + [self.zeros] + \
                 [self.positive[k] for k in sorted(self.positive)]
        n = sum(counts)
        if n == 0:
            return None
        ends = list(accumulate(counts))  # rank i (0-based) is in the first bucket with end > i

        def at(rank: int) -> float:
            return values[bisect_right(ends, rank)]

        position = q * (n - 1)
        low, high = math.floor(position), math.ceil(position)
        return at(low) + (at(high) - at(low)) * (position - low)

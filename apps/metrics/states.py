"""Summaries of metric values ("states"), many at once in numpy arrays: what rollups store and what
aggregations over rollups merge (DESIGN §6).

A state holds count, sum, min, max, the last value (latest timestamp, ties: the highest id, which
is the last stored) with its timestamp and id, and a sketch (apps/metrics/sketch.py). States merge
exactly: counts and sums add, extremes and the last value compare, sketches add counts per code.
Timestamps are int64 microseconds since 2000-01-01 UTC, PostgreSQL's own binary form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from apps.metrics import sketch

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
# Sketch entries sort by (state, code) as one int64: the state above, the biased code below.
_CODE_BITS = 20
_CODE_BIAS = 1 << 19
_MAX_KEY = 1 << (63 - _CODE_BITS)


def micros(moment: datetime) -> int:
    return (moment - PG_EPOCH) // timedelta(microseconds=1)


def moment(value: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=int(value))


@dataclass
class States:
    count: np.ndarray  # int64
    sum: np.ndarray  # float64
    min: np.ndarray
    max: np.ndarray
    last_ts: np.ndarray  # int64 microseconds
    last_id: np.ndarray  # int64
    last_value: np.ndarray  # float64
    owner: np.ndarray  # per sketch entry: the index of its state; entries sorted by (owner, code)
    code: np.ndarray  # int32
    weight: np.ndarray  # int64
    # Whether every state is one value with its one sketch entry (then one sort folds both).
    single: bool = False

    def __len__(self) -> int:
        return len(self.count)

    @classmethod
    def of_values(cls, ts: np.ndarray, ids: np.ndarray, values: np.ndarray) -> States:
        n = len(values)
        return cls(count=np.ones(n, dtype=np.int64), sum=values, min=values, max=values, last_ts=ts, last_id=ids,
                   last_value=values, owner=np.arange(n, dtype=np.int64), code=sketch.codes(values),
                   weight=np.ones(n, dtype=np.int64), single=True)

    @classmethod
    def empty(cls) -> States:
        return cls.of_values(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def concat(cls, parts: list[States]) -> States:
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        shifts = np.cumsum([0] + [len(part) for part in parts[:-1]])
        joined = {name: np.concatenate([getattr(part, name) for part in parts])
                  for name in ("count", "sum", "min", "max", "last_ts", "last_id", "last_value", "code", "weight")}
        owner = np.concatenate([part.owner + shift for part, shift in zip(parts, shifts)])
        return cls(owner=owner, single=all(part.single for part in parts), **joined)

    def take(self, mask: np.ndarray) -> States:
        """The states where `mask` holds, with their sketch entries."""
        index = np.flatnonzero(mask)
        renumber = np.full(len(self), -1, dtype=np.int64)
        renumber[index] = np.arange(len(index))
        kept = renumber[self.owner] >= 0
        return States(count=self.count[index], sum=self.sum[index], min=self.min[index], max=self.max[index],
                      last_ts=self.last_ts[index], last_id=self.last_id[index], last_value=self.last_value[index],
                      owner=renumber[self.owner[kept]], code=self.code[kept], weight=self.weight[kept],
                      single=self.single)

    def fold(self, key: np.ndarray) -> tuple[np.ndarray, States]:
        """Merge the states with equal `key` (non-negative int64, below 2^43). Returns, per merged
        state (in ascending key order), the index of one state it merged, and the merged states."""
        if not len(self):
            return key[:0], self
        if key.min() < 0 or key.max() >= _MAX_KEY:
            raise ValueError("fold keys must lie in [0, 2^43)")
        if self.single:  # one sort by (key, code) orders the states and their entries alike
            order = np.argsort((key << _CODE_BITS) | (self.code.astype(np.int64) + _CODE_BIAS), kind="stable")
        else:
            order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        group = np.repeat(np.arange(len(starts), dtype=np.int64), sizes)  # per position in `order`
        last_ts = self.last_ts[order]
        latest = np.maximum.reduceat(last_ts, starts)
        at_latest = last_ts == latest[group]
        last_id = np.where(at_latest, self.last_id[order], np.iinfo(np.int64).min)
        highest = np.maximum.reduceat(last_id, starts)
        candidates = np.flatnonzero(at_latest & (last_id == highest[group]))  # one per group, ids being unique
        candidates = candidates[np.r_[True, group[candidates][1:] != group[candidates][:-1]]]
        pick = order[candidates]
        merged_count = np.add.reduceat(self.count[order], starts)
        merged_sum = np.add.reduceat(self.sum[order], starts)
        merged_min = np.minimum.reduceat(self.min[order], starts)
        merged_max = np.maximum.reduceat(self.max[order], starts)

        group_of_state = np.empty(len(self), dtype=np.int64)
        group_of_state[order] = group
        entries = (group_of_state[self.owner] << _CODE_BITS) | (self.code.astype(np.int64) + _CODE_BIAS)
        weight = self.weight
        if self.single:
            entries, weight = entries[order], weight[order]
        else:
            entry_order = np.argsort(entries, kind="stable")
            entries, weight = entries[entry_order], weight[entry_order]
        firsts = np.flatnonzero(np.r_[True, entries[1:] != entries[:-1]])
        distinct = entries[firsts]
        merged = States(count=merged_count, sum=merged_sum, min=merged_min, max=merged_max,
                        last_ts=latest, last_id=highest, last_value=self.last_value[pick],
                        owner=distinct >> _CODE_BITS,
                        code=((distinct & ((1 << _CODE_BITS) - 1)) - _CODE_BIAS).astype(np.int32),
                        weight=np.add.reduceat(weight, firsts) if len(weight) else weight)
        return order[starts], merged

    def quantiles(self, q: float) -> np.ndarray:
        return sketch.quantiles(self.owner, self.code, self.weight, len(self), q)

    def sketch_sizes(self) -> np.ndarray:
        return np.bincount(self.owner, minlength=len(self))

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> States:
        """States from rollup rows fetched as (count, sum, min, max, last_ts microseconds, last_id,
        last_value, sketch bytes)."""
        if not rows:
            return cls.empty()
        count, total, low, high, last_ts, last_id, last_value, sketches = zip(*rows)
        pairs = np.frombuffer(b"".join(sketches), dtype=sketch.PAIR)
        sizes = [len(data) // sketch.PAIR.itemsize for data in sketches]
        return cls(count=np.array(count, dtype=np.int64), sum=np.array(total, dtype=np.float64),
                   min=np.array(low, dtype=np.float64), max=np.array(high, dtype=np.float64),
                   last_ts=np.array(last_ts, dtype=np.int64), last_id=np.array(last_id, dtype=np.int64),
                   last_value=np.array(last_value, dtype=np.float64),
                   owner=np.repeat(np.arange(len(rows), dtype=np.int64), sizes),
                   code=pairs["code"].astype(np.int32), weight=pairs["count"].astype(np.int64))

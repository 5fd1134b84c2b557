"""Monotonic weight-of-evidence binning of one characteristic.

optbinning's ``OptimalBinning`` (a constraint-programming solver) finds the split points of
a numerical characteristic, or the groups of a categorical one; Xinyong keeps only those
and recomputes the counts itself, so a fitted characteristic is plain data that scores with
numpy alone and survives a JSON round trip.

Weight of evidence follows Siddiqi: ``WOE = ln(share of goods in the bin / share of bads in
the bin)``, so a higher WOE means lower risk. Every characteristic has a last bin,
"Missing", that takes missing values and categories not seen in training.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

Dtype = Literal["numerical", "categorical"]
Trend = Literal["ascending", "descending", "none"]

MISSING_LABEL = "Missing"


@dataclass(frozen=True)
class Bin:
    """One bin: what falls in it and how the training sample behaved there."""

    label: str
    count: int
    bad: int
    woe: float


@dataclass
class Characteristic:
    """A binned characteristic: numerical (split points) or categorical (groups)."""

    name: str
    dtype: Dtype
    bins: list[Bin]
    splits: list[float] = field(default_factory=list)
    """Numerical: bin ``i`` holds ``splits[i-1] <= x < splits[i]`` (open at both ends)."""
    groups: list[list[str]] = field(default_factory=list)
    """Categorical: the category keys of each bin, in bin order."""
    trend: Trend = "none"
    """Direction of the bad rate as the value rises (numerical only)."""

    @property
    def missing_index(self) -> int:
        return len(self.bins) - 1

    @property
    def information_value(self) -> float:
        total_bad = sum(b.bad for b in self.bins)
        total_good = sum(b.count - b.bad for b in self.bins)
        iv = 0.0
        for b in self.bins:
            if b.count == 0 or total_bad == 0 or total_good == 0:
                continue
            iv += ((b.count - b.bad) / total_good - b.bad / total_bad) * b.woe
        return iv

    def bin_indices(self, values: Any) -> npt.NDArray[np.int64]:
        """The bin of each value; missing and unseen values go to the last bin."""
        series = pd.Series(values).reset_index(drop=True)
        missing = series.isna().to_numpy()
        if self.dtype == "numerical":
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            missing = missing | np.isnan(numbers)
            found = np.searchsorted(
                np.asarray(self.splits, dtype=float), np.nan_to_num(numbers), side="right"
            )
            indices = found.astype(np.int64)
        else:
            lookup = {key: i for i, group in enumerate(self.groups) for key in group}
            keys = [category_key(v) for v in series.tolist()]
            indices = np.array(
                [lookup.get(k, self.missing_index) for k in keys], dtype=np.int64
            ).reshape(len(keys))
        indices[missing] = self.missing_index
        return np.asarray(indices, dtype=np.int64)

    def woe(self, values: Any) -> npt.NDArray[np.float64]:
        table = np.array([b.woe for b in self.bins], dtype=float)
        return table[self.bin_indices(values)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "trend": self.trend,
            "splits": list(self.splits),
            "groups": [list(g) for g in self.groups],
            "bins": [
                {"label": b.label, "count": b.count, "bad": b.bad, "woe": b.woe} for b in self.bins
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Characteristic:
        return cls(
            name=str(data["name"]),
            dtype=data["dtype"],
            trend=data["trend"],
            splits=[float(s) for s in data["splits"]],
            groups=[[str(k) for k in g] for g in data["groups"]],
            bins=[
                Bin(str(b["label"]), int(b["count"]), int(b["bad"]), float(b["woe"]))
                for b in data["bins"]
            ],
        )


def category_key(value: Any) -> str:
    """A category as a string key; ``3``, ``3.0`` and ``"3"`` are the same category."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _woe(good: int, bad: int, total_good: int, total_bad: int) -> float:
    if good + bad == 0:
        return 0.0  # an empty bin (e.g. no missing values in training) is neutral
    if good == 0 or bad == 0:  # pure bins are kept finite by adding a half to both counts
        return math.log(((good + 0.5) / total_good) / ((bad + 0.5) / total_bad))
    return math.log((good / total_good) / (bad / total_bad))


def _numeric_label(low: float, high: float) -> str:
    return f"[{low:g}, {high:g})"


def fit_characteristic(
    name: str,
    values: Any,
    y: npt.NDArray[np.int64],
    *,
    dtype: Dtype,
    monotonic_trend: str = "auto_asc_desc",
    max_n_bins: int | None = None,
    min_bin_size: float | None = None,
) -> Characteristic:
    """Find monotonic bins for one characteristic against ``y`` (1 = bad)."""
    from optbinning import OptimalBinning  # type: ignore[import-untyped]

    series = pd.Series(values).reset_index(drop=True)
    options: dict[str, Any] = {
        "name": name,
        "dtype": dtype,
        # Every regular bin holds goods and bads, so its WOE is finite and in trend order.
        "min_bin_n_event": 1,
        "min_bin_n_nonevent": 1,
        "max_n_bins": max_n_bins,
        "min_bin_size": min_bin_size,
    }
    if dtype == "numerical":
        options["monotonic_trend"] = monotonic_trend
        data = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    else:
        data = np.array([None if pd.isna(v) else category_key(v) for v in series], dtype=object)
    optimal = OptimalBinning(**options)
    optimal.fit(data, y)

    if dtype == "numerical":
        splits = [float(s) for s in optimal.splits]
        edges = [-math.inf, *splits, math.inf]
        labels = [_numeric_label(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
        characteristic = Characteristic(name, dtype, [], splits=splits)
    else:
        groups = [sorted(category_key(v) for v in group) for group in optimal.splits]
        labels = [", ".join(g) for g in groups]
        characteristic = Characteristic(name, dtype, [], groups=groups)
    labels.append(MISSING_LABEL)

    placeholder = [Bin(label, 0, 0, 0.0) for label in labels]
    characteristic.bins = placeholder
    indices = characteristic.bin_indices(series)
    counts = np.bincount(indices, minlength=len(labels))
    bads = np.bincount(indices, weights=y.astype(float), minlength=len(labels)).astype(int)
    total_bad = int(y.sum())
    total_good = len(y) - total_bad
    characteristic.bins = [
        Bin(
            label,
            int(counts[i]),
            int(bads[i]),
            _woe(int(counts[i] - bads[i]), int(bads[i]), total_good, total_bad),
        )
        for i, label in enumerate(labels)
    ]
    if dtype == "numerical":
        characteristic.trend = _trend(characteristic.bins[:-1])
    return characteristic


def _trend(bins: list[Bin]) -> Trend:
    rates = [b.bad / b.count for b in bins if b.count]
    if len(rates) < 2:
        return "none"
    if all(a <= b for a, b in itertools.pairwise(rates)):
        return "ascending"
    if all(a >= b for a, b in itertools.pairwise(rates)):
        return "descending"
    return "none"

"""Small statistics for the benchmark: percentiles, summaries and a least-squares line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) with linear interpolation between order statistics.

    `values` must already be sorted; NaN for no values, so a missing figure stays visible.
    """
    if not values:
        return math.nan
    if len(values) == 1:
        return float(values[0])
    position = fraction * (len(values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    weight = position - below
    return float(values[below] * (1 - weight) + values[above] * weight)


def summarise(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """count, mean, p50, p90, p99 and max of `values`, each multiplied by `scale`."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, **dict.fromkeys(("mean", "p50", "p90", "p99", "max"), math.nan)}
    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered) * scale,
        "p50": percentile(ordered, 0.50) * scale,
        "p90": percentile(ordered, 0.90) * scale,
        "p99": percentile(ordered, 0.99) * scale,
        "max": ordered[-1] * scale,
    }


@dataclass(frozen=True, slots=True)
class Line:
    intercept: float
    slope: float
    r_squared: float


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Line:
    """Ordinary least squares y = intercept + slope * x."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a line needs at least two points")
    count = len(xs)
    mean_x = sum(xs) / count
    mean_y = sum(ys) / count
    spread_x = sum((x - mean_x) ** 2 for x in xs)
    if spread_x == 0:
        raise ValueError("a line needs two different x values")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread_x
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r_squared = 1.0 - residual / total if total > 0 else 1.0
    return Line(intercept, slope, r_squared)

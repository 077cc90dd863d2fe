"""The one plot, added TTFT against concurrency, as a small hand-written SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 36, 48
SERIES_COLOURS = {"p50": "#1f77b4", "p99": "#d62728"}


# The y axis is logarithmic (a 1 ms target and a 500 ms spike on one plot); an added
# time at or below the floor (it can even be negative) is drawn on the floor.
FLOOR_MS = 0.1


def decades(values: Sequence[float]) -> tuple[int, int]:
    """The powers of ten spanning FLOOR_MS and the largest value."""
    low = math.floor(math.log10(FLOOR_MS))
    high = math.ceil(math.log10(max([*values, 10 * FLOOR_MS])))
    return low, max(high, low + 1)


def added_ttft_svg(
    concurrency: Sequence[int],
    p50: Sequence[float],
    p99: Sequence[float],
    *,
    targets: Sequence[tuple[int, float, str]] = (),
    subtitle: str = "",
) -> str:
    """Lines for p50 and p99, both axes logarithmic; targets drawn as open diamonds."""
    values = [v for v in (*p50, *p99) if math.isfinite(v)] + [t[1] for t in targets]
    bottom, top = decades(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    low, high = math.log10(min(concurrency)), math.log10(max(concurrency))
    span = high - low or 1.0

    def x_at(level: float) -> float:
        return LEFT + (math.log10(level) - low) / span * plot_w

    def y_at(value: float) -> float:
        exponent = math.log10(max(value, FLOOR_MS))
        return TOP + (top - exponent) / (top - bottom) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">'
        "Added time to first token (relay minus direct)</text>",
    ]
    if subtitle:
        parts.append(
            f'<text x="{WIDTH - 10}" y="{HEIGHT - 10}" text-anchor="end" fill="#555"'
            f' font-size="10">{escape(subtitle)}</text>'
        )
    for exponent in range(bottom, top + 1):
        value = 10.0**exponent
        y = y_at(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for level in concurrency:
        x = x_at(level)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{level}</text>'
        )
    parts += [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"'
        ' stroke="#888"/>',
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
        "concurrent streams (log scale)</text>",
        f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)"'
        ' text-anchor="middle">added TTFT, ms (log scale)</text>',
    ]
    legend_y = TOP + 8
    for name, series in (("p50", p50), ("p99", p99)):
        colour = SERIES_COLOURS[name]
        points = [
            (x_at(level), y_at(value))
            for level, value in zip(concurrency, series, strict=True)
            if math.isfinite(value)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>' for x, y in points]
        lx = LEFT + plot_w + 16
        parts.append(
            f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 22}" y2="{legend_y}"'
            f' stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{lx + 28}" y="{legend_y + 4}">{name}</text>')
        legend_y += 20
    for level, value, label in targets:
        x, y = x_at(level), y_at(value)
        parts.append(
            f'<path d="M{x:.1f},{y - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="none"'
            ' stroke="#2ca02c" stroke-width="2"/>'
        )
        parts.append(f'<text x="{x + 9:.1f}" y="{y - 6:.1f}" fill="#2ca02c">{escape(label)}</text>')
    lx = LEFT + plot_w + 16
    parts.append(
        f'<path d="M{lx + 11},{legend_y - 6} l6,6 l-6,6 l-6,-6 z" fill="none"'
        ' stroke="#2ca02c" stroke-width="2"/>'
    )
    parts.append(f'<text x="{lx + 28}" y="{legend_y + 4}">target</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched from elsewhere.

Each function returns markup safe to put in a template; every label is escaped. The
numbers behind a chart are always shown in a table beside it, so the SVG carries only a
short text alternative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 560
HEIGHT = 240
LEFT = 56  # room for the y-axis numbers
RIGHT = 12
TOP = 28  # room for the legend
BOTTOM = 36  # room for the x-axis labels
MAX_X_LABELS = 12

# Colour-blind-friendly (Okabe-Ito), cycled for series without a colour of their own.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str = ""


def nice_ceiling(value: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above `value` (an axis maximum)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def axis_number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _open_svg(title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = LEFT
    for index, item in enumerate(series):
        colour = item.colour or PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="17" class="chart-legend">{escape(item.name)}</text>')
        x += 22 + 7 * len(item.name)
    return parts


def _y_axis(maximum: float, plot_height: int) -> list[str]:
    parts = []
    for tick in range(5):
        value = maximum * tick / 4
        y = TOP + plot_height - plot_height * tick / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="chart-grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-axis">'
            f"{axis_number(value)}</text>"
        )
    return parts


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> SafeString:
    """One bar per label, stacked from the series' values at that position."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    maximum = nice_ceiling(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(labels), 1)
    bar_width = max(1.0, slot * 0.75)
    label_every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    parts = _open_svg(title)
    parts += _y_axis(maximum, plot_height)
    parts += _legend(series)
    for index, label in enumerate(labels):
        x = LEFT + slot * index + (slot - bar_width) / 2
        base: float = TOP + plot_height
        for number, item in enumerate(series):
            value = item.values[index]
            if value <= 0:
                continue
            height = plot_height * value / maximum
            base -= height
            colour = item.colour or PALETTE[number % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_width:.1f}" '
                f'height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(label)} · {escape(item.name)}: {value:g}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_width / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle" class="chart-axis">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every label above is escaped


def grouped_bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> SafeString:
    """One group per label, one bar per series side by side (for unlike measures)."""
    maximum = nice_ceiling(max((v for s in series for v in s.values), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(labels), 1)
    bar_width = max(1.0, slot * 0.8 / max(len(series), 1))
    label_every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    parts = _open_svg(title)
    parts += _y_axis(maximum, plot_height)
    parts += _legend(series)
    for index, label in enumerate(labels):
        start = LEFT + slot * index + slot * 0.1
        for number, item in enumerate(series):
            value = item.values[index]
            height = plot_height * value / maximum
            colour = item.colour or PALETTE[number % len(PALETTE)]
            parts.append(
                f'<rect x="{start + bar_width * number:.1f}" y="{TOP + plot_height - height:.1f}" '
                f'width="{bar_width:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(label)} · {escape(item.name)}: {value:g}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{start + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle" class="chart-axis">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every label above is escaped


def horizontal_bars(title: str, items: Sequence[tuple[str, float]], colour: str) -> SafeString:
    """One labelled bar per item, longest scale first as given."""
    row = 24
    label_width = 150
    height = TOP + row * max(len(items), 1) + 8
    maximum = nice_ceiling(max((value for _label, value in items), default=0))
    plot_width = WIDTH - label_width - RIGHT - 40
    parts = _open_svg(title, height)
    if not items:
        parts.append(f'<text x="{LEFT}" y="{TOP + 14}" class="chart-axis">None</text>')
    for index, (label, value) in enumerate(items):
        y = TOP + row * index
        width = plot_width * value / maximum
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" class="chart-axis">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{max(width, 1):.1f}" height="{row - 8}" '
            f'fill="{colour}"><title>{escape(label)}: {value:g}</title></rect>'
        )
        parts.append(
            f'<text x="{label_width + width + 4:.1f}" y="{y + 15}" class="chart-axis">'
            f"{value:g}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every label above is escaped


def histogram(
    title: str,
    buckets: Sequence[tuple[str, int]],
    markers: Sequence[tuple[str, int]],
    colour: str,
) -> SafeString:
    """Bars per bucket, and vertical lines at the marked bucket indexes (percentiles)."""
    series = [Series("answers", [count for _label, count in buckets], colour)]
    chart = str(stacked_bars(title, [label for label, _count in buckets], series))
    slot = (WIDTH - LEFT - RIGHT) / max(len(buckets), 1)
    lines = []
    for offset, (name, bucket_index) in enumerate(markers):
        x = LEFT + slot * (bucket_index + 0.5)
        lines.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
            'class="chart-marker"/>'
            f'<text x="{x + 3:.1f}" y="{TOP + 10 + 11 * offset}" class="chart-marker-label">'
            f"{escape(name)}</text>"
        )
    return mark_safe(chart.replace("</svg>", "".join(lines) + "</svg>"))

"""Charts drawn on the server as inline SVG: no JavaScript library, nothing fetched at run time."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

PALETTE = ("#1f5fa8", "#b5451b", "#2e7d32", "#6a3d9a", "#8c6d00", "#00707a", "#a8326e")
"""Colours with at least 4.5:1 contrast on white (text in legends uses them too)."""


@dataclass
class Series:
    """One line of a line chart: a value (or a gap) per x label."""

    name: str
    values: list[float | None]
    marks: set[int] = field(default_factory=set)
    """Indexes drawn with a marker ring (a spike, a resolution)."""
    band: list[tuple[float, float] | None] = field(default_factory=list)
    """Per value, its 95 % confidence interval (low, high), drawn as a shaded band."""


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high == low:
        return [low]
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_min: float | None = None,
    y_max: float | None = None,
    unit: str = "",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """A line chart with a y axis, x labels, a legend, and gaps where a value is missing."""
    values = [v for s in series for v in s.values if v is not None]
    values += [v for s in series for pair in s.band if pair for v in pair]
    low = y_min if y_min is not None else min(values, default=0.0)
    high = y_max if y_max is not None else max(values, default=1.0)
    if high <= low:
        high = low + 1
    left, right, top, bottom = 44, 24, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels), 1)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _ticks(low, high):
        y = y_at(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(_fmt(tick) + unit)}</text>"
        )
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x_at(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="tick">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )

    def y_in(v: float) -> float:
        return y_at(min(high, max(low, v)))

    for k, line in enumerate(series):
        parts += _band_svg(line, PALETTE[k % len(PALETTE)], x_at, y_in)
    for k, line in enumerate(series):
        parts += _line_svg(line, PALETTE[k % len(PALETTE)], x_at, y_at, labels, unit)
    parts += _legend_svg(series, x=left, y=height)
    parts.append("</svg>")
    return Markup("".join(parts))


def contribution_bar(share: float, *, label: str, width: int = 120, height: int = 12) -> Markup:
    """A horizontal bar for one factor's share (0..1) of an issue's priority."""
    share = max(0.0, min(1.0, share))
    return Markup(
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="{height}" class="bar-back"/>'
        f'<rect width="{width * share:.1f}" height="{height}" class="bar-fill"/></svg>'
    )


def before_after(
    before: float | None, after: float | None, *, title: str, width: int = 360, height: int = 200
) -> Markup:
    """Two columns, the complaint rate before and after a resolution, labelled in percent."""
    top, bottom, left = 16, 36, 40
    plot_h = height - top - bottom
    parts = [
        f'<svg class="chart impact" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'class="axis"/>',
    ]
    column_w = (width - left - 10) / 5
    for i, (name, rate) in enumerate((("before", before), ("after", after))):
        x = left + column_w * (1 + 2 * i)
        if rate is None:
            parts.append(
                f'<text x="{x + column_w / 2:.1f}" y="{top + plot_h - 6}" text-anchor="middle" '
                f'class="tick">no data</text>'
            )
        else:
            bar_h = plot_h * rate
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{column_w:.1f}" '
                f'height="{bar_h:.1f}" class="{name}"/>'
                f'<text x="{x + column_w / 2:.1f}" y="{top + plot_h - bar_h - 4:.1f}" '
                f'text-anchor="middle" class="value">{100 * rate:.0f} %</text>'
            )
        parts.append(
            f'<text x="{x + column_w / 2:.1f}" y="{height - 14}" text-anchor="middle" '
            f'class="tick">{name}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _band_svg(
    line: Series, colour: str, x_at: Callable[[int], float], y_at: Callable[[float], float]
) -> list[str]:
    """The series' confidence band: one shaded polygon per run of buckets that have one."""
    runs: list[list[tuple[int, tuple[float, float]]]] = [[]]
    for i in range(len(line.values)):
        pair = line.band[i] if i < len(line.band) else None
        if pair is None or line.values[i] is None:
            runs.append([])
        else:
            runs[-1].append((i, pair))
    parts = []
    for run in runs:
        if len(run) < 2:
            continue
        upper = [f"{x_at(i):.1f},{y_at(high):.1f}" for i, (_, high) in run]
        lower = [f"{x_at(i):.1f},{y_at(low):.1f}" for i, (low, _) in reversed(run)]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}" '
            'fill-opacity="0.15" stroke="none"/>'
        )
    return parts


def _line_svg(
    line: Series,
    colour: str,
    x_at: Callable[[int], float],
    y_at: Callable[[float], float],
    labels: Sequence[str],
    unit: str,
) -> list[str]:
    """One series: polylines between gaps, then a point per value (a ring where marked)."""
    parts: list[str] = []
    segments: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(line.values):
        if value is None:
            segments.append([])
            continue
        segments[-1].append((x_at(i), y_at(value)))
    for points in segments:
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    for i, value in enumerate(line.values):
        if value is None:
            continue
        radius = 6 if i in line.marks else 2.5
        extra = ' class="mark" fill="none" stroke-width="2"' if i in line.marks else ""
        fill = "" if i in line.marks else f' fill="{colour}"'
        pair = line.band[i] if i < len(line.band) else None
        interval = (
            f" (95 % interval {_fmt(pair[0])} to {_fmt(pair[1])}{unit})" if pair is not None else ""
        )
        parts.append(
            f'<circle cx="{x_at(i):.1f}" cy="{y_at(value):.1f}" r="{radius}"'
            f' stroke="{colour}"{fill}{extra}>'
            f"<title>{escape(line.name)} {escape(labels[i])}: {escape(_fmt(value))}"
            f"{escape(unit)}{escape(interval)}{' (spike)' if i in line.marks else ''}"
            "</title></circle>"
        )
    return parts


def _legend_svg(series: Sequence[Series], *, x: int, y: int) -> list[str]:
    """A colour box and name per series, left to right along the bottom edge."""
    parts = []
    for k, line in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{y - 18}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y - 9}" class="legend" fill="{colour}">'
            f"{escape(line.name)}</text>"
        )
        x += 24 + 7 * len(line.name)
    return parts

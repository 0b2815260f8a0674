"""Charts drawn on the server as SVG (WeasyPrint runs no JavaScript): the DAU trend with its forecast band, and
daily bars. Each chart has a text alternative; the tables beside it in the report hold the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Final

__all__ = ["bars_svg", "trend_svg"]

_W: Final = 640
_H: Final = 200
_PAD: Final = 32
_INK: Final = "#1f2937"
_LINE: Final = "#2563eb"
_BAND: Final = "#bfdbfe"
_GRID: Final = "#e5e7eb"


def trend_svg(dau: Sequence[tuple[date, int]], forecast: Sequence[tuple[date, float, float, float]], title: str) -> str:
    """A line of daily active people and, after it, the forecast's expected line inside its band."""
    if not dau:
        return ""
    days = [d for d, _ in dau] + [d for d, *_ in forecast]
    top = max([v for _, v in dau] + [h for *_, h in forecast] + [1])
    first = days[0]
    span = max((days[-1] - first).days, 1)
    inner_w, inner_h = _W - 2 * _PAD, _H - 2 * _PAD

    def x(day: date) -> float:
        return _PAD + inner_w * (day - first).days / span

    def y(value: float) -> float:
        return _PAD + inner_h * (1 - value / top)

    parts = [_frame(title, top)]
    if forecast:
        upper = " ".join(f"{x(d):.1f},{y(h):.1f}" for d, _, _, h in forecast)
        lower = " ".join(f"{x(d):.1f},{y(lo):.1f}" for d, _, lo, _ in reversed(forecast))
        parts.append(f'<polygon points="{upper} {lower}" fill="{_BAND}" stroke="none"/>')
        expected = " ".join(f"{x(d):.1f},{y(e):.1f}" for d, e, _, _ in forecast)
        parts.append(f'<polyline points="{expected}" fill="none" stroke="{_LINE}" stroke-dasharray="4 3"/>')
    line = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in dau)
    parts.append(f'<polyline points="{line}" fill="none" stroke="{_LINE}" stroke-width="2"/>')
    parts.append(_label(_PAD, _H - 8, first.isoformat()))
    parts.append(_label(_W - _PAD, _H - 8, days[-1].isoformat(), anchor="end"))
    return _svg(title, "".join(parts))


def bars_svg(values: Sequence[tuple[date, int]], title: str) -> str:
    """One bar per day."""
    if not values:
        return ""
    top = max([v for _, v in values] + [1])
    inner_w, inner_h = _W - 2 * _PAD, _H - 2 * _PAD
    width = inner_w / len(values)
    bars = []
    for i, (_, v) in enumerate(values):
        h = inner_h * v / top
        bars.append(
            f'<rect x="{_PAD + i * width + 1:.1f}" y="{_PAD + inner_h - h:.1f}" width="{max(width - 2, 1):.1f}"'
            f' height="{h:.1f}" fill="{_LINE}"/>'
        )
    ends = _label(_PAD, _H - 8, values[0][0].isoformat()) + _label(
        _W - _PAD, _H - 8, values[-1][0].isoformat(), anchor="end"
    )
    return _svg(title, _frame(title, top) + "".join(bars) + ends)


def _frame(title: str, top: float) -> str:
    base = _H - _PAD
    return (
        f'<line x1="{_PAD}" y1="{base}" x2="{_W - _PAD}" y2="{base}" stroke="{_GRID}"/>'
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_W - _PAD}" y2="{_PAD}" stroke="{_GRID}"/>'
        + _label(_PAD, 20, escape(title))
        + _label(_W - _PAD, 20, f"max {top:.0f}", anchor="end")
    )


def _label(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return f'<text x="{x}" y="{y}" font-size="11" fill="{_INK}" text-anchor="{anchor}">{text}</text>'


def _svg(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}"'
        f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )

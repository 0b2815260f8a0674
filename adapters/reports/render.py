"""An executive report as an HTML e-mail and a PDF (WeasyPrint, with the system's pango; no browser).

The e-mail's CSS is inline (``style`` attributes on each element, tables for layout): what mail clients
keep. The PDF is the same document with the charts (inline SVG drawn by adapters.reports.charts); the
e-mail leaves the charts to the PDF, since most mail clients do not show SVG.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Any, Final

import weasyprint

from adapters.reports.charts import bars_svg, trend_svg
from application.reporting.executive import ReportContent, Tile

__all__ = ["WeasyRenderer", "number"]

_FONT: Final = "font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;color:#1f2937;"
_CELL: Final = "padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:right;font-size:13px;"
_HEAD: Final = "padding:4px 8px;border-bottom:2px solid #9ca3af;text-align:right;font-size:12px;color:#4b5563;"
_H2: Final = "font-size:16px;margin:24px 0 8px 0;"
_TILE: Final = "padding:10px;border:1px solid #e5e7eb;border-radius:6px;width:25%;vertical-align:top;"
_QUALITY: Final = ("completeness", "accuracy", "timeliness", "consistency")


def number(value: float | None, unit: str = "people") -> str:
    """As the report prints a figure: people whole, indices and percentages to one decimal."""
    if value is None:
        return "n/a"
    if unit == "people":
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{value:.1f}" + (" %" if unit == "percent" else "")


def _change(tile: Tile) -> str:
    if tile.value is None or tile.previous is None:
        return "no comparison"
    delta = tile.value - tile.previous
    if tile.unit == "people":
        if not tile.previous:
            return f"{delta:+.0f}"
        return f"{100 * delta / tile.previous:+.1f} %"
    return f"{delta:+.1f} {'pts' if tile.unit == 'index' else 'pp'}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p style="font-size:13px;color:#6b7280;">None in this period.</p>'
    head = "".join(f'<th style="{_HEAD}">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{escape(str(c))}</td>' for c in row) + "</tr>" for row in rows
    )
    return f'<table style="border-collapse:collapse;width:100%;"><tr>{head}</tr>{body}</table>'


def _tiles(content: ReportContent) -> str:
    cells = [
        f'<td style="{_TILE}"><div style="font-size:12px;color:#4b5563;">{escape(t.label)}</div>'
        f'<div style="font-size:22px;font-weight:bold;">{number(t.value, t.unit)}</div>'
        f'<div style="font-size:11px;color:#6b7280;">{escape(_change(t))} vs {escape(content.previous_period)}'
        f" ({number(t.previous, t.unit)})</div></td>"
        for t in content.tiles
    ]
    rows = ["<tr>" + "".join(cells[i : i + 4]) + "</tr>" for i in range(0, len(cells), 4)]
    return f'<table style="border-collapse:separate;border-spacing:6px;width:100%;">{"".join(rows)}</table>'


def _sections(content: ReportContent, *, charts: bool) -> str:
    c = content
    trend = trend_svg(c.dau, c.forecast, "Daily active people, with the 14-day forecast band") if charts else ""
    joins = bars_svg(c.wave_days, "Waves joined per day") if charts else ""
    indices = [
        [i["index"], i["people"], *(number(i[k], "index") for k in ("mean", "p25", "median", "p75"))] for i in c.indices
    ]
    cohorts = [[k["cohort"], k["size"], " ".join(str(n) for n in k["active_by_week"])] for k in c.cohorts]
    forecast = [[d.isoformat(), f"{e:.0f}", f"{lo:.0f}", f"{hi:.0f}"] for d, e, lo, hi in c.forecast[:7]]
    return "".join(
        [
            f'<h2 style="{_H2}">Daily active people</h2>{trend}',
            _table(["day", "expected", "low", "high"], forecast),
            f'<h2 style="{_H2}">Index distributions on {c.last.isoformat()}</h2>',
            _table(["index", "people", "mean", "p25", "median", "p75"], indices),
            f'<h2 style="{_H2}">Wave participation</h2>{joins}',
            _table(["figure", "total"], [[k, v] for k, v in c.waves.items()]),
            f'<h2 style="{_H2}">Retention cohorts ({escape(c.cohorts_week or "none")})</h2>',
            _table(["cohort", "size", "active by week since signup"], cohorts),
            f'<h2 style="{_H2}">Data quality ({c.quality_days} days checked)</h2>',
            _table(["dimension", "mean score"], [[d, number(c.quality.get(d), "index")] for d in _QUALITY]),
            f'<h2 style="{_H2}">Alerts that fired</h2>',
            _table(["alert", "at (UTC)"], [[a, _utc(at)] for a, at in c.alerts]),
            f'<h2 style="{_H2}">Metric anomalies</h2>',
            _table(
                ["day", "metric", "direction", "value", "expected", "band"],
                [
                    [a["date"], a["metric"], a["direction"], a["value"], a["expected"], f"{a['low']} to {a['high']}"]
                    for a in c.anomalies
                ],
            ),
        ]
    )


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def document(content: ReportContent, *, charts: bool) -> str:
    """The report as one HTML document, every style inline."""
    c = content
    span = f"{_day(c.first)} to {_day(c.last)} ({escape(c.zone)})"
    note = "" if charts else '<p style="font-size:12px;color:#6b7280;">The charts are in the attached PDF.</p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(c.title)} {escape(c.period)}</title></head>"
        f'<body style="margin:0;padding:16px;{_FONT}"><div style="max-width:680px;margin:0 auto;">'
        f'<h1 style="font-size:20px;margin:0 0 4px 0;">{escape(c.title)}: {escape(c.period)}</h1>'
        f'<p style="font-size:13px;color:#4b5563;margin:0 0 12px 0;">{span}. Aggregates only; values under the'
        " minimum group size are n/a.</p>"
        f"{note}{_tiles(c)}{_sections(c, charts=charts)}</div></body></html>"
    )


def _day(day: date) -> str:
    return day.isoformat()


class WeasyRenderer:
    """``ReportRenderer``: the e-mail (no charts) and the PDF (with them) of the same figures."""

    def render(self, content: object) -> tuple[str, str, bytes]:
        assert isinstance(content, ReportContent)
        subject = f"{content.title}: {content.period}"
        pdf = weasyprint.HTML(string=document(content, charts=True)).write_pdf()
        assert pdf is not None
        return subject, document(content, charts=False), pdf

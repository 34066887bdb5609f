"""Inline SVG bar charts (no script, no external asset); every label is escaped."""
from __future__ import annotations

from html import escape

from . import fmt

SERIES = (("extracted", "extracted", "#4e79a7"), ("final", "final", "#f28e2b"), ("in_cert", "in CERT", "#59a14f"))
STATUS_COLOURS = {"done": "#59a14f", "failed": "#e15759", "running": "#edc948", "skipped": "#bab0ac",
                  "pending": "#d3d3d3"}
LABEL_W, BAR_W, VALUE_W = 230, 560, 90


def _e(value) -> str:
    return escape(str(value), quote=True)


def _legend(items: list[tuple[str, str]], y: int) -> list[str]:
    out, x = [], LABEL_W
    for label, colour in items:
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{x + 16}" y="{y + 10}" class="lg">{_e(label)}</text>')
        x += 30 + 8 * len(label)
    return out


def rows_chart(stores: list[dict]) -> str:
    """Grouped horizontal bars: per table / label / relationship type, rows extracted, final
    and in CERT (series with no data at all are left out)."""
    items = [(f"{s['store']}.{i['item']}", i) for s in stores for i in s["items"]]
    if not items:
        return ""
    series = [s for s in SERIES if any(i.get(s[0]) is not None for _, i in items)]
    top = max([i.get(k) or 0 for _, i in items for k, _, _ in series] + [1])
    bar_h, gap = 6, 6
    group_h = bar_h * len(series) + gap
    height = 30 + group_h * len(items) + 10
    width = LABEL_W + BAR_W + VALUE_W
    out = [f'<svg role="img" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>Rows per table and phase</title>']
    out += _legend([(label, colour) for _, label, colour in series], 4)
    y = 26
    for name, item in items:
        out.append(f'<text x="{LABEL_W - 6}" y="{y + group_h / 2 + 1}" class="lb" text-anchor="end">{_e(name)}</text>')
        for n, (key, label, colour) in enumerate(series):
            value = item.get(key)
            w = 0 if not value else max(1.0, BAR_W * value / top)
            by = y + n * bar_h
            out.append(f'<rect x="{LABEL_W}" y="{by}" width="{w:.1f}" height="{bar_h - 1}" fill="{colour}">'
                       f'<title>{_e(name)}: {_e(label)} {_e(fmt.num(value))}</title></rect>')
        shown = max((item.get(k) or 0 for k, _, _ in series), default=0)
        out.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + group_h / 2 + 1}" class="vl">{_e(fmt.num(shown))}</text>')
        y += group_h
    out.append("</svg>")
    return "".join(out)


def phases_chart(phases: list[dict]) -> str:
    """Horizontal bars: seconds per phase, coloured by the phase's status."""
    if not phases:
        return ""
    top = max([p["seconds"] or 0 for p in phases] + [0.001])
    bar_h = 22
    height = 30 + bar_h * len(phases) + 6
    width = LABEL_W + BAR_W + VALUE_W
    out = [f'<svg role="img" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>Time per phase</title>']
    out += _legend([(k, c) for k, c in STATUS_COLOURS.items()], 4)
    y = 26
    for p in phases:
        seconds = p["seconds"] or 0
        w = 0 if not seconds else max(1.0, BAR_W * seconds / top)
        colour = STATUS_COLOURS.get(p["status"], "#d3d3d3")
        out.append(f'<text x="{LABEL_W - 6}" y="{y + 15}" class="lb" text-anchor="end">{_e(p["name"])}</text>'
                   f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" fill="{colour}">'
                   f'<title>{_e(p["name"])}: {_e(p["status"])}, {_e(fmt.seconds(p["seconds"]))}</title></rect>'
                   f'<text x="{LABEL_W + w + 6:.1f}" y="{y + 15}" class="vl">{_e(fmt.seconds(p["seconds"]))} '
                   f'{_e(p["status"])}</text>')
        y += bar_h
    out.append("</svg>")
    return "".join(out)

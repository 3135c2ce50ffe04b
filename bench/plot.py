"""SVG line charts for the benchmark reports, written by hand (no plotting package needed).

One chart type serves every report: series of (x, [values of the runs]) drawn as the median
with a min-max bar, on log or linear axes, with a legend on the right. Used by
bench/loop_report.py (tick cost against idle descriptors) and bench/report.py (RSS and p99
against connections).
"""
import math
import statistics
from pathlib import Path


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _log_ticks(lo, hi):
    return [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]


def _lin_ticks(hi):
    """Round ticks from 0 to just above hi: steps of 1, 2 or 5 times a power of ten."""
    raw = hi / 5 if hi > 0 else 1
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [i * step for i in range(0, int(math.ceil(hi / step)) + 1)]


def line_chart(path, title, xlabel, ylabel, series, *, xlog=True, ylog=True, fmt_y=lambda v: f"{v:g}",
               fmt_x=lambda v: f"{v:,.0f}", marks=(), note="bars: min–max of runs"):
    """Writes an SVG to `path`.

    series: [(label, color, [(x, [values...]), ...]), ...]; points without values are skipped.
    marks: [(x, text)]: dashed vertical lines at x values that have no measurement (say why).
    """
    width, height, left, right, top, bottom = 720, 440, 80, 190, 40, 60
    pw, ph = width - left - right, height - top - bottom
    series = [(label, color, [(x, v) for x, v in pts if v]) for label, color, pts in series]
    series = [s for s in series if s[2]]
    if not series:
        return
    xs = sorted({x for _, _, pts in series for x, _ in pts} | {x for x, _ in marks})
    ys = [y for _, _, pts in series for _, v in pts for y in v]
    if ylog:
        ys = [y for y in ys if y > 0] or [1.0]
        yt = _log_ticks(min(ys), max(ys))
    else:
        yt = _lin_ticks(max(ys) * 1.05)
    if xlog:
        x0, x1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    else:
        x0, x1 = 0.0, max(xs) * 1.05
    fy = math.log10 if ylog else (lambda v: v)
    y0, y1 = fy(yt[0]), fy(yt[-1])
    if y1 == y0:
        y1 = y0 + 1

    def px(x):
        return left + ((math.log10(x) if xlog else x) - x0) / (x1 - x0) * pw

    def py(y):
        y = max(y, yt[0]) if ylog else y
        return top + ph - (fy(y) - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15">{esc(title)}</text>',
    ]
    for t in yt:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt_y(t))}</text>')
    for x in xs:
        if any(x == m for m, _ in marks):
            continue
        out.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{top + ph + 18}" text-anchor="middle">{esc(fmt_x(x))}</text>')
    for x, text in marks:
        X = px(x)
        out.append(f'<line x1="{X:.1f}" y1="{top}" x2="{X:.1f}" y2="{top + ph}" stroke="#999" stroke-dasharray="5 4"/>')
        out.append(f'<text x="{X:.1f}" y="{top + ph + 18}" text-anchor="middle" fill="#999">{esc(fmt_x(x))}</text>')
        out.append(f'<text x="{X - 6:.1f}" y="{top + ph / 2}" text-anchor="middle" fill="#777" font-size="11" '
                   f'transform="rotate(-90 {X - 6:.1f} {top + ph / 2})">{esc(text)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {top + ph / 2})">{esc(ylabel)}</text>')
    for i, (label, c, pts) in enumerate(series):
        d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(statistics.median(v)):.1f}"
                     for j, (x, v) in enumerate(pts))
        out.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, v in pts:
            X = px(x)
            out.append(f'<line x1="{X:.1f}" y1="{py(min(v)):.1f}" x2="{X:.1f}" y2="{py(max(v)):.1f}" stroke="{c}"/>')
            out.append(f'<circle cx="{X:.1f}" cy="{py(statistics.median(v)):.1f}" r="3.5" fill="{c}"/>')
        ly, lx = top + 14 + i * 20, left + pw + 14
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 28}" y="{ly}">{esc(label)}</text>')
    if note:
        out.append(f'<text x="{left + pw + 14}" y="{top + 24 + len(series) * 20}" font-size="10" '
                   f'fill="#555">{esc(note)}</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n")

"""A self-contained HTML training report: headline figures, loss / metric / learning-rate charts drawn as
inline SVG, the epoch table, the evaluation (confusion matrix, per-class scores), the config and the data.

Everything here is a pure function of plain data (dicts, lists, floats), so any training command can call
it without importing torch. The page needs nothing but itself: no JavaScript, no network, no external CSS
or fonts, so it reads the same when opened from disk or attached to an e-mail. The output is also
well-formed XML (void elements self-closed, only the five XML entities), which keeps it easy to test.

Data contract (see :func:`render_report`): ``epochs`` holds one dict per epoch, ``steps`` one dict per
(possibly thinned) optimizer step; any value may be ``None`` or NaN and is shown as "–".
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ulmfit.errors import UsageError

__all__ = ["write_lr_find_plot", "KINDS", "render_ensemble_report", "render_lr_find", "render_report", "svg_line_chart",
           "write_report"]

KINDS = {"classifier": "Text classifier", "language_model": "Language model", "vision": "Vision classifier"}

DASH = "–"  # shown for a missing or non-finite value

# Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
STEP_COLOUR = "#8DB8DA"  # the per-step running loss: a light tint of the palette's blue, drawn beneath
BAND_FILL = "#EEF1F5"

# Epoch keys that are not metrics.
_EPOCH_FIELDS = {"stage", "stage_index", "epoch", "step", "lr", "train_loss", "valid_loss", "time"}

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
_CHAR_W = 6.1  # rough width of one 11 px character, used to lay out legends and labels without a renderer


# --- formatting ---------------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any, *, sci: bool = False) -> str:
    """A number for a table: ints with thousands separators, floats to 4 significant digits (``sci``:
    scientific notation, for learning rates), missing or non-finite values as "–"; anything else as text."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return DASH
        if sci:
            return f"{value:.2e}"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        text = f"{value:.4g}"
        if "e" not in text and abs(value) >= 1e4:
            text = f"{value:,.0f}"
        return text
    return str(value)


def _fmt_time(seconds: Any) -> str:
    if not _finite(seconds):
        return DASH if not isinstance(seconds, str) else seconds
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _label(key: str) -> str:
    return key.replace("_", " ")


# --- scales and ticks ---------------------------------------------------------------------------------

def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw * 0.999:
            return m * mag
    return 10 * mag


def _linear_domain(lo: float, hi: float, *, pad: float = 0.0) -> tuple[float, float, list[float]]:
    """A domain widened to nice round ends, and ~5 ticks inside it."""
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        half = abs(lo) * 0.1 if lo else 1.0
        lo, hi = lo - half, hi + half
    span = hi - lo
    nonnegative = lo >= 0  # losses, rates, accuracies: the padding never takes the axis below zero
    lo, hi = lo - pad * span, hi + pad * span
    if nonnegative:
        lo = max(lo, 0.0)
    step = _nice_step(hi - lo)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    n = int(round((end - start) / step))
    ticks = [start + i * step for i in range(n + 1)]
    ticks = [0.0 if abs(t) < step * 1e-9 else t for t in ticks]
    return start, end, ticks


def _log_domain(lo: float, hi: float) -> tuple[float, float, list[float], list[float]]:
    """A log domain and its ``(major, minor)`` labelled ticks. Data spanning a decade or more gets the
    enclosing decades, with major ticks at powers of ten (every k-th decade when there are many) and no
    minor ones. Data within less than a decade (a perplexity going from 120 to 95) would be a flat line on
    that axis, so it gets a tight domain instead, the powers of ten inside it as major ticks and round
    values (1, 2, 5 x 10^k, or finer) as minor ones."""
    if hi / lo >= 10:
        a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
        every = max(1, math.ceil((b - a) / 10))
        return 10.0 ** a, 10.0 ** b, [10.0 ** k for k in range(a, b + 1) if (k - a) % every == 0], []
    if hi / lo < 1 + 1e-9:
        lo, hi = lo / 1.5, hi * 1.5
    pad = (math.log10(hi) - math.log10(lo)) * 0.06
    d0, d1 = 10 ** (math.log10(lo) - pad), 10 ** (math.log10(hi) + pad)
    major = [10.0 ** k for k in range(math.ceil(math.log10(d0) - 1e-9), math.floor(math.log10(d1) + 1e-9) + 1)]
    minor = [m * 10.0 ** k for k in range(math.floor(math.log10(d0)), math.ceil(math.log10(d1)) + 1)
             for m in (2, 5) if d0 <= m * 10.0 ** k <= d1]
    if len(major) + len(minor) < 3:
        _, _, lin = _linear_domain(d0, d1)
        minor = [t for t in lin if d0 <= t <= d1 and t > 0 and not any(abs(t / m - 1) < 1e-9 for m in major)]
    return d0, d1, major, minor


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _log_labels(ticks: Sequence[float]) -> list[str]:
    """Labels for powers of ten: plain numbers when all are between 0.001 and 10,000, otherwise all as
    10 with a superscript exponent (mixing "0.001" with "1e-4" on one axis reads badly)."""
    if all(1e-3 <= t <= 1e4 for t in ticks):
        return [f"{t:g}" for t in ticks]
    return ["10" + str(round(math.log10(t))).translate(_SUPERSCRIPT) for t in ticks]


def _tick_text(value: float, step: float | None, log: bool) -> str:
    if log:
        return f"{value:.3g}"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.1e}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step else 0
    if step and round(step * 10 ** decimals) % 10 and not float(step * 10 ** decimals).is_integer():
        decimals += 1  # a step such as 2.5 needs one more digit
    return f"{value:,.{decimals}f}"


def _log_grid(lo: float, hi: float, coords) -> list[str]:
    """Unlabelled grid lines at 2..9 x 10^k (when the axis spans few enough decades for them to be seen),
    so a value can be read off within a decade."""
    if math.log10(hi) - math.log10(lo) > 4:
        return []
    return [f'<line class="grid-minor" {coords(m * 10.0 ** k)} stroke="#F2F2F2"/>'
            for k in range(round(math.log10(lo)), round(math.log10(hi))) for m in range(2, 10)]


class _Scale:
    def __init__(self, lo: float, hi: float, px0: float, px1: float, log: bool):
        self.lo, self.hi, self.px0, self.px1, self.log = lo, hi, px0, px1, log

    def __call__(self, v: float) -> float:
        if self.log:
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.px0 + t * (self.px1 - self.px0)


# --- the chart ----------------------------------------------------------------------------------------

def _segments(points: Iterable, log_x: bool, log_y: bool) -> list[list[tuple[float, float]]]:
    """The drawable runs of ``points``: a point whose y is missing, non-finite (or not positive on a log
    axis) ends a run, so a gap in the data stays a gap in the line; a point with an unusable x is skipped."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        try:
            x, y = p
        except (TypeError, ValueError):
            continue
        if not _finite(x) or (log_x and x <= 0):
            continue
        if not _finite(y) or (log_y and y <= 0):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((float(x), float(y)))
    return [r for r in runs if r]


def _usable(points: Iterable, log_x: bool, log_y: bool) -> list[tuple[float, float]]:
    return [p for run in _segments(points, log_x, log_y) for p in run]


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _fit_label(text: str, width_px: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width_px`` (empty when not even one letter fits)."""
    max_chars = int(width_px / _CHAR_W)
    if len(text) <= max_chars:
        return text
    if max_chars < 2:
        return ""
    return text[: max_chars - 1] + "…"


def svg_line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    log_y: bool = False,
    markers: Sequence[tuple] = (),
    bands: Sequence[tuple[float, float, str]] = (),
    width: int = 720,
    height: int = 300,
    styles: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """One inline ``<svg>`` line chart (no ``xmlns``: it is meant to sit inside an HTML page).

    ``series``: name -> ``[(x, y), ...]``; a point with a missing or non-finite y (or, on a log axis, one
    that is not positive) is not drawn and breaks the line there.
    ``styles``: name -> ``"line"``, ``"thin"`` (a thin line beneath the others), ``"points"`` or
    ``"line+points"`` (default: points for series of 40 points or fewer).
    ``colors``: name -> CSS colour (default: the Okabe–Ito palette in order).
    ``markers``: ``(x, label)`` or ``(x, label, colour)``: dashed vertical lines, labelled near the top.
    ``bands``: ``(x0, x1, label)``: alternating background bands, labelled in a strip above the plot.
    ``y_range`` fixes the y axis (lines that leave it are clipped, not dropped).
    Each series is a ``<g class="series" data-series=... data-n=...>`` (``data-n``: points drawn) with one
    ``<polyline>`` per unbroken run and, for point styles, one ``<circle>`` per point with a ``<title>``.
    Log axes have their major ticks at powers of ten.
    """
    styles, colors = dict(styles or {}), dict(colors or {})
    runs = {name: _segments(pts, log_x, log_y) for name, pts in series.items()}
    clean = {name: [p for run in r for p in run] for name, r in runs.items()}
    names = list(clean)
    colour_of, i = {}, 0
    for name in names:
        if name in colors:
            colour_of[name] = colors[name]
        else:
            colour_of[name] = PALETTE[i % len(PALETTE)]
            i += 1
    style_of = {n: styles.get(n) or ("line+points" if len(clean[n]) <= 40 else "line") for n in names}

    all_pts = [p for pts in clean.values() for p in pts]
    svg_open = (f'<svg class="chart" viewBox="0 0 {width} {{h}}" width="{width}" height="{{h}}" role="img" '
                f'font-family="{_FONT}" font-size="11">')
    if not all_pts:
        h = 60
        return (svg_open.format(h=h) + f'<text class="no-data" x="{width / 2}" y="{h / 2}" text-anchor="middle" '
                f'fill="#666">no data to plot ({_esc(y_label)})</text></svg>')

    xs = [p[0] for p in all_pts] + [v for b in bands for v in b[:2] if _finite(v) and (not log_x or v > 0)]
    xs += [m[0] for m in markers if _finite(m[0]) and (not log_x or m[0] > 0)]
    ys = [p[1] for p in all_pts]
    if log_x:
        x0, x1, xticks, xminor = _log_domain(min(xs), max(xs))
        xstep = None
    else:
        x0, x1, xticks = _linear_domain(min(xs), max(xs))
        xminor = []
        xstep = xticks[1] - xticks[0] if len(xticks) > 1 else None
    y_lo, y_hi = (y_range if y_range else (min(ys), max(ys)))
    if log_y:
        y0, y1, yticks, yminor = _log_domain(y_lo, y_hi)
        ystep = None
    else:
        y0, y1, yticks = _linear_domain(y_lo, y_hi, pad=0.04)
        yminor = []
        ystep = yticks[1] - yticks[0] if len(yticks) > 1 else None
    ylabels = _log_labels(yticks) if log_y else [_tick_text(t, ystep, False) for t in yticks]
    yall = [(t, lab, "major") for t, lab in zip(yticks, ylabels)]
    yall += [(t, _tick_text(t, None, True), "minor") for t in yminor]
    # The left margin grows with the longest y tick label, so labels never run into the axis title.
    left_margin = max(62, math.ceil(32 + _CHAR_W * max(len(lab) for _, lab, _ in yall)))

    # Legend rows (above the plot, so they never cover a line).
    legend_items, row, x_cursor, rows = [], 0, 0.0, 1
    avail = width - left_margin - 12
    for name in names:
        w = 26 + len(name) * _CHAR_W + 18
        if x_cursor + w > avail and x_cursor > 0:
            row, x_cursor, rows = row + 1, 0.0, rows + 1
        legend_items.append((name, left_margin + x_cursor, row))
        x_cursor += w
    legend_h = 16 * rows + 4 if len(names) > 1 or names[0] else 0
    band_strip = 16 if bands else 0
    top = 8 + legend_h + band_strip
    bottom, right = 40, 26  # room for the last x tick label
    left = left_margin
    pw, ph = width - left - right, height - top - bottom
    if ph < 80:  # a legend that wrapped many times: grow instead of squashing the plot
        height += 80 - ph
        ph = 80

    sx = _Scale(x0, x1, left, left + pw, log_x)
    sy = _Scale(y0, y1, top + ph, top, log_y)

    out = [svg_open.format(h=height)]
    # A deterministic id (same inputs, same page); charts that share it also share the clip rectangle.
    clip_id = "clip" + format(zlib.crc32(repr((names, x_label, y_label, width, height, top, all_pts)).encode()), "x")
    out.append(f'<defs><clipPath id="{clip_id}"><rect x="{left - 5}" y="{top - 5}" width="{pw + 10}" '
               f'height="{ph + 10}"/></clipPath></defs>')  # 5 px slack: a point on the edge stays whole

    # Background bands with their labels in a strip above the plot.
    for k, (b0, b1, label) in enumerate(bands):
        if not (_finite(b0) and _finite(b1)):
            continue
        if log_x and (b0 <= 0 or b1 <= 0):
            continue
        px0, px1 = max(sx(b0), left), min(sx(b1), left + pw)
        if px1 <= px0:
            continue
        fill = BAND_FILL if k % 2 == 0 else "#FFFFFF"
        text = _fit_label(str(label), px1 - px0 - 4)
        out.append(f'<g class="band" data-label="{_esc(label)}"><title>{_esc(label)}</title>'
                   f'<rect x="{_num(px0)}" y="{top - band_strip}" width="{_num(px1 - px0)}" '
                   f'height="{ph + band_strip}" fill="{fill}"/>'
                   f'<text class="band-label" x="{_num((px0 + px1) / 2)}" y="{top - 4}" text-anchor="middle" '
                   f'fill="#555" font-size="10.5">{_esc(text)}</text></g>')
        if k > 0:
            out.append(f'<line x1="{_num(px0)}" x2="{_num(px0)}" y1="{top - band_strip}" y2="{top + ph}" '
                       f'stroke="#C9D1DB" stroke-width="1"/>')

    # Grid and ticks.
    out.append('<g class="axis y-axis">')
    if log_y and not yminor:
        out.extend(_log_grid(y0, y1, lambda v: f'x1="{left}" x2="{left + pw}" y1="{_num(sy(v))}" y2="{_num(sy(v))}"'))
    for t, label, cls in yall:
        y = _num(sy(t))
        out.append(f'<g class="tick {cls}" data-value="{t!r}"><line x1="{left}" x2="{left + pw}" y1="{y}" y2="{y}" '
                   f'stroke="{"#DDDDDD" if cls == "major" else "#EAEAEA"}"/><text x="{left - 6}" y="{y}" dy="0.32em" '
                   f'text-anchor="end" fill="#333">{_esc(label)}</text></g>')
    out.append('</g><g class="axis x-axis">')
    if log_x and not xminor:
        out.extend(_log_grid(x0, x1, lambda v: f'x1="{_num(sx(v))}" x2="{_num(sx(v))}" y1="{top}" y2="{top + ph}"'))
    max_x_labels = max(2, int(pw / 60))
    every = max(1, math.ceil(len(xticks) / max_x_labels))
    xlabels = _log_labels(xticks) if log_x else [_tick_text(t, xstep, False) for t in xticks]
    xall = [(t, lab if j % every == 0 else "", "major") for j, (t, lab) in enumerate(zip(xticks, xlabels))]
    xall += [(t, _tick_text(t, None, True), "minor") for t in xminor]
    for t, label, cls in xall:
        x = _num(sx(t))
        out.append(f'<g class="tick {cls}" data-value="{t!r}"><line x1="{x}" x2="{x}" y1="{top + ph}" '
                   f'y2="{top + ph + 4}" stroke="#888"/><text x="{x}" y="{top + ph + 16}" text-anchor="middle" '
                   f'fill="#333">{_esc(label)}</text></g>')
    out.append("</g>")
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    out.append(f'<text class="x-label" x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" fill="#333">'
               f'{_esc(x_label)}</text>')
    out.append(f'<text class="y-label" transform="translate(14 {_num(top + ph / 2)}) rotate(-90)" '
               f'text-anchor="middle" fill="#333">{_esc(y_label)}</text>')

    # Series: thin ones first so the epoch points sit on top.
    order = sorted(names, key=lambda n: 0 if style_of[n] == "thin" else 1)
    for name in order:
        pts, colour, style = clean[name], colour_of[name], style_of[name]
        out.append(f'<g class="series" data-series="{_esc(name)}" data-n="{len(pts)}" clip-path="url(#{clip_id})">')
        stroke_w = {"thin": 1.2, "points": 0}.get(style, 2)
        visible = "" if stroke_w else ' stroke-opacity="0"'
        for run in runs[name]:
            coords = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in run)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{stroke_w or 1}"'
                       f'{visible} stroke-linejoin="round" stroke-linecap="round"/>')
            if len(run) == 1 and "points" not in style:  # a lone point of a line would be invisible
                out.append(f'<circle class="lone" cx="{_num(sx(run[0][0]))}" cy="{_num(sy(run[0][1]))}" r="2" '
                           f'fill="{colour}"/>')
        if "points" in style or len(pts) == 1:
            for x, y in pts:
                out.append(f'<circle cx="{_num(sx(x))}" cy="{_num(sy(y))}" r="3.5" fill="{colour}" stroke="#fff" '
                           f'stroke-width="1"><title>{_esc(name)} at {_esc(x_label)} {_fmt(x, sci=log_x)}: '
                           f'{_fmt(y)}</title></circle>')
        out.append("</g>")

    # Markers: dashed verticals; every label is drawn after every line (with a white halo) and the labels
    # are staggered, so two close markers do not strike through each other's text.
    labels = []
    for k, marker in enumerate(markers):
        mx, label = marker[0], marker[1]
        colour = marker[2] if len(marker) > 2 else "#333333"
        if not _finite(mx) or (log_x and mx <= 0):
            continue
        px = sx(mx)
        if not left <= px <= left + pw:
            continue
        anchor, dx = ("end", -5) if px > left + pw * 0.7 else ("start", 5)
        out.append(f'<g class="marker" data-x="{mx!r}" data-label="{_esc(label)}"><title>{_esc(label)}</title>'
                   f'<line x1="{_num(px)}" x2="{_num(px)}" y1="{top}" y2="{top + ph}" stroke="{colour}" '
                   f'stroke-dasharray="5 3" stroke-width="1.5"/></g>')
        labels.append(f'<text class="marker-label" data-x="{mx!r}" x="{_num(px + dx)}" y="{top + 14 + 15 * k}" '
                      f'text-anchor="{anchor}" fill="{colour}" stroke="#fff" stroke-width="4" paint-order="stroke" '
                      f'font-weight="600">{_esc(label)}</text>')
    out.extend(labels)

    # Legend.
    if legend_h:
        out.append('<g class="legend">')
        for name, lx, r in legend_items:
            ly = 8 + 16 * r + 6
            colour, style = colour_of[name], style_of[name]
            out.append(f'<g class="legend-item" data-series="{_esc(name)}">')
            if style != "points":
                out.append(f'<line x1="{_num(lx)}" x2="{_num(lx + 20)}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                           f'stroke-width="{1.5 if style == "thin" else 2}"/>')
            if "points" in style:
                out.append(f'<circle cx="{_num(lx + 10)}" cy="{ly}" r="3.5" fill="{colour}"/>')
            out.append(f'<text x="{_num(lx + 26)}" y="{ly}" dy="0.32em" fill="#222">{_esc(name)}</text></g>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# --- report sections ----------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { font-family: FONT_STACK; color: #1d2330; background: #fff; margin: 0; line-height: 1.4; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7em; margin: 0 0 2px; }
h2 { font-size: 1.15em; margin: 30px 0 8px; padding-bottom: 3px; border-bottom: 1px solid #dde2ea; }
h3 { font-size: 1em; margin: 16px 0 6px; color: #3a4356; }
.subtitle { color: #5b6577; margin: 0 0 18px; }
.headline { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 6px; }
.figure { border: 1px solid #dde2ea; border-radius: 6px; padding: 10px 16px; min-width: 130px; background: #f8fafc; }
.figure .value { font-size: 1.75em; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .name { color: #5b6577; font-size: 0.85em; }
svg.chart { width: 100%; min-width: 600px; height: auto; display: block; margin: 4px 0 10px; }
.charts { overflow-x: auto; }  /* on a phone: scroll the chart rather than shrink its text */
table { border-collapse: collapse; font-size: 0.9em; margin: 4px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e9ef; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #c9d1db; background: #f8fafc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody.stage { border-top: 2px solid #c9d1db; }
tbody.stage th.stage-name { background: #f8fafc; font-weight: 600; min-width: 9em; max-width: 16em; }
table.kv td.key { color: #5b6577; white-space: nowrap; }
table.kv td.value { overflow-wrap: anywhere; }
.kv-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); column-gap: 28px; }
.kv-grid table { width: 100%; margin: 0; }
table.confusion td.cm-cell { text-align: center; min-width: 2.4em; padding: 3px 6px; }
table.confusion td { font-variant-numeric: tabular-nums; }
table.confusion th.corner { vertical-align: bottom; font-weight: normal; color: #5b6577; font-size: 0.85em; }
table.confusion thead th { text-align: center; vertical-align: bottom; }
table.confusion thead th.rotated { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left;
  white-space: nowrap; padding: 6px 3px; font-size: 0.85em; }
table.confusion td.total { color: #5b6577; text-align: right; }
.note { color: #5b6577; font-size: 0.9em; }
.scroll { overflow-x: auto; }
footer { margin-top: 36px; color: #8a93a3; font-size: 0.8em; }
""".replace("FONT_STACK", _FONT)


def _page(title: str, subtitle: str, body: str) -> str:
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8" />'
            '<meta name="viewport" content="width=device-width, initial-scale=1" />'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>"
            f'<h1 id="title">{_esc(title)}</h1><p class="subtitle">{_esc(subtitle)}</p>'
            f"{body}<footer>Generated by ulmfit.report: a self-contained page (no scripts, no network).</footer>"
            "</main></body></html>\n")


def _section(sid: str, heading: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{_esc(heading)}</h2>{content}</section>'


def _no_data(what: str) -> str:
    return f'<p class="note no-data">No {_esc(what)} recorded.</p>'


def _stage_key(row: Mapping) -> tuple:
    return (row.get("stage_index", 0) if _finite(row.get("stage_index")) else 0, str(row.get("stage", "")))


def _stage_bands(epochs: Sequence[Mapping], steps: Sequence[Mapping]) -> list[tuple[float, float, str]]:
    """One ``(first_step, last_step, name)`` band per stage, in order, each starting where the previous one
    ended (the first at step 0)."""
    ends: dict[tuple, float] = {}
    for row in list(steps) + list(epochs):
        s = row.get("step")
        if not _finite(s):
            continue
        key = _stage_key(row)
        ends[key] = max(ends.get(key, -math.inf), float(s))
    if not ends:
        return []
    bands, start = [], min(0.0, min(ends.values()))
    for key in sorted(ends, key=lambda k: (k[0], ends[k])):
        end = ends[key]
        if end > start:
            bands.append((start, end, key[1]))
        start = max(start, end)
    return bands


def _points(rows: Sequence[Mapping], key: str) -> list[tuple[float, float]]:
    return [(r.get("step"), r.get(key)) for r in rows if r.get("step") is not None]


def _metric_keys(epochs: Sequence[Mapping]) -> list[str]:
    keys: list[str] = []
    for row in epochs:
        for k, v in row.items():
            if k not in _EPOCH_FIELDS and k not in keys and (v is None or isinstance(v, (int, float))):
                keys.append(k)
    return keys


def _split_metrics(epochs: Sequence[Mapping]) -> tuple[list[str], list[str], list[str]]:
    """Metric names split into (accuracy-like in [0, 1], perplexity, the rest)."""
    unit, ppl, other = [], [], []
    for k in _metric_keys(epochs):
        vals = [float(r[k]) for r in epochs if _finite(r.get(k))]
        if "perplexity" in k.lower():
            ppl.append(k)
        elif all(0.0 <= v <= 1.0 for v in vals):
            unit.append(k)
        else:
            other.append(k)
    return unit, ppl, other


def _has_data(series: Mapping[str, Sequence], log_y: bool = False) -> bool:
    return any(_usable(pts, False, log_y) for pts in series.values())


def _running_loss(steps: Sequence[Mapping], epochs: Sequence[Mapping]) -> list[tuple[Any, Any]]:
    """The per-step running mean, broken (a ``None`` point) after each epoch's last step: the mean restarts
    there, and joining the end of one epoch to the first batch of the next would draw a spike that is not
    in the training."""
    ends = {r.get("step") for r in epochs if _finite(r.get("step"))}
    out: list[tuple[Any, Any]] = []
    for s in steps:
        out.append((s.get("step"), s.get("loss")))
        if s.get("step") in ends:
            out.append((s.get("step"), None))
    return out


def _loss_section(epochs, steps, bands) -> str:
    series = {"train loss (running mean per step)": _running_loss(steps, epochs),
              "train loss (epoch)": _points(epochs, "train_loss"),
              "valid loss (epoch)": _points(epochs, "valid_loss")}
    styles = {"train loss (running mean per step)": "thin", "train loss (epoch)": "line+points",
              "valid loss (epoch)": "line+points"}
    colors = {"train loss (running mean per step)": STEP_COLOUR, "train loss (epoch)": PALETTE[0],
              "valid loss (epoch)": PALETTE[1]}
    series = {k: v for k, v in series.items() if _has_data({k: v})}
    if not series:
        return _section("loss", "Loss", _no_data("losses"))
    chart = svg_line_chart(series, x_label="optimizer step", y_label="loss", bands=bands, styles=styles,
                           colors=colors)
    return _section("loss", "Loss", f'<div class="charts">{chart}</div>')


def _metrics_section(epochs, bands) -> str:
    unit, ppl, other = _split_metrics(epochs)
    charts = []
    for keys, log_y, y_label in ((unit, False, "score"), (ppl, True, "perplexity (log scale)"),
                                 (other, False, "value")):
        series = {_label(k): _points(epochs, k) for k in keys}
        series = {k: v for k, v in series.items() if _has_data({k: v}, log_y)}
        if not series:
            continue
        if len(series) == 1 and not log_y:
            y_label = next(iter(series))
        charts.append(svg_line_chart(series, x_label="optimizer step", y_label=y_label, log_y=log_y, bands=bands,
                                     styles={k: "line+points" for k in series}, height=260))
    if not charts:
        return _section("metrics", "Metrics", _no_data("validation metrics"))
    return _section("metrics", "Metrics per epoch", f'<div class="charts">{"".join(charts)}</div>')


def _lr_section(epochs, steps, bands) -> str:
    if _has_data({"lr": [(s.get("step"), s.get("lr")) for s in steps]}, True):
        series = {"learning rate (top group)": [(s.get("step"), s.get("lr")) for s in steps]}
        styles = {"learning rate (top group)": "line"}
    else:
        series = {"learning rate at epoch end": _points(epochs, "lr")}
        styles = {"learning rate at epoch end": "line+points"}
    if not _has_data(series, True):
        return _section("lr", "Learning-rate schedule", _no_data("learning rates"))
    chart = svg_line_chart(series, x_label="optimizer step", y_label="learning rate (log scale)", log_y=True,
                           bands=bands, styles=styles, colors={k: PALETTE[2] for k in series}, height=240)
    return _section("lr", "Learning-rate schedule", f'<div class="charts">{chart}</div>')


def _epoch_table(epochs) -> str:
    if not epochs:
        return _section("epochs", "Epochs", _no_data("epochs"))
    metrics = _metric_keys(epochs)
    head = ["stage", "epoch", "step", "lr", "train loss", "valid loss"] + [_label(m) for m in metrics] + ["time"]
    cells = "".join(f"<th>{_esc(h)}</th>" if i == 0 else f'<th class="num">{_esc(h)}</th>'
                    for i, h in enumerate(head))
    groups: list[list[Mapping]] = []
    for row in epochs:
        if groups and _stage_key(groups[-1][-1]) == _stage_key(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    bodies = []
    for rows in groups:
        trs = []
        for j, r in enumerate(rows):
            stage = (f'<th class="stage-name" rowspan="{len(rows)}">{_esc(r.get("stage", DASH))}</th>'
                     if j == 0 else "")
            vals = [_fmt(r.get("epoch")), _fmt(r.get("step")), _fmt(r.get("lr"), sci=True),
                    _fmt(r.get("train_loss")), _fmt(r.get("valid_loss"))]
            vals += [_fmt(r.get(m)) for m in metrics] + [_fmt_time(r.get("time"))]
            trs.append("<tr>" + stage + "".join(f'<td class="num">{_esc(v)}</td>' for v in vals) + "</tr>")
        bodies.append('<tbody class="stage">' + "".join(trs) + "</tbody>")
    table = f'<div class="scroll"><table class="epochs"><thead><tr>{cells}</tr></thead>{"".join(bodies)}</table></div>'
    return _section("epochs", "Epochs", table)


def _shade(frac: float, diagonal: bool) -> tuple[str, str]:
    """Background and text colour for a confusion-matrix cell holding ``frac`` of its row."""
    frac = min(max(frac, 0.0), 1.0)
    r, g, b = (0, 114, 178) if diagonal else (213, 94, 0)
    alpha = 0.9 * frac
    bg = f"rgba({r},{g},{b},{alpha:.3f})"
    return bg, "#ffffff" if alpha > 0.5 else "#1d2330"


def _confusion(evaluation: Mapping) -> str:
    matrix = evaluation.get("confusion_matrix")
    if not matrix:
        return ""
    classes = list(evaluation.get("classes") or [str(i) for i in range(len(matrix))])
    # Long class names as column headers would make every column as wide as the name: turn them upright.
    col = ' class="rotated"' if max(len(str(c)) for c in classes) > 6 else ""
    head = ('<th class="corner">true \\ predicted</th>'
            + "".join(f'<th scope="col"{col}>{_esc(c)}</th>' for c in classes)
            + '<th class="num" scope="col">total</th>')
    rows = []
    for i, row in enumerate(matrix):
        total = sum(int(v) for v in row)
        tds = []
        for j, v in enumerate(row):
            v = int(v)
            frac = v / total if total else 0.0
            bg, fg = _shade(frac, i == j)
            true_name = classes[i] if i < len(classes) else i
            pred_name = classes[j] if j < len(classes) else j
            tip = f"true {true_name}, predicted {pred_name}: {v:,} ({100 * frac:.1f}% of the row)"
            tds.append(f'<td class="cm-cell{" diag" if i == j else ""}" data-frac="{frac:.4f}" '
                       f'style="background:{bg};color:{fg}" title="{_esc(tip)}">{v:,}</td>')
        name = classes[i] if i < len(classes) else str(i)
        rows.append(f'<tr><th scope="row">{_esc(name)}</th>{"".join(tds)}<td class="total">{total:,}</td></tr>')
    note = ('<p class="note">Rows are the true classes, columns the predictions; shading is the share of the '
            'row (blue on the diagonal: correct; orange: confusions).</p>')
    table = (f'<div class="scroll"><table class="confusion"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div>')
    return _section("confusion", "Confusion matrix", table + note)


def _per_class(evaluation: Mapping) -> str:
    per_class = evaluation.get("per_class") or {}
    if not per_class:
        return ""
    head = ('<th>class</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th>'
            '<th class="num">support</th>')
    rows, ps, rs, sup = [], [], [], 0
    for name, m in per_class.items():
        m = m or {}
        for key, acc in (("precision", ps), ("recall", rs)):
            if _finite(m.get(key)):
                acc.append(float(m[key]))
        if _finite(m.get("support")):
            sup += int(m["support"])
        vals = [_fmt(m.get("precision")), _fmt(m.get("recall")), _fmt(m.get("f1")), _fmt(m.get("support"))]
        rows.append(f"<tr><td>{_esc(name)}</td>" + "".join(f'<td class="num">{_esc(v)}</td>' for v in vals) + "</tr>")
    macro_f1 = evaluation.get("macro_f1")
    if macro_f1 is None:
        f1s = [float(m["f1"]) for m in per_class.values() if m and _finite(m.get("f1"))]
        macro_f1 = sum(f1s) / len(f1s) if f1s else None
    mean = (lambda xs: sum(xs) / len(xs) if xs else None)  # noqa: E731
    foot = [_fmt(mean(ps)), _fmt(mean(rs)), _fmt(macro_f1), _fmt(sup)]
    foot_row = ('<tr class="macro"><th>macro average</th>'
                + "".join(f'<th class="num">{_esc(v)}</th>' for v in foot) + "</tr>")
    table = (f'<div class="scroll"><table class="per-class"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody><tfoot>{foot_row}</tfoot></table></div>')
    return _section("per-class", "Per-class scores", table)


def _evaluation(evaluation: Mapping | None) -> str:
    if not evaluation:
        return ""
    figures = {k: evaluation.get(k) for k in ("accuracy", "subset_accuracy", "hamming_accuracy", "macro_f1", "n")
               if k in evaluation}
    names = {"n": "examples", "macro_f1": "macro F1"}
    head = _headline({names.get(k, _label(k)): v for k, v in figures.items()}, "eval-figures")
    body = _section("evaluation", "Evaluation", head)
    return body + _confusion(evaluation) + _per_class(evaluation)


def _flatten(config: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(_flatten(v, key + ".") if v else [(key, "{}")])
        else:
            out.append((key, v))
    return out


def _value_text(v: Any) -> str:
    if isinstance(v, (list, tuple, set, frozenset)):
        return ", ".join(_value_text(x) for x in v) if v else "[]"
    if isinstance(v, float) and _finite(v) and v != 0 and abs(v) < 1e-3:
        return f"{v:.2e}"
    return _fmt(v)


def _kv_table(sid: str, heading: str, mapping: Mapping | None, *, flatten: bool) -> str:
    items = _flatten(mapping or {}) if flatten else list((mapping or {}).items())
    if not items:
        return _section(sid, heading, _no_data(heading.lower()))
    # Two tables side by side once the list is long, so a long config does not become a long thin column.
    chunks = [items] if len(items) <= 8 else [items[: (len(items) + 1) // 2], items[(len(items) + 1) // 2:]]
    tables = []
    for chunk in chunks:
        rows = "".join(f'<tr><td class="key">{_esc(k)}</td><td class="value">{_esc(_value_text(v))}</td></tr>'
                       for k, v in chunk)
        tables.append(f'<table class="kv"><tbody>{rows}</tbody></table>')
    return _section(sid, heading, f'<div class="kv-grid">{"".join(tables)}</div>')


def _headline(summary: Mapping | None, css_class: str = "headline") -> str:
    if not summary:
        return ""
    figs = []
    for name, value in summary.items():
        text = _fmt_time(value) if str(name).lower() == "time" and _finite(value) else _fmt(value)
        figs.append(f'<div class="figure"><div class="value">{_esc(text)}</div><div class="name">{_esc(name)}</div>'
                    "</div>")
    return f'<div class="headline {css_class}" id="{css_class}">{"".join(figs)}</div>'


# --- public entry points ------------------------------------------------------------------------------

def render_report(
    *,
    title: str,
    kind: str,
    epochs: list[dict],
    steps: list[dict],
    config: dict,
    data: dict,
    evaluation: dict | None = None,
    summary: dict | None = None,
    date: str | None = None,
) -> str:
    """The full HTML page for one training run.

    ``kind``: one of :data:`KINDS`. ``epochs``: one dict per epoch, in order, with ``stage``,
    ``stage_index`` (0-based), ``epoch`` (1-based within the stage), ``step`` (global optimizer step at the
    epoch's end), ``lr``, ``train_loss`` and optional ``valid_loss``, metrics (``accuracy``,
    ``perplexity``, ...) and ``time`` (seconds). ``steps``: one dict per (thinned) step with ``stage``,
    ``stage_index``, ``step``, ``lr`` and ``loss`` (running mean of the epoch so far); may be empty.
    ``config`` (nested dicts shown as ``a.b``) and ``data`` become key/value tables. ``evaluation``: the
    output of :func:`ulmfit.evaluation.classification_metrics` plus ``confusion_matrix`` (rows true,
    columns predicted) and ``classes``. ``summary``: headline figures. ``date``: the subtitle's date
    (default: now), a parameter so that the same inputs can give the same page.
    """
    if kind not in KINDS:
        raise UsageError(f"render_report: kind must be one of {', '.join(sorted(KINDS))}; got {kind!r}")
    epochs, steps = list(epochs or []), list(steps or [])
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    n_stages = len({_stage_key(r) for r in epochs + steps})
    facts = [KINDS[kind], f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''}"]
    if n_stages > 1:
        facts.append(f"{n_stages} stages")
    facts.append(date)
    bands = _stage_bands(epochs, steps)
    body = "".join([
        _headline(summary),
        _loss_section(epochs, steps, bands),
        _metrics_section(epochs, bands),
        _lr_section(epochs, steps, bands),
        _epoch_table(epochs),
        _evaluation(evaluation) if kind != "language_model" or evaluation else "",
        _kv_table("config", "Configuration", config, flatten=True),
        _kv_table("data", "Data", data, flatten=False),
    ])
    return _page(title, " · ".join(facts), body)


def render_ensemble_report(*, title: str, members: Sequence[Mapping], evaluation: dict | None = None,
                           date: str | None = None) -> str:
    """The HTML page of a saved ensemble: its validation figures and one row per member.

    ``members``: one dict per member with ``folder`` (its sub-folder), ``direction``, and optionally
    ``accuracy`` (its own validation accuracy) and ``report`` (True: link the member's own report.html).
    ``evaluation``: as in :func:`render_report`, for the ensemble's averaged probabilities.
    """
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")

    def name(m: Mapping) -> str:
        folder = _esc(m["folder"])
        return f'<a href="{folder}/report.html">{folder}</a>' if m.get("report") else folder

    rows = "".join(
        f'<tr><td class="key">{name(m)}</td><td class="value">{_esc(m.get("direction", DASH))}</td>'
        f'<td class="value">{_esc(_fmt(m.get("accuracy")))}</td></tr>' for m in members)
    table = ('<table class="kv"><thead><tr><th>member</th><th>direction</th><th>validation accuracy</th></tr>'
             f"</thead><tbody>{rows}</tbody></table>")
    note = ('<p class="note">The ensemble averages the members\' probabilities; the training curves of a member '
            "trained in this run are in its own report.</p>")
    body = "".join([_section("members", "Members", table + note),
                    _evaluation(evaluation) if evaluation else _section("evaluation", "Evaluation",
                                                                        _no_data("validation evaluation"))])
    facts = [f"Classifier ensemble of {len(members)}", date]
    return _page(title, " · ".join(facts), body)


def write_report(path: str | Path, **kwargs: Any) -> Path:
    """:func:`render_report` (same keyword arguments) written to ``path`` as UTF-8; returns the path."""
    path = Path(path)
    text = render_report(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def render_lr_find(*, title: str, lrs: list[float], losses: list[float], suggestion: float,
                   lr_min: float | None = None, date: str | None = None) -> str:
    """A full HTML page with the learning-rate finder's loss-vs-lr curve (log x), the suggested learning
    rate marked (and ``lr_min``, the loss minimum's lr / 10, when given). The y axis is clipped to the
    useful part: losses that blow up past four times the initial drop are cut off at the top."""
    if len(lrs) != len(losses):
        raise UsageError(f"render_lr_find: lrs and losses must have the same length; got {len(lrs)} and "
                         f"{len(losses)}")
    pts = list(zip(lrs, losses))
    good = _usable(pts, True, False)
    markers = [(suggestion, f"suggested lr {_fmt(suggestion, sci=True)}", PALETTE[1])]
    if lr_min is not None:
        markers.append((lr_min, f"min-loss lr / 10: {_fmt(lr_min, sci=True)}", "#555555"))
    y_range = None
    if len(good) >= 2:
        ys = [y for _, y in good]
        lo, first = min(ys), ys[0]
        cap = lo + 4 * max(first - lo, 1e-6)
        if max(ys) > cap:
            y_range = (lo, cap)
    chart = svg_line_chart({"loss": pts}, x_label="learning rate (log scale)", y_label="loss", log_x=True,
                           markers=markers, styles={"loss": "line"}, y_range=y_range)
    figures = {"suggested learning rate": _fmt(suggestion, sci=True)}
    if lr_min is not None:
        figures["min-loss lr / 10"] = _fmt(lr_min, sci=True)
    figures["points"] = len(good)
    body = _headline(figures) + _section("lr-find", "Loss vs learning rate", f'<div class="charts">{chart}</div>')
    return _page(title, f"Learning-rate finder · {date or _dt.datetime.now().strftime('%Y-%m-%d %H:%M')}", body)


def write_lr_find_plot(path: str | Path, result, title: str) -> Path:
    """Write an ``LRFinderResult``'s curve (suggestion and min-loss/10 marked) to ``path`` as HTML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_lr_find(title=title, lrs=list(result.lrs), losses=list(result.losses),
                          suggestion=result.suggestion, lr_min=result.lr_min)
    path.write_text(html, encoding="utf-8")
    return path

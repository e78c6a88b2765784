"""A small plotting engine on Pillow: line plots with nice-number ticks, axis labels and a legend.

Used for the loss picture: each key of ``metrics.jsonl`` (one JSON object per logged step,
``vjepa_jax.metrics``) against ``step``, with nice-number ticks, axis labels and
a legend; non-finite values are left out (and counted in the title).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vjepa_jax.errors import DataError

BACKGROUND = (255, 255, 255)
# Line colours (matplotlib's "tab10", readable on white).
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


class VisualizeError(DataError):
    """Input that cannot be drawn (no metrics, shapes that do not fit); says why."""


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k apart) covering ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(math.log(s / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def format_tick(value: float, ticks: Sequence[float]) -> str:
    """Tick label with the fewest decimals that tell all of ``ticks`` apart exactly."""
    largest = max(abs(t) for t in ticks)
    if largest >= 1e5 or 0 < largest < 1e-3:
        return f'{value:.2g}'
    step = min((abs(b - a) for a, b in itertools.pairwise(ticks)), default=1.0)
    for decimals in range(8):
        if all(abs(round(t, decimals) - t) <= 1e-6 * step for t in ticks):
            break
    return f'{value:.{decimals}f}'


def default_font(size: int) -> ImageFont.ImageFont:
    """Pillow's default font at ``size`` px where it scales (FreeType), else its bitmap font."""
    try:
        return ImageFont.load_default(size=size)  # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, AttributeError):
        return ImageFont.load_default()


def loss_curve_image(records: Sequence[dict[str, Any]], keys: Sequence[str] = ('loss',),
                     size: tuple[int, int] = (800, 500), log_y: bool = False,
                     title: str | None = None) -> np.ndarray:
    """Plot of ``keys`` against ``step``: uint8 ``[size[1], size[0], 3]``.

    Drawn at twice the size and downsampled, so lines and text are smooth.

    Raises:
      VisualizeError: none of ``keys`` has a finite value (or, with ``log_y``,
        a positive one).
    """
    series, skipped = {}, 0
    for key in keys:
        points = {}
        for r in records:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or not log_y):
                points[int(r['step'])] = float(v)  # a later record of a step wins
            elif v is not None:
                skipped += 1
        if points:
            steps = sorted(points)
            series[key] = (np.asarray(steps, np.float64),
                           np.asarray([points[s] for s in steps], np.float64))
    if not series:
        have = sorted({k for r in records for k in r} - {'step', 'time'})
        raise VisualizeError(f'no finite values for {", ".join(keys)} in the metrics '
                             f'({len(records)} records; keys present: '
                             f'{", ".join(have) or "none"}).')

    ss = 2  # supersampling
    width, height = size[0] * ss, size[1] * ss
    image = Image.new('RGB', (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = default_font(15 * ss), default_font(13 * ss)
    left, right, top, bottom = 90 * ss, 25 * ss, 45 * ss, 60 * ss
    x0, x1, y0, y1 = left, width - right, top, height - bottom  # plot area (y grows down)

    xs = np.concatenate([s for s, _ in series.values()])
    ys = np.concatenate([v for _, v in series.values()])
    tf = np.log10 if log_y else (lambda a: a)
    xlo, xhi = float(xs.min()), float(xs.max())
    ylo, yhi = float(tf(ys).min()), float(tf(ys).max())
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    if yhi == ylo:
        pad = abs(ylo) * 0.1 or 1.0
        ylo, yhi = ylo - pad, yhi + pad
    pad = 0.05 * (yhi - ylo)
    ylo, yhi = ylo - pad, yhi + pad

    def px(x):
        return x0 + (np.asarray(x) - xlo) / (xhi - xlo) * (x1 - x0)

    def py(y):
        return y1 - (np.asarray(tf(y)) - ylo) / (yhi - ylo) * (y1 - y0)

    grid_colour, axis_colour, text_colour = (225, 225, 225), (60, 60, 60), (20, 20, 20)
    xticks = nice_ticks(xlo, xhi)
    if log_y:
        yticks = [10.0 ** e for e in range(math.ceil(ylo), math.floor(yhi) + 1)]
        if len(yticks) < 2:  # less than a decade: linear ticks in the data range
            yticks = [t for t in nice_ticks(10 ** ylo, 10 ** yhi) if t > 0]
    else:
        yticks = nice_ticks(ylo, yhi)
    for t in xticks:
        x = float(px(t))
        draw.line([(x, y0), (x, y1)], fill=grid_colour, width=ss)
        draw.line([(x, y1), (x, y1 + 6 * ss)], fill=axis_colour, width=ss)
        label = format_tick(t, xticks)
        w = draw.textlength(label, font=small)
        draw.text((x - w / 2, y1 + 9 * ss), label, fill=text_colour, font=small)
    for t in yticks:
        y = float(py(t))
        draw.line([(x0, y), (x1, y)], fill=grid_colour, width=ss)
        draw.line([(x0 - 6 * ss, y), (x0, y)], fill=axis_colour, width=ss)
        label = f'{t:g}' if log_y else format_tick(t, yticks)
        w = draw.textlength(label, font=small)
        draw.text((x0 - 9 * ss - w, y - 8 * ss), label, fill=text_colour, font=small)
    draw.rectangle([x0, y0, x1, y1], outline=axis_colour, width=ss)

    for i, (key, (steps, values)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = list(zip(px(steps).tolist(), py(values).tolist(), strict=True))
        if len(points) > 1:
            draw.line(points, fill=colour, width=2 * ss, joint='curve')
        if len(points) <= 50:  # few points: mark them
            r = 3 * ss
            for x, y in points:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)

    # Legend: top right inside the plot, on a white box over the lines.
    labels = [f'{key} (last {values[-1]:.4g})' for key, (_, values) in series.items()]
    text_w = max(draw.textlength(label, font=small) for label in labels)
    box_left = x1 - text_w - 60 * ss
    box_bottom = y0 + (14 + 22 * len(labels)) * ss
    draw.rectangle([box_left, y0 + 6 * ss, x1 - 6 * ss, box_bottom], fill=BACKGROUND,
                   outline=grid_colour, width=ss)
    for i, label in enumerate(labels):
        ly = y0 + (12 + 22 * i) * ss
        draw.line([(box_left + 8 * ss, ly + 9 * ss), (box_left + 33 * ss, ly + 9 * ss)],
                  fill=PALETTE[i % len(PALETTE)], width=3 * ss)
        draw.text((box_left + 42 * ss, ly), label, fill=text_colour, font=small)

    xlabel = 'step'
    w = draw.textlength(xlabel, font=font)
    draw.text(((x0 + x1) / 2 - w / 2, height - 28 * ss), xlabel, fill=text_colour, font=font)
    ylabel = ', '.join(series) + (' (log scale)' if log_y else '')
    label_img = Image.new('RGB', (int(draw.textlength(ylabel, font=font)) + 4 * ss, 20 * ss),
                          BACKGROUND)
    ImageDraw.Draw(label_img).text((2 * ss, 0), ylabel, fill=text_colour, font=font)
    label_img = label_img.rotate(90, expand=True)
    image.paste(label_img, (8 * ss, int((y0 + y1) / 2 - label_img.height / 2)))
    heading = title or 'training loss'
    if skipped:
        heading += f'  ({skipped} non-finite values not shown)'
    w = draw.textlength(heading, font=font)
    draw.text(((x0 + x1) / 2 - w / 2, 12 * ss), heading, fill=text_colour, font=font)

    image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image)

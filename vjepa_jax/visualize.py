"""Pictures: PCA of patch features over a clip, and training loss curves (Pillow only).

Command line::

  python -m vjepa_jax.visualize pca --checkpoint C --video V --out pca.png \\
      [--frames N --frame-step 4 --crop S --which target_encoder --scale K --num-heads N]
  python -m vjepa_jax.visualize loss --workdir W --out loss.png [--keys loss loss/set0 --log-y]

PCA picture: the token features ``[T'*H'*W', D]`` of one clip are centred and
projected on their first 3 principal components; each component is scaled to
``[0, 1]`` by its min / max over the clip and shown as R, G, B. Row 1 holds the
input frames at the tubelet times (frame ``t * tubelet`` for token time ``t``),
row 2 the colour maps, each token a ``patch x patch`` block (nearest-neighbour
upsampling to the frame size). Regions the encoder represents alike get alike
colours; a constant map means the features do not vary over the clip.

Loss picture: each key of ``metrics.jsonl`` (one JSON object per logged step,
``vjepa_jax.metrics``) against ``step``, with nice-number ticks, axis labels and
a legend; non-finite values are left out (and counted in the title).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vjepa_jax.errors import DataError

GAP = 2                     # pixels between tiles of the PCA picture
BACKGROUND = (255, 255, 255)
# Line colours of the loss picture (matplotlib's "tab10", readable on white).
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


class VisualizeError(DataError):
    """Input that cannot be drawn (no metrics, shapes that do not fit); says why."""


# ------------------------------------------------------------------------------ PCA


def pca_colors(tokens: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """First 3 principal components of ``tokens`` as colours: float32 ``[T', H', W', 3]`` in [0, 1].

    Args:
      tokens: float ``[T'*H'*W', D]`` features of one clip, raster order ``(t, h, w)``.
      grid: ``(T', H', W')``.

    Each component is normalised by its min / max over the clip; a component
    without spread (identical tokens, or ``D`` or the token count below 3)
    is 0.5. Signs are fixed (largest loading positive), so the colours do not
    flip between runs.
    """
    grid = tuple(int(g) for g in grid)
    x = np.asarray(tokens, np.float64)
    if x.ndim != 2 or x.shape[0] != math.prod(grid):
        raise VisualizeError(f'tokens {x.shape} do not match grid {grid}: expected '
                             f'[{math.prod(grid)}, D].')
    x = x - x.mean(axis=0, keepdims=True)
    k = min(3, *x.shape)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:k]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    proj = x @ (vt * signs[:, None]).T                                   # [N, k]
    colors = np.full((x.shape[0], 3), 0.5)
    # Spread below this (relative to the features' scale) is rounding noise.
    tiny = 1e-9 * max(float(np.abs(np.asarray(tokens, np.float64)).max(initial=0.0)), 1e-30)
    for c in range(k):
        lo, hi = proj[:, c].min(), proj[:, c].max()
        if hi - lo > tiny:
            colors[:, c] = (proj[:, c] - lo) / (hi - lo)
    return colors.reshape(*grid, 3).astype(np.float32)


def _nearest_upsample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[h, w, C] -> [height, width, C]`` by nearest neighbour (exact blocks when divisible)."""
    rows = np.arange(height) * image.shape[0] // height
    cols = np.arange(width) * image.shape[1] // width
    return image[rows][:, cols]


def pca_image(frames: np.ndarray, tokens: np.ndarray, grid: Sequence[int],
              scale: int = 1) -> np.ndarray:
    """The PCA picture as uint8 ``[2*H*scale + GAP, T'*W*scale + (T'-1)*GAP, 3]``.

    Args:
      frames: uint8 ``[T, H, W, 3]``, the clip the tokens came from (after the
        crop), ``T`` a multiple of ``T'``.
      tokens: float ``[T'*H'*W', D]``.
      grid: ``(T', H', W')``.
      scale: integer nearest-neighbour enlargement (tiny clips).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VisualizeError(f'frames must be uint8 [T, H, W, 3], got {frames.dtype} '
                             f'{frames.shape}.')
    t_tokens = int(grid[0])
    if t_tokens < 1 or frames.shape[0] % t_tokens:
        raise VisualizeError(f'{frames.shape[0]} frames do not split into {t_tokens} '
                             'tubelets.')
    scale = int(scale)
    if scale < 1:
        raise VisualizeError(f'scale must be >= 1, got {scale}.')
    colors = (pca_colors(tokens, grid) * 255.0 + 0.5).astype(np.uint8)  # [T', H', W', 3]
    tubelet = frames.shape[0] // t_tokens
    h, w = frames.shape[1] * scale, frames.shape[2] * scale
    out = np.full((2 * h + GAP, t_tokens * w + (t_tokens - 1) * GAP, 3), BACKGROUND, np.uint8)
    for t in range(t_tokens):
        left = t * (w + GAP)
        out[:h, left:left + w] = _nearest_upsample(frames[t * tubelet], h, w)
        out[h + GAP:, left:left + w] = _nearest_upsample(colors[t], h, w)
    return out


def pca_figure(frames: np.ndarray, tokens: np.ndarray, grid: Sequence[int],
               out_path: str | os.PathLike, scale: int = 1) -> Path:
    """Writes :func:`pca_image` as a PNG; returns the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pca_image(frames, tokens, grid, scale)).save(out, format='PNG')
    return out


# ------------------------------------------------------------------------------ loss curve


def read_metrics(metrics_jsonl: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    path = Path(metrics_jsonl)
    if not path.is_file():
        raise FileNotFoundError(f'No metrics file at {path} (a training workdir holds '
                                'metrics.jsonl after its first log step).')
    records = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and 'step' in record:
                records.append(record)
    return records


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k apart) covering ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(math.log(s / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _format_tick(value: float, ticks: Sequence[float]) -> str:
    """Tick label with the fewest decimals that tell all of ``ticks`` apart exactly."""
    largest = max(abs(t) for t in ticks)
    if largest >= 1e5 or 0 < largest < 1e-3:
        return f'{value:.2g}'
    step = min((abs(b - a) for a, b in itertools.pairwise(ticks)), default=1.0)
    for decimals in range(8):
        if all(abs(round(t, decimals) - t) <= 1e-6 * step for t in ticks):
            break
    return f'{value:.{decimals}f}'


def _font(size: int) -> ImageFont.ImageFont:
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
    font, small = _font(15 * ss), _font(13 * ss)
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
    xticks = _nice_ticks(xlo, xhi)
    if log_y:
        yticks = [10.0 ** e for e in range(math.ceil(ylo), math.floor(yhi) + 1)]
        if len(yticks) < 2:  # less than a decade: linear ticks in the data range
            yticks = [t for t in _nice_ticks(10 ** ylo, 10 ** yhi) if t > 0]
    else:
        yticks = _nice_ticks(ylo, yhi)
    for t in xticks:
        x = float(px(t))
        draw.line([(x, y0), (x, y1)], fill=grid_colour, width=ss)
        draw.line([(x, y1), (x, y1 + 6 * ss)], fill=axis_colour, width=ss)
        label = _format_tick(t, xticks)
        w = draw.textlength(label, font=small)
        draw.text((x - w / 2, y1 + 9 * ss), label, fill=text_colour, font=small)
    for t in yticks:
        y = float(py(t))
        draw.line([(x0, y), (x1, y)], fill=grid_colour, width=ss)
        draw.line([(x0 - 6 * ss, y), (x0, y)], fill=axis_colour, width=ss)
        label = f'{t:g}' if log_y else _format_tick(t, yticks)
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


def loss_curve(metrics_jsonl: str | os.PathLike, out_path: str | os.PathLike,
               keys: Sequence[str] = ('loss',), log_y: bool = False,
               size: tuple[int, int] = (800, 500)) -> Path:
    """Writes a PNG plot of ``keys`` vs ``step`` from a ``metrics.jsonl``; returns the path."""
    records = read_metrics(metrics_jsonl)
    image = loss_curve_image(records, keys, size=size, log_y=log_y,
                             title=f'{Path(metrics_jsonl).parent.name or "run"}: '
                                   f'{", ".join(keys)}')
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out, format='PNG')
    return out


# ------------------------------------------------------------------------------ CLI


def _pca_command(args: argparse.Namespace) -> str:
    import jax

    from vjepa_jax.encoder_loading import load_encoder
    from vjepa_jax.extract import load_clip
    from vjepa_jax.input.normalize import normalize_video

    import_kwargs = {k: v for k, v in (('num_heads', args.num_heads),
                                       ('num_frames', args.num_frames),
                                       ('img_size', args.img_size)) if v is not None}
    encoder, params = load_encoder(args.checkpoint, args.which, **import_kwargs)
    frames = args.frames or encoder.num_frames
    crop = args.crop or encoder.img_size
    try:
        grid = encoder.input_grid((1, frames, crop, crop, 3))
    except ValueError as e:
        raise VisualizeError(str(e)) from None
    clip = load_clip(args.video, frames, args.frame_step, crop)
    tokens = jax.jit(lambda p, v: encoder.apply({'params': p}, normalize_video(v)))(
        params, clip[None])
    scale = args.scale or max(1, 160 // crop)
    out = pca_figure(clip, np.asarray(tokens[0], np.float32), grid, args.out, scale)
    return f'wrote {out} (token grid {grid}, {frames} frames of {crop} x {crop})'


def _loss_command(args: argparse.Namespace) -> str:
    source = Path(args.workdir)
    metrics = source if source.is_file() else source / 'metrics.jsonl'
    out = loss_curve(metrics, args.out, keys=args.keys, log_y=args.log_y)
    return f'wrote {out}'


def main(argv: Sequence[str] | None = None) -> int:
    from vjepa_jax.extract import USER_ERRORS
    from vjepa_jax.input.video import VideoError

    parser = argparse.ArgumentParser(prog='python -m vjepa_jax.visualize',
                                     description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    pca = sub.add_parser('pca', help='PCA of one clip\'s patch features, next to its frames')
    pca.add_argument('--checkpoint', required=True,
                     help='official .pth.tar, converted checkpoint directory or training workdir')
    pca.add_argument('--video', required=True, help='a video file')
    pca.add_argument('--out', required=True, help='output .png')
    pca.add_argument('--frames', type=int, default=None, help='default: the model\'s')
    pca.add_argument('--frame-step', type=int, default=4)
    pca.add_argument('--crop', type=int, default=None, help='default: the model\'s resolution')
    pca.add_argument('--which', default='target_encoder', choices=('target_encoder', 'encoder'))
    pca.add_argument('--scale', type=int, default=None,
                     help='integer enlargement (default: frames at least 160 px)')
    pca.add_argument('--num-heads', type=int, default=None, help='official files only')
    pca.add_argument('--num-frames', type=int, default=None, help='official files only')
    pca.add_argument('--img-size', type=int, default=None, help='official files only')
    pca.set_defaults(run=_pca_command)
    loss = sub.add_parser('loss', help='loss vs step from WORKDIR/metrics.jsonl')
    loss.add_argument('--workdir', required=True, help='training workdir (or a metrics.jsonl)')
    loss.add_argument('--out', required=True, help='output .png')
    loss.add_argument('--keys', nargs='+', default=['loss'],
                      help='metrics to plot (default: loss)')
    loss.add_argument('--log-y', action='store_true', help='logarithmic y axis')
    loss.set_defaults(run=_loss_command)
    args = parser.parse_args(argv)
    logging.getLogger('absl').setLevel(logging.ERROR)  # orbax's notes on metadata files
    try:
        message = args.run(args)
    except (*USER_ERRORS, VisualizeError, VideoError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(message, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Picture of one matched set: frames of a possible and an impossible video, and their surprise.

  python -m vjepa_jax.tools.surprise_plot --results surprise.json --out surprise.png \\
      [--set teleport/0003] [--frame-step 2]

``--results`` is the JSON of ``python -m vjepa_jax.evaluation.surprise --out``
(one or more files: every file adds its curves, e.g. pretrained and random init).
The top rows show the sampled frames of the set's first possible and first
impossible clip; below, each clip's surprise per window, plotted at the
window's first predicted frame, so a jump sits under the frame that caused it.
Without ``--set``, the set where the first file's impossible clip stands out
most (its largest curve gap) is drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vjepa_jax.errors import DataError, cli_exit
from vjepa_jax.evaluation.surprise_clips import read_clip

SCALE = 3                   # enlargement of the tiny frames
PLOT_HEIGHT = 180
MARGIN = 40
COLOURS = {(False, 0): (31, 119, 180), (True, 0): (214, 39, 40),
           (False, 1): (140, 180, 210), (True, 1): (240, 150, 150)}


def _load(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f'{path}: cannot read surprise results ({e}); write them with '
                        '`python -m vjepa_jax.evaluation.surprise --out`.') from e


def pick_set(results: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The named set, or the one whose impossible clip's curve rises most above its possible's."""
    sets = results['sets']
    if name is not None:
        for s in sets:
            if s['name'] == name:
                return s
        raise DataError(f'no matched set {name!r} in the results (e.g. {sets[0]["name"]!r}).')

    def gap(s):
        good = [np.max(c['curve']) for c in s['clips'] if not c['impossible']]
        bad = [np.max(c['curve']) for c in s['clips'] if c['impossible']]
        return max(bad) - min(good)
    return max(sets, key=gap)


def _pair(s: dict[str, Any]) -> tuple[dict, dict]:
    possible = next(c for c in s['clips'] if not c['impossible'])
    impossible = next(c for c in s['clips'] if c['impossible'])
    return possible, impossible


def surprise_picture(results: Sequence[dict[str, Any]], set_name: str | None = None,
                     frame_step: int = 2, labels: Sequence[str] = ()) -> Image.Image:
    """The picture (module doc) for the chosen set; ``labels`` name the result files."""
    chosen = pick_set(results[0], set_name)
    possible, impossible = _pair(chosen)
    protocol = results[0]['protocol']
    stride = protocol['stride']
    context = min(protocol['context_frames'])
    size = int(results[0].get('crop_size', 32))
    strips = []
    for clip in (possible, impossible):
        frames = np.kron(read_clip(clip['path'], frame_step, size),
                         np.ones((1, SCALE, SCALE, 1), np.uint8))
        strips.append(np.concatenate(list(frames), axis=1))
    width = max(s.shape[1] for s in strips)
    frame_w = size * SCALE
    font = ImageFont.load_default()
    top = 14
    height = top + sum(s.shape[0] + 14 for s in strips) + PLOT_HEIGHT + MARGIN
    image = Image.new('RGB', (width + 2 * MARGIN, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 0), f'matched set {chosen["name"]} ({chosen["violation"]})',
              fill=(0, 0, 0), font=font)
    y = top
    for strip, clip in zip(strips, (possible, impossible)):
        draw.text((MARGIN, y), ('impossible: ' if clip['impossible'] else 'possible: ')
                  + Path(clip['path']).name, fill=COLOURS[(clip['impossible'], 0)], font=font)
        image.paste(Image.fromarray(strip), (MARGIN, y + 12))
        y += strip.shape[0] + 14
    curves = [(r, label, c) for i, (r, label) in enumerate(zip(results, [*labels, *[''] * 9]))
              for c in _pair(next(s for s in r['sets'] if s['name'] == chosen['name']))]
    values = np.concatenate([np.asarray(c['curve']) for _, _, c in curves])
    lo, hi = float(values.min()), float(values.max())
    hi = hi if hi > lo else lo + 1.0
    y0, y1 = y + 6, y + 6 + PLOT_HEIGHT
    draw.rectangle((MARGIN, y0, MARGIN + width, y1), outline=(120, 120, 120))
    draw.text((2, y0), f'{hi:.3g}', fill=(0, 0, 0), font=font)
    draw.text((2, y1 - 10), f'{lo:.3g}', fill=(0, 0, 0), font=font)
    for index, (r, label, clip) in enumerate(curves):
        curve = np.asarray(clip['curve'])
        file_index = index // 2
        points = [(MARGIN + (k * stride + context + 0.5) * frame_w,
                   y1 - (v - lo) / (hi - lo) * (PLOT_HEIGHT - 4) - 2)
                  for k, v in enumerate(curve)]
        colour = COLOURS[(clip['impossible'], min(file_index, 1))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        legend = f'{label + ": " if label else ""}{"impossible" if clip["impossible"] else "possible"}'
        draw.text((MARGIN + 4 + 150 * index, y1 + 6), legend, fill=colour, font=font)
    draw.text((MARGIN, y1 + 22), 'surprise per window, at its first predicted frame',
              fill=(80, 80, 80), font=font)
    return image


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--results', nargs='+', required=True)
    parser.add_argument('--labels', nargs='*', default=[])
    parser.add_argument('--set', default=None, help='matched set name (default: clearest)')
    parser.add_argument('--frame-step', type=int, default=2)
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)

    def run() -> str:
        results = [_load(p) for p in args.results]
        picture = surprise_picture(results, args.set, args.frame_step, args.labels)
        picture.save(args.out)
        return pick_set(results[0], args.set)['name']

    name = cli_exit(run)
    how = 'chosen' if args.set else 'the clearest one for the first results file'
    print(f'surprise curves of matched set {name} ({how}): {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Picture of one matched set: frames of a possible and an impossible video, and their surprise.

  python -m vjepa_jax.tools.surprise_plot --results surprise.json --out surprise.png \\
      [--set teleport/0003] [--frame-step 2]

``--results`` is the JSON of ``python -m vjepa_jax.evaluation.surprise --out``
(one or more files: every file adds its curves, e.g. pretrained and random init).
The top rows show the sampled frames of the set's first possible and first
impossible clip; below, each clip's surprise per window, plotted at the
window's first predicted frame, so a jump sits under the frame that caused it.
Without ``--set``, the clearest example for the first file is drawn: the set
and pair (an impossible clip and the possible clip with the same start) where
the impossible curve rises most above the possible one. It illustrates; the
tables of ``evaluation.surprise`` are the result.
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
COLOURS = {(False, 0): (31, 119, 180), (True, 0): (214, 39, 40)}


def _load(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f'{path}: cannot read surprise results ({e}); write them with '
                        '`python -m vjepa_jax.evaluation.surprise --out`.') from e


def best_pair(s: dict[str, Any]) -> tuple[dict, dict]:
    """``(possible, impossible)`` clips of a set that share their start, the clearest first.

    Each impossible clip is matched with the possible clip whose first window
    has the same surprise (the same frames before the event); of those pairs,
    the one where the impossible clip rises most above its partner.
    """
    pairs = []
    for bad in (c for c in s['clips'] if c['impossible']):
        good = min((c for c in s['clips'] if not c['impossible']),
                   key=lambda c: abs(c['curve'][0] - bad['curve'][0]))
        pairs.append((float(np.max(np.subtract(bad['curve'], good['curve']))), good, bad))
    _, good, bad = max(pairs, key=lambda p: p[0])
    return good, bad


def pick_set(results: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The named set, or the one whose impossible clip rises most above its matched partner."""
    sets = results['sets']
    if name is not None:
        for s in sets:
            if s['name'] == name:
                return s
        raise DataError(f'no matched set {name!r} in the results (e.g. {sets[0]["name"]!r}).')

    def gap(s):
        good, bad = best_pair(s)
        return float(np.max(np.subtract(bad['curve'], good['curve'])))
    return max(sets, key=gap)


def surprise_picture(results: Sequence[dict[str, Any]], set_name: str | None = None,
                     frame_step: int = 2, labels: Sequence[str] = ()) -> Image.Image:
    """The picture (module doc) for the chosen set; ``labels`` name the result files.

    One plot panel per results file, each on its own scale (a random-init
    model's errors are an order of magnitude larger).
    """
    chosen = pick_set(results[0], set_name)
    possible, impossible = best_pair(chosen)
    protocol = results[0]['protocol']
    stride = protocol['stride']
    context = min(protocol['context_frames'])
    size = int(results[0].get('crop_size', 32))
    strips = []
    for clip in (possible, impossible):
        frames = np.kron(read_clip(clip['path'], frame_step, size),
                         np.ones((1, SCALE, SCALE, 1), np.uint8))
        strips.append(np.concatenate(list(frames), axis=1))
    width = max(st.shape[1] for st in strips)
    frame_w = size * SCALE
    font = ImageFont.load_default()
    top = 14
    panel = PLOT_HEIGHT + 30
    height = top + sum(st.shape[0] + 14 for st in strips) + panel * len(results) + 20
    image = Image.new('RGB', (width + 2 * MARGIN, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 0), f'matched set {chosen["name"]} ({chosen["violation"]}); surprise '
              'per window, plotted at its first predicted frame', fill=(0, 0, 0), font=font)
    y = top
    for strip, clip in zip(strips, (possible, impossible)):
        draw.text((MARGIN, y), ('impossible: ' if clip['impossible'] else 'possible: ')
                  + Path(clip['path']).name, fill=COLOURS[(clip['impossible'], 0)], font=font)
        image.paste(Image.fromarray(strip), (MARGIN, y + 12))
        y += strip.shape[0] + 14
    names = [*labels, *[f'results {i + 1}' for i in range(len(labels), len(results))]]
    for index, (result, label) in enumerate(zip(results, names)):
        match = next(st for st in result['sets'] if st['name'] == chosen['name'])
        by_path = {c['path']: c for c in match['clips']}
        clips = [by_path[possible['path']], by_path[impossible['path']]]
        values = np.concatenate([np.asarray(c['curve']) for c in clips])
        lo, hi = float(values.min()), float(values.max())
        hi = hi if hi > lo else lo + 1.0
        y0 = y + 6 + index * panel
        y1 = y0 + PLOT_HEIGHT
        draw.rectangle((MARGIN, y0, MARGIN + width, y1), outline=(120, 120, 120))
        draw.text((2, y0), f'{hi:.3g}', fill=(0, 0, 0), font=font)
        draw.text((2, y1 - 10), f'{lo:.3g}', fill=(0, 0, 0), font=font)
        # Each panel has its own scale: say how big its spread is.
        draw.text((MARGIN + 6, y0 + 4), f'{label}: the curves span {lo:.3g} - {hi:.3g} '
                  f'({(hi - lo) / max(abs(lo), 1e-12):.0%} of the lowest)', fill=(80, 80, 80),
                  font=font)
        for k, clip in enumerate(clips):
            colour = COLOURS[(clip['impossible'], 0)]
            points = [(MARGIN + (w * stride + context + 0.5) * frame_w,
                       y1 - (v - lo) / (hi - lo) * (PLOT_HEIGHT - 4) - 2)
                      for w, v in enumerate(clip['curve'])]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            for px, py in points:
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
            kind = 'impossible' if clip['impossible'] else 'possible'
            draw.text((MARGIN + 4 + 120 * k, y1 + 4), f'{label}: {kind}', fill=colour,
                      font=font)
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

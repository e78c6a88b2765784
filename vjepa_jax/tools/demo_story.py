"""The last step of ``make demo``: what V-JEPA learned by watching, in three results.

  python -m vjepa_jax.tools.demo_story runs/demo

Reads, under the demo run directory:

* ``surprise_pretrained.json`` / ``surprise_random.json``: the violation-of-
  expectation test (``python -m vjepa_jax.evaluation.surprise --out``) of the
  pretrained model and of the same architecture at random init;
* ``probe_pretrained/results.json`` / ``probe_random/results.json``: the
  attentive probe on the labelled moving-shapes task (``evaluation.job``);
* the pictures ``loss.png``, ``pca.png``, ``surprise.png`` when present,

and prints the surprise table per violation type (mean over windows, the
official relative accuracy, with standard errors), the probe accuracies with
their binomial standard errors, why random init is strong there, and where the
pictures are. ``--strict``: exit status 1 when the pretrained model's mean
relative accuracy is below ``--goal`` (85 %).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vjepa_jax.errors import DataError, cli_exit

SURPRISE = {'pretrained': 'surprise_pretrained.json', 'random init': 'surprise_random.json'}
PROBES = {'pretrained': 'probe_pretrained', 'random init': 'probe_random'}
PICTURES = ('loss.png', 'pca.png', 'surprise.png')


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f'{path} does not exist: run `make demo` (it resumes where it stopped).')
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f'{path}: not valid JSON ({e}); delete it and rerun `make demo`.') from e


def surprise_section(run: Path, goal: float) -> tuple[list[str], float]:
    """The table of both models and the pretrained mean relative accuracy."""
    tables = {name: _json(run / f)['tables']['mean'] for name, f in SURPRISE.items()}
    kinds = list(tables['pretrained'])
    width = max(len(k) for k in kinds) + 6
    lines = [('violation-of-expectation test: share of matched sets where the impossible '
              'videos surprise the model more'),
             ('(relative accuracy %, chance 50; surprise = mean prediction error over the '
              'sliding windows)'),
             f'  {"violation type":<{width}}' + ''.join(f'{m:>18}' for m in tables)]
    for kind in kinds:
        n = tables['pretrained'][kind]['n']
        label = 'mean over types' if kind == 'mean' else f'{kind} ({n})'
        cells = ''.join(f'{t[kind]["percent"]:10.1f} +- {t[kind]["stderr"]:4.1f}'
                        for t in tables.values())
        lines.append(f'  {label:<{width}}{cells}')
    mean = tables['pretrained']['mean']['percent']
    verdict = 'reached' if mean >= goal else 'NOT reached'
    lines.append(f'  goal: pretrained >= {goal:g}% on average ({verdict}), random init near '
                 f'50% (it is {tables["random init"]["mean"]["percent"]:.1f}%)')
    return lines, mean


def probe_section(run: Path) -> list[str]:
    results = {}
    for name, folder in PROBES.items():
        r = _json(run / folder / 'results.json')
        p = r['best']['top1']
        n = r['num_val']
        results[name] = (p, 100 * math.sqrt(max(p * (100 - p), 100.0) / 1e4 / n), n,
                         r['num_classes'])
    (a, se_a, n, classes), (b, se_b, _, _) = results['pretrained'], results['random init']
    why = (f'Why random init is strong here: the class is the motion of the shapes, and each '
           f'token of a random ViT already mixes the two frames of its tubelet, so it carries '
           f'the displacement; an attentive probe trained on {classes} labels reads it '
           f'(docs/evaluation.md: 86% at random init, 52-68% after a few CPU minutes of '
           f'pretraining on these very videos, with our code and with Meta\'s; the demo\'s '
           f'encoder watched the physics world instead). The surprise test needs no labels '
           f'and no probe: it shows what the model learned to predict.')
    return [(f'attentive probe (labelled, frozen encoder) on {n} held-out moving-shapes '
             f'videos ({classes} motion classes, chance {100 / classes:.1f}%):'),
            f'  pretrained {a:5.1f} +- {se_a:.1f}%   random init {b:5.1f} +- {se_b:.1f}%',
            *('  ' + line for line in textwrap.wrap(why, 86))]


def story(run: str | Path, goal: float = 85.0) -> tuple[str, bool]:
    """``(text, goal_reached)`` for the demo run directory ``run``."""
    run = Path(run)
    surprise, mean = surprise_section(run, goal)
    lines = ['=' * 24 + ' what V-JEPA learned by watching ' + '=' * 24, *surprise, '',
             *probe_section(run)]
    pictures = [str(run / p) for p in PICTURES if (run / p).is_file()]
    if pictures:
        lines += ['', 'pictures: ' + ', '.join(pictures)]
    return '\n'.join(lines), mean >= goal


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run', help='the demo run directory (runs/demo)')
    parser.add_argument('--goal', type=float, default=85.0,
                        help='pretrained mean relative accuracy to reach (%%)')
    parser.add_argument('--strict', action='store_true',
                        help='exit with status 1 when the goal is not reached')
    args = parser.parse_args(argv)
    text, ok = cli_exit(lambda: story(args.run, args.goal))
    print(text)
    return 1 if args.strict and not ok else 0


if __name__ == '__main__':
    sys.exit(main())

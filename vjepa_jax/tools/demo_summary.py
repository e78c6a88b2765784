"""The last step of ``make demo``: pretrained vs random-init probe accuracy, side by side.

  python -m vjepa_jax.tools.demo_summary runs/demo [--min-margin 10]

Reads ``RUN/probe_pretrained/results.json`` and ``RUN/probe_random/results.json``
(``evaluation.job``), prints both top-1 accuracies, the margin and where the
pictures are. A margin below ``--min-margin`` points is reported plainly; with
``--strict`` it also makes the exit status 1. A missing result ends in one
``error: ...`` line (``errors.cli_exit``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vjepa_jax.errors import DataError, cli_exit
from vjepa_jax.evaluation.job import read_results

PRETRAINED_DIR, RANDOM_DIR = 'probe_pretrained', 'probe_random'
PICTURES = ('loss.png', 'pca.png')


class DemoNotRunError(DataError, FileNotFoundError):
    """A probe result of the demo is missing (its step has not run)."""


def _results(directory: Path) -> dict:
    try:
        return read_results(directory)
    except FileNotFoundError as e:
        raise DemoNotRunError(f'{e} (run `make demo` first)') from None


def summary(run: str | Path, min_margin: float = 10.0) -> tuple[str, bool]:
    """``(text, margin_ok)`` for the demo run directory ``run``."""
    run = Path(run)
    pretrained = _results(run / PRETRAINED_DIR)
    random = _results(run / RANDOM_DIR)
    a, b = pretrained['best']['top1'], random['best']['top1']
    n, classes = pretrained['num_val'], pretrained['num_classes']
    margin = a - b
    ok = margin >= min_margin
    lines = [
        '=' * 20 + ' demo result ' + '=' * 20,
        (f'attentive probe top-1 on {n} held-out videos ({classes} classes, chance '
        f'{100 / classes:.1f}%), best of the probe grid:'),
        f'  pretrained encoder:         {a:6.2f}%   ({pretrained["encoder"]["checkpoint"]})',
        f'  same encoder, random init:  {b:6.2f}%',
        f'  margin: {margin:+.2f} points '
        + ('(pretraining helps)' if ok else f'(BELOW the expected {min_margin:g} points)'),
    ]
    pictures = [str(run / p) for p in PICTURES if (run / p).is_file()]
    if pictures:
        lines.append('pictures: ' + ', '.join(pictures))
    return '\n'.join(lines), ok


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the summary; exit status 1 with ``--strict`` and a small margin, 2 for a mistake."""
    parser = argparse.ArgumentParser(prog='python -m vjepa_jax.tools.demo_summary',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('run', help='the demo run directory (runs/demo)')
    parser.add_argument('--min-margin', type=float, default=10.0,
                        help='points by which the pretrained encoder should win')
    parser.add_argument('--strict', action='store_true',
                        help='exit with status 1 when the margin is below --min-margin')
    args = parser.parse_args(argv)
    text, ok = cli_exit(lambda: summary(args.run, args.min_margin))
    print(text)
    return 1 if args.strict and not ok else 0


if __name__ == '__main__':
    sys.exit(main())

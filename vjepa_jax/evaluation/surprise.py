"""Violation-of-expectation test: is a JEPA more surprised by impossible videos than possible ones?

``evaluate_surprise(models, sets)`` runs the official intuitive-physics
protocol (Garrido et al. 2025; ``surprise_windows``) on every clip of every
matched set, summarises each clip's surprise curve by its mean over windows
(the official "relative accuracy (avg)"; the max is reported too), and scores
the sets (``surprise_scoring``): per violation type, the share of sets whose
impossible clips are the more surprising, chance 50 %. With several context
lengths, each window's surprise is the minimum over them (the official
"filtered" score). No labels, no probe, no training. docs/surprise.md has the
protocol, the deviations and the matched-sets format.

  python -m vjepa_jax.evaluation.surprise --checkpoint runs/demo/pretrain \\
      --sets data/physics/test_sets.txt [--random-init] [--out surprise.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from vjepa_jax.errors import ConfigError, cli_exit
from vjepa_jax.evaluation.jepa_loading import JepaModels, load_jepa
from vjepa_jax.evaluation.matched_sets import MatchedSet, read_matched_sets
from vjepa_jax.evaluation.surprise_clips import read_clip
from vjepa_jax.evaluation.surprise_scoring import (
    Accuracy,
    format_table,
    relative_accuracy,
)
from vjepa_jax.evaluation.surprise_windows import surprise_curves

SUMMARIES = ('mean', 'max')


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How clips are cut into windows: sampling, stride and context lengths (in frames)."""

    frame_step: int = 2
    stride: int = 2
    context_frames: tuple[int, ...] = (4,)

    def check(self) -> None:
        if self.frame_step < 1 or self.stride < 1 or not self.context_frames:
            raise ConfigError(f'frame_step ({self.frame_step}) and stride ({self.stride}) must '
                              'be >= 1 and context_frames non-empty.')


@dataclasses.dataclass
class SurpriseResult:
    """Curves ``[W]`` per clip (``curves[set][clip]``) and tables per summary statistic."""

    sets: list[MatchedSet]
    curves: dict[str, list[np.ndarray]]
    tables: dict[str, dict[str, Accuracy]]
    protocol: Protocol
    crop_size: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            'protocol': dataclasses.asdict(self.protocol),
            'crop_size': self.crop_size,
            'tables': {stat: {k: dataclasses.asdict(a) for k, a in table.items()}
                       for stat, table in self.tables.items()},
            'seconds': self.seconds,
            'sets': [{'name': s.name, 'violation': s.violation,
                      'clips': [{'path': c, 'impossible': bad, 'curve': curve.tolist()}
                                for c, bad, curve in zip(s.clips, s.impossible,
                                                         self.curves[s.name])]}
                     for s in self.sets],
        }


def evaluate_surprise(models: JepaModels, sets: Sequence[MatchedSet],
                      protocol: Protocol = Protocol(), *, group: int = 8,
                      progress: bool = False) -> SurpriseResult:
    """Surprise curves of every clip and the relative accuracy tables (``'mean'``, ``'max'``).

    ``group``: sets whose windows are batched together (memory vs speed).
    """
    protocol.check()
    start = time.perf_counter()
    size = models.encoder.img_size
    curves: dict[str, list[np.ndarray]] = {}
    for g in range(0, len(sets), group):
        chunk = sets[g:g + group]
        clips = [read_clip(c, protocol.frame_step, size) for s in chunk for c in s.clips]
        per_clip = surprise_curves(models, clips, protocol.context_frames, protocol.stride)
        it = iter(per_clip)
        for s in chunk:
            # The official "filtered" surprise: per window, the best context length.
            curves[s.name] = [next(it).min(axis=0) for _ in s.clips]
        if progress:
            done = min(g + group, len(sets))
            print(f'  surprise: {done}/{len(sets)} sets ({time.perf_counter() - start:.0f} s)',
                  file=sys.stderr, flush=True)
    tables = {}
    for stat in SUMMARIES:
        reduce = np.mean if stat == 'mean' else np.max
        scores = {name: [float(reduce(c)) for c in cs] for name, cs in curves.items()}
        tables[stat] = relative_accuracy(sets, scores)
    return SurpriseResult(list(sets), curves, tables, protocol, size,
                          time.perf_counter() - start)


def first_of_each_type(sets: Sequence[MatchedSet], n: int) -> list[MatchedSet]:
    """The first ``n`` sets of every violation type, in file order."""
    seen: dict[str, int] = {}
    out = []
    for s in sets:
        seen[s.violation] = seen.get(s.violation, 0) + 1
        if seen[s.violation] <= n:
            out.append(s)
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m vjepa_jax.evaluation.surprise',
        description='Violation-of-expectation test of a pretrained JEPA on matched clip sets '
                    '(docs/surprise.md).')
    p.add_argument('--checkpoint', required=True,
                   help='pretraining workdir (or step), official .pth.tar, converted dir')
    p.add_argument('--sets', required=True, help='matched-sets file (SET TYPE LABEL PATH)')
    p.add_argument('--random-init', action='store_true',
                   help='the same architecture at random init instead of the weights')
    p.add_argument('--seed', type=int, default=0, help='random-init seed')
    p.add_argument('--frame-step', type=int, default=Protocol.frame_step)
    p.add_argument('--stride', type=int, default=Protocol.stride,
                   help='window stride in sampled frames')
    p.add_argument('--context-frames', type=int, nargs='+', default=list(Protocol.context_frames),
                   help='context lengths in frames (several: per window the minimum)')
    p.add_argument('--limit', type=int, default=0,
                   help='only the first N sets of each violation type (0: all)')
    p.add_argument('--out', help='write the curves and tables as JSON here')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: prints the table (mean and max summaries); returns the exit status."""
    args = _parser().parse_args(argv)

    def run() -> SurpriseResult:
        sets = read_matched_sets(args.sets)
        if args.limit:
            sets = first_of_each_type(sets, args.limit)
        models = load_jepa(args.checkpoint, random_init=args.random_init, seed=args.seed)
        protocol = Protocol(args.frame_step, args.stride, tuple(args.context_frames))
        return evaluate_surprise(models, sets, protocol, progress=True)

    result = cli_exit(run)
    name = 'random init' if args.random_init else 'pretrained'
    print(f'relative accuracy (%), {name} {args.checkpoint}, {len(result.sets)} matched sets, '
          f'{result.seconds:.0f} s')
    print(format_table({f'{name} (mean)': result.tables['mean'],
                        f'{name} (max)': result.tables['max']}))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'checkpoint': args.checkpoint, 'random_init': args.random_init,
                       **result.to_json()}, f)
        print(f'curves and tables: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Relative accuracy of surprise scores on matched sets, per violation type, with errors.

A matched set counts as correct when its impossible clips are, on average,
more surprising than its possible ones (IntPhys's relative score; for a pair
it is the official V-JEPA intuitive-physics "relative accuracy": the impossible
member of the pair has the higher surprise). A tie counts one half, so a model
whose surprise ignores the video scores exactly 50 %. The standard error of a
type's accuracy ``p`` over ``n`` sets is the binomial ``sqrt(p (1 - p) / n)``
(with ``p`` floored at ``1 / n`` away from 0 and 1, so a perfect score on few
sets does not claim zero error); the mean over types has
``sqrt(sum SE_k^2) / K``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from vjepa_jax.errors import DataError
from vjepa_jax.evaluation.matched_sets import MatchedSet


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """Relative accuracy (%) over ``n`` sets and its standard error (points)."""

    percent: float
    stderr: float
    n: int


def set_correct(scores: Sequence[float], impossible: Sequence[bool]) -> float:
    """1, 0.5 (tie) or 0: whether the impossible clips' mean score beats the possible ones'."""
    scores = np.asarray(scores, np.float64)
    bad = np.asarray(impossible, bool)
    if scores.shape != bad.shape or bad.all() or not bad.any():
        raise DataError(f'a matched set needs one score per clip and both labels; got '
                        f'{scores.size} scores for labels {bad.tolist()}')
    gap = scores[bad].mean() - scores[~bad].mean()
    return 1.0 if gap > 0 else 0.5 if gap == 0 else 0.0


def _accuracy(correct: Sequence[float]) -> Accuracy:
    n = len(correct)
    p = float(np.mean(correct))
    q = min(max(p, 1.0 / n), 1.0 - 1.0 / n) if n > 1 else 0.5
    return Accuracy(100.0 * p, 100.0 * math.sqrt(q * (1 - q) / n), n)


def relative_accuracy(sets: Sequence[MatchedSet], scores: Mapping[str, Sequence[float]]
                      ) -> dict[str, Accuracy]:
    """Per violation type (sorted) plus ``'mean'`` (the mean over types).

    ``scores[set.name]``: one surprise per clip of that set, in the set's order.
    """
    by_type: dict[str, list[float]] = {}
    for s in sets:
        if s.name not in scores:
            raise DataError(f'no surprise scores for matched set {s.name!r}')
        by_type.setdefault(s.violation, []).append(set_correct(scores[s.name], s.impossible))
    if not by_type:
        raise DataError('no matched sets to score')
    table = {kind: _accuracy(by_type[kind]) for kind in sorted(by_type)}
    per_type = list(table.values())
    table['mean'] = Accuracy(
        float(np.mean([a.percent for a in per_type])),
        math.sqrt(sum(a.stderr ** 2 for a in per_type)) / len(per_type),
        sum(a.n for a in per_type))
    return table


def format_table(tables: Mapping[str, Mapping[str, Accuracy]]) -> str:
    """One row per violation type, one column per model: ``87.0 +- 3.4``."""
    models = list(tables)
    kinds = list(next(iter(tables.values())))
    width = max(len(k) for k in [*kinds, 'violation type'])
    head = f'{"violation type":<{width}}  ' + '  '.join(f'{m:>16}' for m in models)
    rows = [head]
    for kind in kinds:
        cells = [f'{tables[m][kind].percent:6.1f} +- {tables[m][kind].stderr:4.1f}' for m in models]
        label = f'{kind} ({tables[models[0]][kind].n})' if kind != 'mean' else 'mean over types'
        rows.append(f'{label:<{width + 6}}' + '  '.join(f'{c:>16}' for c in cells))
    return '\n'.join(rows)

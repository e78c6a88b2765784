"""Bookkeeping for unreadable videos: log each once, count them, stop past a threshold.

Data workers never raise on a bad file: they replace it by another sample and
report ``(path, reason)`` with the batch. The training process feeds those
reports here, so the counts are global to the process whatever the number of
workers, and the run stops with an error naming the worst files when too
large a fraction of what it tried to read was bad.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


class TooManyBadVideosError(RuntimeError):
    """More than the allowed fraction of attempted videos could not be used."""


class BadInputMonitor:
    """Counts bad videos against attempts; raises once the bad fraction passes ``threshold``.

    ``min_attempts`` keeps one early bad file in a tiny sample from stopping a
    run (the fraction is only judged after that many reads).
    """

    def __init__(self, threshold: float = 0.05, min_attempts: int = 100, worst: int = 10):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f'bad-video threshold must be a fraction in [0, 1], got {threshold}.')
        self.threshold = threshold
        self.min_attempts = min_attempts
        self.worst = worst
        self.attempts = 0
        self.bad = 0
        self.by_path: collections.Counter[str] = collections.Counter()
        self.reasons: dict[str, str] = {}

    @property
    def bad_fraction(self) -> float:
        return self.bad / self.attempts if self.attempts else 0.0

    def update(self, attempts: int, reports: Iterable[tuple[str, str]]) -> None:
        """Adds one batch: ``attempts`` videos tried, ``reports`` the failed ones.

        Raises ``TooManyBadVideosError`` when the bad fraction passes the threshold.
        """
        self.attempts += int(attempts)
        for path, reason in reports:
            self.bad += 1
            if path not in self.by_path:
                logger.warning('Skipping unreadable video %s (%s); a replacement sample is '
                               'used and the batch keeps its size.', path, reason)
            self.by_path[path] += 1
            self.reasons[path] = reason
        if self.attempts >= self.min_attempts and self.bad_fraction > self.threshold:
            raise TooManyBadVideosError(self.summary())

    def summary(self) -> str:
        worst = '\n'.join(f'  {n} x {path} ({self.reasons[path]})'
                          for path, n in self.by_path.most_common(self.worst))
        return (f'{self.bad} of {self.attempts} video reads failed ({100 * self.bad_fraction:.1f}%'
                f', allowed {100 * self.threshold:.1f}%). Fix or remove these files from the '
                f'index (or raise the threshold); the most frequent:\n{worst}')

    def metrics(self) -> dict[str, float]:
        return {'data/bad_videos': float(self.bad), 'data/bad_fraction': self.bad_fraction,
                'data/distinct_bad_files': float(len(self.by_path))}

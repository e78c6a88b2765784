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
from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np

from vjepa_jax.errors import RunStopped
from vjepa_jax.input.video_errors import VideoError

logger = logging.getLogger(__name__)

T = TypeVar('T')


def read_or_replace(row: int, path_of: Callable[[int], str], num_rows: int,
                    read: Callable[[str], T], rng: np.random.Generator,
                    max_replacements: int) -> tuple[T, int, list[tuple[str, str]]]:
    """Reads ``row``; an unreadable video is replaced by a row drawn from ``rng``.

    Returns ``(read(path), the row actually used, [(path, reason), ...] skipped)``.
    The replacement comes from the element's own generator, so it is the same
    for any worker count. Raises ``RuntimeError`` after ``max_replacements``
    replacements in a row (an index of mostly unreadable files).
    """
    bad: list[tuple[str, str]] = []
    for _ in range(max_replacements + 1):
        path = path_of(row)
        try:
            return read(path), row, bad
        except VideoError as err:
            bad.append((path, err.reason))
            row = int(rng.integers(num_rows))
    raise RuntimeError(
        f'{max_replacements + 1} videos in a row could not be read (last: {bad[-1][0]}: '
        f'{bad[-1][1]}); the index seems to list mostly unreadable files.')


class TooManyBadVideosError(RunStopped):
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

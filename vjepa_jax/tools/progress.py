"""Progress lines of a long extraction: counts, rate (compile time excluded), ETA."""

from __future__ import annotations

import time
from typing import TextIO

from vjepa_jax.metrics.human_format import format_duration


class Progress:
    """``extract: 80/1000 videos (8.0%), 1 failed | 12.3 videos/s | ETA 1m15s`` lines."""

    def __init__(self, total: int, stream: TextIO | None, every: int):
        self.total, self.stream, self.every = total, stream, max(int(every), 1)
        self.start = time.monotonic()
        self.first: tuple[int, float] | None = None  # after the first batch (compile done)

    def update(self, batches: int, done: int, failed: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (done + failed, now)
        seen = done + failed
        if self.stream is None or not (final or (batches % self.every == 0
                                                 and seen < self.total)):
            return
        share = 100.0 * seen / self.total
        parts = [f'extract: {seen}/{self.total} videos ({share:.1f}%), {failed} failed']
        first_seen, first_time = self.first
        if seen > first_seen and now > first_time:
            rate = (seen - first_seen) / (now - first_time)  # compile excluded
        else:
            rate = seen / max(now - self.start, 1e-9)
        parts.append(f'{rate:.1f} videos/s')
        if final:
            parts.append(f'done in {format_duration(now - self.start)}')
        else:
            parts.append(f'ETA {format_duration((self.total - seen) / max(rate, 1e-9))}')
        print(' | '.join(parts), file=self.stream, flush=True)

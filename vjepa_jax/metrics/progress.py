"""The one-line training progress report: step, chosen metrics, clips/s, MFU and ETA."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from vjepa_jax.metrics.human_format import format_duration

# (metric key, label in the progress line, format spec). Keys missing from the
# metrics of a call are skipped; everything else still goes to JSONL and
# TensorBoard, so the progress line stays one readable line.
DEFAULT_PROGRESS_FIELDS: tuple[tuple[str, str, str], ...] = (
    ('loss', 'loss', '.4f'),
    ('lr', 'lr', '.1e'),
    ('weight_decay', 'wd', '.3g'),
    ('ema_momentum', 'ema', '.4f'),
)


class ProgressLine:
    """Builds progress lines and keeps the timing between them.

    Args:
      total_steps: steps of the whole run, for the percentage and the ETA.
      peak_flops_per_s: peak FLOP/s of all devices together; MFU is shown only
        when this and ``flops_per_step`` are given.
      flops_per_step: model FLOPs of one global training step.
      clips_per_step: global batch size; clips/s is shown only when given.
      fields: ``(key, label, format)`` triples of the metrics to show.
      clock: monotonic seconds (tests pass a fake one); the first line's
        interval starts when this object is made.
    """

    def __init__(self, total_steps: int, *, peak_flops_per_s: float | None = None,
                 flops_per_step: float | None = None, clips_per_step: int | None = None,
                 fields: Sequence[tuple[str, str, str]] = DEFAULT_PROGRESS_FIELDS,
                 clock: Callable[[], float] = time.monotonic):
        self.total_steps = int(total_steps)
        self.peak_flops_per_s = peak_flops_per_s
        self.flops_per_step = flops_per_step
        self.clips_per_step = clips_per_step
        self.fields = tuple(fields)
        self._clock = clock
        # (step, clock) of the previous line, and of the first one (the end of
        # the interval that includes compilation).
        self._last: tuple[int, float] | None = None
        self._first: tuple[int, float] | None = None
        self._start_time = clock()

    def __call__(self, step: int, metrics: Mapping[str, float]) -> str:
        """The text of one progress line; advances the throughput timer.

        Throughput (clips/s, MFU) is over the interval since the previous call;
        the ETA uses the mean step time since the first call. The first call's
        interval (from construction) includes start-up and compilation, so that
        line reports its duration instead of a rate.
        """
        now = self._clock()
        step = int(step)
        parts = [f'step {step}/{self.total_steps} ({100.0 * step / self.total_steps:.1f}%)']
        for key, label, spec in self.fields:
            if key in metrics:
                parts.append(f'{label} {format(float(metrics[key]), spec)}')
        if self._last is None:
            parts.append(f'startup+compile {format_duration(now - self._start_time)}')
            self._first = (step, now)
        else:
            parts.extend(self._rates(step, now))
        self._last = (step, now)
        return ' | '.join(parts)

    def _rates(self, step: int, now: float) -> list[str]:
        parts = []
        prev_step, prev_time = self._last
        dt, dsteps = now - prev_time, step - prev_step
        if dt > 0 and dsteps > 0:
            steps_per_s = dsteps / dt
            if self.clips_per_step:
                parts.append(f'{steps_per_s * self.clips_per_step:.1f} clips/s')
            else:
                parts.append(f'{steps_per_s:.2f} steps/s')
            if self.peak_flops_per_s and self.flops_per_step:
                mfu = steps_per_s * self.flops_per_step / self.peak_flops_per_s
                parts.append(f'MFU {100.0 * mfu:.1f}%')
        first_step, first_time = self._first
        if step > first_step and now > first_time:
            seconds_per_step = (now - first_time) / (step - first_step)
            remaining = max(self.total_steps - step, 0) * seconds_per_step
            parts.append(f'ETA {format_duration(remaining)}')
        return parts

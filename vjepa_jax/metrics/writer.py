"""Process-0 metrics writer: stdout progress, ``metrics.jsonl`` and TensorBoard.

One :class:`MetricsWriter` per run. Only process 0 of a multi-host job writes
(every other process gets a writer whose methods do nothing), so the loop can
call it unconditionally. Metric values must already be host floats: the loop
does one ``jax.device_get`` per log step (DESIGN.md section 9).

Files under ``WORKDIR``:

  ``metrics.jsonl``   one JSON object per :meth:`MetricsWriter.write` call,
                      ``{"step": int, "time": unix seconds, **metrics}``;
                      flushed after every line, appended to on resume. NaN and
                      infinities are written as ``NaN`` / ``Infinity`` (what
                      Python's ``json`` reads back), so a diverged loss is
                      still visible in the file.
  ``tensorboard/``    tensorboardX event files, one scalar per metric key.
  ``config.json``     the resolved config, written by :meth:`MetricsWriter.banner`.

Resume: a run that logged step ``s`` and then died before its checkpoint at
``s`` leaves lines that the resumed run will write again. Call
:meth:`MetricsWriter.truncate_after` with the restored step before the first
``write``; it drops those lines from ``metrics.jsonl`` and makes TensorBoard
discard the stale events too (a purge-step marker, which TensorBoard honours
when it reads the event files).

Typical use::

    with MetricsWriter(workdir, total_steps=cfg.total_steps,
                       peak_flops_per_s=peak, flops_per_step=flops,
                       clips_per_step=cfg.global_batch) as writer:
        writer.truncate_after(start_step)
        writer.banner(config=cfg, mesh=mesh, global_batch=cfg.global_batch,
                      param_counts={'encoder': n_enc, 'predictor': n_pred})
        for step in ...:
            ...
            if step % cfg.log_every == 0:
                host = {k: float(v) for k, v in jax.device_get(metrics).items()}
                writer.write(step, host)
                writer.log_progress(step, host)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import jax

from vjepa_jax.metrics.banner import banner_text, to_plain
from vjepa_jax.metrics.progress import DEFAULT_PROGRESS_FIELDS, ProgressLine

if TYPE_CHECKING:  # typing.Self is Python 3.11+; annotations are not evaluated
    from typing import Self

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'
CONFIG_FILE = 'config.json'

# tensorboardX writes from a background thread; this bounds how stale the
# event files can be after a crash (metrics.jsonl is flushed on every line).
_TB_FLUSH_SECS = 30


class MetricsWriter:
    """Writes metrics of one run on process 0; a no-op elsewhere.

    Args:
      workdir: run directory; created on first use (only when enabled).
      total_steps: steps of the whole run, for the percentage and the ETA.
      enabled: whether this writer writes anything; default
        ``jax.process_index() == 0``.
      tensorboard: also write TensorBoard event files (needs ``tensorboardX``).
      peak_flops_per_s: peak FLOP/s of *all* devices of the job together
        (per-device peak times ``jax.device_count()``); MFU is shown only when
        this and ``flops_per_step`` are given.
      flops_per_step: model FLOPs of one global training step (all clips),
        e.g. from ``vjepa_jax.train.flops``.
      clips_per_step: global batch size; clips/s is shown only when given.
      progress_fields: ``(key, label, format)`` triples shown by
        :meth:`log_progress`; default :data:`DEFAULT_PROGRESS_FIELDS`.
      stream: where progress lines and the banner go; default ``sys.stdout``.
      clock: monotonic seconds for throughput and ETA (tests pass a fake one).
    """

    def __init__(self, workdir: str | os.PathLike, *, total_steps: int,
                 enabled: bool | None = None, tensorboard: bool = True,
                 peak_flops_per_s: float | None = None,
                 flops_per_step: float | None = None,
                 clips_per_step: int | None = None,
                 progress_fields: Sequence[tuple[str, str, str]] = DEFAULT_PROGRESS_FIELDS,
                 stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if total_steps <= 0:
            raise ValueError(f'total_steps must be positive, got {total_steps}')
        self.workdir = Path(workdir)
        self.total_steps = int(total_steps)
        self.enabled = (jax.process_index() == 0) if enabled is None else bool(enabled)
        # Resolved at call time rather than bound at definition, so that
        # pytest's capsys and notebook stdout redirection see the output.
        self._stream = stream
        self._tensorboard = tensorboard
        self._jsonl: TextIO | None = None
        self._tb: Any = None
        self._purge_step: int | None = None
        self._closed = False
        self._progress = ProgressLine(total_steps, peak_flops_per_s=peak_flops_per_s,
                                      flops_per_step=flops_per_step,
                                      clips_per_step=clips_per_step, fields=progress_fields,
                                      clock=clock)
        if self.enabled and tensorboard:
            _import_tensorboardx()  # fail at construction, not at the first log step

    # -- files ---------------------------------------------------------------

    @property
    def metrics_path(self) -> Path:
        return self.workdir / METRICS_FILE

    def _jsonl_file(self) -> TextIO:
        if self._jsonl is None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            # Held open across write() calls and closed by close().
            self._jsonl = open(self.metrics_path, 'a', encoding='utf-8')  # noqa: SIM115
        return self._jsonl

    def _tb_writer(self) -> Any:
        if self._tb is None:
            tbx = _import_tensorboardx()
            self._tb = tbx.SummaryWriter(str(self.workdir / TENSORBOARD_DIR),
                                         purge_step=self._purge_step,
                                         flush_secs=_TB_FLUSH_SECS)
        return self._tb

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """Appends ``{"step", "time", **metrics}`` to the JSONL file and TensorBoard.

        Args:
          step: the training step the metrics belong to.
          metrics: metric name -> host scalar (float, int or NumPy scalar);
            names may contain ``/`` (TensorBoard groups by the prefix).
        """
        if not self.enabled:
            return
        self._check_open()
        clash = {'step', 'time'} & set(metrics)
        if clash:
            raise ValueError(f'metric names {sorted(clash)} are reserved for the JSONL record; '
                             'rename them')
        values = {k: float(v) for k, v in metrics.items()}
        record = {'step': int(step), 'time': time.time(), **values}
        f = self._jsonl_file()
        f.write(json.dumps(record) + '\n')
        f.flush()  # a crash keeps every line written so far
        if self._tensorboard:
            tb = self._tb_writer()
            for k, v in values.items():
                tb.add_scalar(k, v, global_step=int(step))

    def truncate_after(self, step: int) -> int:
        """Forgets metrics of steps ``>= step`` left by an earlier run; call on resume.

        Rewrites ``metrics.jsonl`` keeping only lines with ``"step" < step``
        (and dropping a torn last line from a crash mid-write); the file is
        replaced atomically. TensorBoard events at ``>= step`` are purged by
        writing a purge marker into the next event file; call this before the
        first :meth:`write` of the run, or the events already written by this
        writer are purged as well.

        Returns:
          The number of JSONL lines removed (0 when disabled or no file exists).
        """
        if not self.enabled:
            return 0
        self._check_open()
        step = int(step)
        if self._tensorboard:
            if self._tb is not None:
                # purge_step only takes effect when an event file is opened.
                self._tb.close()
                self._tb = None
            self._purge_step = step
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        path = self.metrics_path
        if not path.is_file():
            return 0
        kept, removed = [], 0
        with open(path, encoding='utf-8') as f:
            for line in f:
                try:
                    keep = int(json.loads(line)['step']) < step
                except (ValueError, KeyError, TypeError):
                    keep = False  # only a write cut short by a crash looks like this
                if keep:
                    kept.append(line if line.endswith('\n') else line + '\n')
                else:
                    removed += 1
        if removed:
            _atomic_write_text(path, ''.join(kept))
        return removed

    # -- progress and banner -------------------------------------------------

    def _print(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        print(text, file=stream, flush=True)

    def progress_line(self, step: int, metrics: Mapping[str, float]) -> str:
        """The text of one progress line; advances the throughput timer.

        Throughput (clips/s, MFU) is over the interval since the previous call;
        the ETA uses the mean step time since the first call. The first call's
        interval (from the writer's creation) includes start-up and
        compilation, so that line reports its duration instead of a rate
        (:class:`vjepa_jax.metrics.progress.ProgressLine`).
        """
        return self._progress(step, metrics)

    def log_progress(self, step: int, metrics: Mapping[str, float]) -> None:
        """Prints one progress line (see :meth:`progress_line`) to the stream.

        The loop decides how often (every ``log_every`` steps). ``step`` is the
        number of completed steps.
        """
        if not self.enabled:
            return
        self._print(self.progress_line(step, metrics))

    def banner(self, *, config: Any = None, mesh: Any = None, global_batch: int | None = None,
               param_counts: Mapping[str, int] | None = None,
               sharding_note: str = '') -> str:
        """Prints the start banner and writes ``WORKDIR/config.json``; call once.

        Args:
          config: the resolved config (``ConfigDict``, ``FrozenConfigDict`` or
            plain dict); printed grouped by top-level section.
          mesh: a ``jax.sharding.Mesh`` or a mapping axis name -> size.
          global_batch: clips per global step.
          param_counts: e.g. ``{'encoder': n, 'predictor': m}``.
          sharding_note: one line on params whose rule-given layout did not
            divide the mesh (``sharding.fallback_note``); '' when none.

        Returns:
          The banner text (empty when disabled).
        """
        if not self.enabled:
            return ''
        self._check_open()
        plain = None
        if config is not None:
            plain = to_plain(config)
            self.workdir.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self.workdir / CONFIG_FILE,
                               json.dumps(plain, indent=2, sort_keys=True, default=repr) + '\n')
        text = banner_text(workdir=self.workdir, plain_config=plain, mesh=mesh,
                           global_batch=global_batch, param_counts=param_counts,
                           sharding_note=sharding_note)
        self._print(text)
        return text

    # -- lifetime ------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError('MetricsWriter is closed')

    def flush(self) -> None:
        """Flushes the JSONL file and hands pending TensorBoard events to disk."""
        if self._jsonl is not None:
            self._jsonl.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flushes and closes every file; further writes raise. Idempotent."""
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()  # drains tensorboardX's queue
            self._tb = None
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _import_tensorboardx() -> Any:
    try:
        import tensorboardX
    except ImportError as e:
        raise ImportError('TensorBoard logging needs tensorboardX: `pip install tensorboardX`, '
                          'or pass tensorboard=False to MetricsWriter') from e
    return tensorboardX


def _atomic_write_text(path: Path, text: str) -> None:
    """Writes via a temporary sibling and a rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

"""What a run reports: ``MetricsWriter`` (process 0: stdout, ``metrics.jsonl``, TensorBoard).

``writer``: :class:`MetricsWriter`, the files and their resume rule; ``progress``:
the one-line progress report (clips/s, MFU, ETA); ``banner``: the start banner and
config formatting; ``human_format``: durations and counts as people read them.
"""

from vjepa_jax.metrics.writer import MetricsWriter

__all__ = ['MetricsWriter']

"""Durations and counts as people read them in progress lines and banners."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``, ``2d03h``; ``?`` for a non-finite time."""
    if not math.isfinite(seconds):
        return '?'
    s = round(max(seconds, 0.0))
    if s < 60:
        return f'{s}s'
    if s < 3600:
        return f'{s // 60}m{s % 60:02d}s'
    if s < 86400:
        return f'{s // 3600}h{s % 3600 // 60:02d}m'
    return f'{s // 86400}d{s % 86400 // 3600:02d}h'


def format_count(n: int) -> str:
    """``304.37M``, ``1.02B``, ``512``."""
    for div, suffix in ((1e9, 'B'), (1e6, 'M'), (1e3, 'K')):
        if abs(n) >= div:
            return f'{n / div:.2f}{suffix}'
    return str(n)

"""Training loss curves from a workdir's ``metrics.jsonl`` (``vjepa_jax.metrics``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vjepa_jax.tools.plot_engine import VisualizeError, loss_curve_image


def read_metrics(metrics_jsonl: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    path = Path(metrics_jsonl)
    if not path.is_file():
        raise VisualizeError(f'No metrics file at {path} (a training workdir holds '
                             'metrics.jsonl after its first log step).')
    records = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and 'step' in record:
                records.append(record)
    return records


def loss_curve(metrics_jsonl: str | os.PathLike, out_path: str | os.PathLike,
               keys: Sequence[str] = ('loss',), log_y: bool = False,
               size: tuple[int, int] = (800, 500)) -> Path:
    """Writes a PNG plot of ``keys`` vs ``step`` from a ``metrics.jsonl``; returns the path."""
    records = read_metrics(metrics_jsonl)
    image = loss_curve_image(records, keys, size=size, log_y=log_y,
                             title=f'{Path(metrics_jsonl).parent.name or "run"}: '
                                   f'{", ".join(keys)}')
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out, format='PNG')
    return out

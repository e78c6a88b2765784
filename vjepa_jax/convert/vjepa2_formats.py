"""The V-JEPA 2 checkpoint formats as readers / writers for the loading front door.

Each ``CheckpointFormat`` has ``detect(path) -> bool`` (cheap: reads no
tensors), ``read(path, **options) -> (config, params, provenance)`` and
``write(path, config, params, **options)``. ``config['family']`` is
``'vjepa2'``; ``config`` holds the keyword arguments of ``VJEPA2Encoder`` /
``VJEPA2Predictor`` / ``VJEPA2AttentiveClassifier``; ``provenance`` has
``format``, ``ignored`` (what was not converted, and why) and ``metadata``.

  vjepa2_pretraining_pt  official ``latest.pt`` / ``vitl.pt`` ... (torch zip)
  vjepa2_probe_pt        official probe ``latest.pt`` / ``evals/*.pt``
  vjepa2_hf_dir          Hugging Face ``VJEPA2Model`` / ``VJEPA2ForVideoClassification``
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vjepa_jax.convert import vjepa2_hf
from vjepa_jax.convert import vjepa2_official as v2
from vjepa_jax.convert.torch_pickle import load_torch_checkpoint, save_torch_checkpoint

Triple = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
    name: str
    detect: Callable[[str | os.PathLike], bool]
    read: Callable[..., Triple]
    write: Callable[..., Any]


def _pickle_bytes(path: str | os.PathLike) -> bytes | None:
    """The ``data.pkl`` of a torch zip checkpoint (key names, no tensor data), or None."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count('/') == 1 and n.endswith('/data.pkl')]
        return archive.read(names[0]) if len(names) == 1 else None


def _is_pretraining_pt(path: str | os.PathLike) -> bool:
    # RoPE models hold no position table; V-JEPA 1 files always do. A released V-JEPA 2 file
    # with a leftover pos_embed is not detected: read it with this format explicitly.
    data = _pickle_bytes(path)
    # b'classifier' also rules out V-JEPA 1 probes, whose pooler blocks match the key above.
    return (data is not None and b'blocks.0.attn.qkv.weight' in data
            and b'pos_embed' not in data and b'classifier' not in data
            and b'action_encoder' not in data)  # V-JEPA 2-AC: a later format


def _is_probe_pt(path: str | os.PathLike) -> bool:
    data = _pickle_bytes(path)
    return data is not None and b'classifiers' in data and b'pooler.query_tokens' in data


def _read_pretraining_pt(path: str | os.PathLike, **options: Any) -> Triple:
    return v2.read_pretraining(_checkpoint(path), **options)


def _read_probe_pt(path: str | os.PathLike, **options: Any) -> Triple:
    return v2.read_probe(_checkpoint(path), **options)


def _checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    checkpoint = load_torch_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise v2.ConversionError(f'{path}: expected a dict checkpoint, got '
                                 f'{type(checkpoint).__name__}.')
    return checkpoint


def _write_pretraining_pt(path: str | os.PathLike, config: dict[str, Any],
                          params: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    save_torch_checkpoint(v2.write_pretraining(config, params, metadata), path)


def _write_probe_pt(path: str | os.PathLike, config: dict[str, Any], params: dict[str, Any],
                    metadata: dict[str, Any] | None = None) -> None:
    save_torch_checkpoint(v2.write_probe(config, params, metadata), path)


PRETRAINING_PT = CheckpointFormat('vjepa2_pretraining_pt', _is_pretraining_pt,
                                  _read_pretraining_pt, _write_pretraining_pt)
PROBE_PT = CheckpointFormat('vjepa2_probe_pt', _is_probe_pt, _read_probe_pt, _write_probe_pt)
HF_DIR = CheckpointFormat('vjepa2_hf_dir', vjepa2_hf.is_hf_dir, vjepa2_hf.read_dir,
                          vjepa2_hf.write_dir)
FORMATS = (PRETRAINING_PT, PROBE_PT, HF_DIR)


def detect_format(path: str | os.PathLike) -> CheckpointFormat | None:
    """The V-JEPA 2 format of ``path``, or None when it is none of them."""
    return next((f for f in FORMATS if f.detect(path)), None)

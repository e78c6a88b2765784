"""Official state dicts <-> our param trees, through the key table (every problem listed at once)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from vjepa_jax.convert.key_table import (
    CLASSIFIER_KEYS,
    ENCODER_KEYS,
    PREDICTOR_KEYS,
    expand,
)
from vjepa_jax.convert.layouts import official_shape, to_official, to_ours
from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.convert.param_trees import abstract_params, flatten, unflatten
from vjepa_jax.models.attentive_probe import AttentiveClassifier
from vjepa_jax.models.layer_layout import unroll
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer


def params_from_state_dict(state_dict: Mapping[str, Any], table: tuple, depth: int,
                           num_rows: int, expected: Mapping[str, Any],
                           what: str) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                               dict[str, np.ndarray]]:
    """Maps an (un-prefixed) official state dict onto our param tree.

    Args:
      state_dict: official key -> array, prefixes already stripped.
      table: one of the ``*_KEYS`` tables; ``depth``/``num_rows`` expand it.
      expected: our param shapes (unrolled), e.g. from ``jax.eval_shape``.
      what: name used in error messages (``"encoder"``).

    Returns:
      ``(params, kept)``: our nested params (float32 NumPy) and, by official
      key, the tensors that are not params of ours (tables, unused weights).

    Raises:
      ConversionError listing every unmapped, missing and mis-shaped key.
    """
    entries = expand(table, depth, num_rows)
    flat_expected = flatten(expected)
    known = {e.official for e in entries}
    unmapped = sorted(set(state_dict) - known)
    missing, misshaped = [], []
    flat, kept = {}, {}
    rows: dict[str, dict[int, np.ndarray]] = {}
    for e in entries:
        if e.official not in state_dict:
            missing.append(e.official)
            continue
        w = np.asarray(state_dict[e.official])
        if e.kind in ('table', 'unused'):
            kept[e.official] = w
            continue
        shape = tuple(flat_expected[e.path].shape)
        want = official_shape(e.kind, shape)
        if tuple(w.shape) != want:
            misshaped.append(f'{e.official}: checkpoint {list(w.shape)}, model expects {list(want)}')
            continue
        w = w.astype(np.float32)
        if e.kind == 'row':
            rows.setdefault(e.path, {})[e.row] = w.reshape(-1)
        else:
            flat[e.path] = np.ascontiguousarray(to_ours(e.kind, w, shape))
    for path, by_row in rows.items():
        if len(by_row) == flat_expected[path].shape[0]:
            flat[path] = np.stack([by_row[j] for j in range(len(by_row))])
    problems = []
    if unmapped:
        problems.append(f'{len(unmapped)} unmapped key(s) (no place in the model): {unmapped}')
    if missing:
        problems.append(f'{len(missing)} missing key(s) (the model needs them): {missing}')
    if misshaped:
        problems.append(f'{len(misshaped)} mis-shaped key(s): {misshaped}')
    if problems:
        raise ConversionError(f'The {what} state dict does not match the model:\n  - '
                              + '\n  - '.join(problems))
    not_filled = sorted(set(flat_expected) - set(flat))
    assert not not_filled, f'table does not cover {not_filled}'
    return unflatten(flat), kept


def state_dict_from_params(params: Mapping[str, Any], table: tuple, depth: int, num_rows: int,
                           prefix: str, kept: Mapping[str, np.ndarray] | None = None,
                           tables: Mapping[str, np.ndarray] | None = None) -> OrderedDict:
    """Our params (scanned or unrolled) -> official state dict with ``prefix``, official order.

    ``kept`` gives official tensors kept at import (tables, unused weights),
    used verbatim when their shape fits; otherwise tables come from
    ``tables`` and unused weights are zeros.
    """
    flat = flatten(unroll(jax.device_get(dict(params))))
    out = OrderedDict()
    for e in expand(table, depth, num_rows):
        stored = (kept or {}).get(e.official)
        if e.kind == 'table':
            value = np.asarray(tables[e.official])
            if stored is not None and np.shape(stored) == value.shape:
                value = stored
        elif e.kind == 'unused':
            value = stored if stored is not None else _unused_zeros(e.official, flat)
        elif e.kind == 'row':
            value = np.asarray(flat[e.path])[e.row].reshape(1, 1, -1)
        else:
            value = to_official(e.kind, np.asarray(flat[e.path]))
        out[prefix + e.official] = np.ascontiguousarray(value, np.float32)
    return out


def _unused_zeros(key: str, flat: Mapping[str, Any]) -> np.ndarray:
    dim = np.asarray(flat['pooler/query_tokens']).shape[-1]
    return np.zeros((dim, dim) if key.endswith('weight') else (dim,), np.float32)


def encoder_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any], what: str = 'encoder'):
    """``(params, kept)`` of an encoder state dict for ``VisionTransformer(**cfg)``."""
    model = VisionTransformer(**cfg)
    t, h, w = model.grid
    video = jax.ShapeDtypeStruct((1, t * model.tubelet_size, h * model.patch_size,
                                  w * model.patch_size, 3), np.float32)
    expected = abstract_params(model, video)
    return params_from_state_dict(sd, ENCODER_KEYS, cfg['depth'], 0, expected, what)


def predictor_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any]):
    """``(params, kept)`` of a predictor state dict for ``Predictor(**cfg)``."""
    model = Predictor(**cfg)
    ctx = jax.ShapeDtypeStruct((1, 1, cfg['embed_dim']), np.float32)
    idx = jax.ShapeDtypeStruct((1, 1), np.int32)
    expected = abstract_params(model, ctx, idx, idx, 0)
    return params_from_state_dict(sd, PREDICTOR_KEYS, cfg['depth'], cfg['num_mask_tokens'],
                                  expected, 'predictor')


def classifier_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any], width: int):
    """``(params, kept)`` of a probe state dict for ``AttentiveClassifier(**cfg)`` on ``width``-wide tokens."""
    model = AttentiveClassifier(**cfg)
    tokens = jax.ShapeDtypeStruct((1, 1, width), np.float32)
    expected = abstract_params(model, tokens)
    return params_from_state_dict(sd, CLASSIFIER_KEYS, cfg['depth'] - 1, 0, expected,
                                  'classifier')

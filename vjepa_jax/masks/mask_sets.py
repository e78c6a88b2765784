"""Mask sets from config: build the samplers, draw every set of a batch.

A config is a list of mappings, one per mask set, with the official
``cfgs_mask`` keys plus ``type`` (``'multiblock3d'``, the default, ``'tube'``,
or ``'future'``: the first time steps predict the next, ``FutureFrames``) and
optional fixed counts ``context_count`` / ``target_count``.
Draws are a pure function of ``(seed, shard, step, mask-set index)``, so they
do not depend on how many data-loader workers run or in which order batches
are made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vjepa_jax.masks.future import FutureFrames
from vjepa_jax.masks.multiblock3d import MultiBlock3D
from vjepa_jax.masks.tube import RandomTube

MaskSampler = MultiBlock3D | RandomTube | FutureFrames

# Keys accepted per sampler type (besides ``type``).
_KEYS = {
    'multiblock3d': ('num_blocks', 'spatial_scale', 'temporal_scale', 'aspect_ratio',
                     'max_temporal_keep', 'max_keep', 'context_count', 'target_count',
                     'reference_batch_size'),
    'tube': ('ratio', 'context_count', 'target_count'),
    'future': ('context_steps', 'target_steps'),
}
_SAMPLERS = {'multiblock3d': MultiBlock3D, 'tube': RandomTube, 'future': FutureFrames}
# First entropy word of every mask draw: keeps mask streams apart from other
# users of (seed, shard, step).
_STREAM = 0x6D61736B


def token_grid(num_frames: int, crop_size: int | Sequence[int], patch_size: int,
               tubelet_size: int) -> tuple[int, int, int]:
    """Token grid ``(T', H', W') = (frames / tubelet, h / patch, w / patch)``."""
    crop = (crop_size, crop_size) if isinstance(crop_size, (int, np.integer)) else crop_size
    try:
        crop_h, crop_w = (int(c) for c in crop)
    except (TypeError, ValueError):
        raise ValueError(f'crop_size must be an int or (h, w), got {crop_size!r}.') from None
    for name, size, unit in (('num_frames', num_frames, tubelet_size),
                             ('crop height', crop_h, patch_size),
                             ('crop width', crop_w, patch_size)):
        if unit < 1 or size < unit or size % unit:
            raise ValueError(f'{name} {size} is not a positive multiple of {unit}.')
    return num_frames // tubelet_size, crop_h // patch_size, crop_w // patch_size


def build_mask_samplers(cfgs_mask: Sequence[Mapping], *, num_frames: int,
                        crop_size: int | Sequence[int], patch_size: int,
                        tubelet_size: int) -> tuple[MaskSampler, ...]:
    """One sampler per mask-set config, on the grid of the given clip geometry.

    Raises ``ValueError`` naming the mask set and key for an unknown type or
    key, or a bad value. Default counts are derived here (once per geometry).
    """
    grid = token_grid(num_frames, crop_size, patch_size, tubelet_size)
    if isinstance(cfgs_mask, Mapping) or not isinstance(cfgs_mask, Sequence) or not cfgs_mask:
        raise ValueError(f'cfgs_mask must be a non-empty list of mappings, got {cfgs_mask!r}.')
    samplers = []
    for i, cfg in enumerate(cfgs_mask):
        if not hasattr(cfg, 'items'):
            raise ValueError(f'mask set {i}: expected a mapping, got {cfg!r}.')
        cfg = dict(cfg.items())
        kind = cfg.pop('type', 'multiblock3d')
        if kind not in _KEYS:
            raise ValueError(f'mask set {i}: unknown type {kind!r}; use one of {sorted(_KEYS)}.')
        unknown = sorted(set(cfg) - set(_KEYS[kind]))
        if unknown:
            raise ValueError(f'mask set {i} ({kind}): unknown key(s) {unknown}; '
                             f'allowed: {["type", *_KEYS[kind]]}.')
        try:
            samplers.append(_SAMPLERS[kind](grid, **cfg))
        except ValueError as err:
            raise ValueError(f'mask set {i} ({kind}): {err}') from None
    return tuple(samplers)


def mask_set_counts(samplers: Sequence[MaskSampler]) -> list[tuple[int, int]]:
    """``(context_count, target_count)`` of each mask set: the index widths Kc, Kt."""
    return [(s.context_count, s.target_count) for s in samplers]


def _check_seed_word(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f'{name} must be a non-negative int, got {value!r}.')
    return int(value)


def mask_rng(seed: int, step: int, shard: int, index: int) -> np.random.Generator:
    """The generator of mask set ``index`` for batch ``step`` of data shard ``shard``."""
    words = [_check_seed_word(n, v) for n, v in
             (('seed', seed), ('shard', shard), ('step', step), ('index', index))]
    return np.random.default_rng([_STREAM, *words])


def draw_mask_sets(samplers: Sequence[MaskSampler], batch_size: int, seed: int, step: int,
                   shard: int = 0) -> tuple[dict[str, np.ndarray], ...]:
    """Masks of every set for one batch; deterministic in ``(seed, step, shard)``.

    Returns one dict per mask set ``m`` with ``context_idx`` int32
    ``[B, Kc_m]``, ``context_valid`` bool ``[B, Kc_m]``, ``target_idx`` int32
    ``[B, Kt_m]``, ``target_valid`` bool ``[B, Kt_m]`` (see ``MultiBlock3D.sample``).
    """
    return tuple(s.sample(mask_rng(seed, step, shard, i), batch_size)
                 for i, s in enumerate(samplers))

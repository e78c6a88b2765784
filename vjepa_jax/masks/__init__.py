"""Mask samplers (host, NumPy) and the jit-safe token gather."""

from vjepa_jax.masks.fixed_counts import select_fixed_counts
from vjepa_jax.masks.future import FutureFrames
from vjepa_jax.masks.mask_sets import (
    MaskSampler,
    build_mask_samplers,
    draw_mask_sets,
    mask_rng,
    mask_set_counts,
    token_grid,
)
from vjepa_jax.masks.multiblock3d import MultiBlock3D, block_size
from vjepa_jax.masks.tube import RandomTube

__all__ = [
    'FutureFrames',
    'MaskSampler',
    'MultiBlock3D',
    'RandomTube',
    'block_size',
    'build_mask_samplers',
    'draw_mask_sets',
    'mask_rng',
    'mask_set_counts',
    'select_fixed_counts',
    'token_grid',
]

"""The official V-JEPA pretraining mask sets (``cfgs_mask`` of the ViT-L/H recipes)."""

from __future__ import annotations

# Short-range: 8 blocks of 15% of the frame each; long-range: 2 blocks of 70%.
# Both span the whole clip in time and keep the context over all frames.
OFFICIAL_MASK_SETS: tuple[dict, ...] = (
    {'type': 'multiblock3d', 'num_blocks': 8, 'spatial_scale': (0.15, 0.15),
     'temporal_scale': (1.0, 1.0), 'aspect_ratio': (0.75, 1.5), 'max_temporal_keep': 1.0},
    {'type': 'multiblock3d', 'num_blocks': 2, 'spatial_scale': (0.7, 0.7),
     'temporal_scale': (1.0, 1.0), 'aspect_ratio': (0.75, 1.5), 'max_temporal_keep': 1.0},
)

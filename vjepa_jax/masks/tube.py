"""Random tube mask sampler (host NumPy), same output contract as ``MultiBlock3D``.

Official semantics (facebookresearch/jepa ``src/masks/random_tube.py``): per
sample, ``num_keep_spatial = int(H' * W' * (1 - ratio))`` spatial positions are
kept, chosen uniformly at random, and repeated over all ``T'`` time steps; the
context is the kept tubes, the target the rest. Every sample therefore has
exactly ``num_keep_spatial * T'`` context tokens, which are the default counts;
explicit counts follow the same subset / padding rule as the multi-block
sampler (``select_fixed_counts``).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from vjepa_jax.masks.fixed_counts import TOP, select_fixed_counts
from vjepa_jax.masks.multiblock3d import _as_grid, _as_int


@dataclasses.dataclass(frozen=True)
class RandomTube:
    """Random tube sampler on a ``grid = (T', H', W')`` token grid.

    ``ratio``: fraction of spatial positions masked (official default 0.9).
    ``context_count`` / ``target_count``: fixed counts ``Kc`` / ``Kt``; when
    None, the exact per-sample counts ``num_keep_spatial * T'`` and the rest.
    """

    grid: tuple[int, int, int]
    ratio: float = 0.9
    context_count: int | None = None
    target_count: int | None = None

    def __post_init__(self) -> None:
        grid = _as_grid(self.grid)
        object.__setattr__(self, 'grid', grid)
        ratio = self.ratio
        if not isinstance(ratio, numbers.Real) or isinstance(ratio, bool) or not 0 < ratio < 1:
            raise ValueError(f'ratio must be a number in (0, 1), got {ratio!r}.')
        object.__setattr__(self, 'ratio', float(ratio))
        spatial = grid[1] * grid[2]
        if not 0 < self.num_keep_spatial < spatial:
            raise ValueError(
                f'ratio={ratio} keeps {self.num_keep_spatial} of {spatial} spatial positions; '
                'both context and target must be non-empty.')
        context = _as_int('context_count', self.context_count, 1, allow_none=True)
        target = _as_int('target_count', self.target_count, 1, allow_none=True)
        object.__setattr__(self, 'context_count',
                           self.num_keep_spatial * grid[0] if context is None else context)
        object.__setattr__(self, 'target_count',
                           self.num_tokens - self.num_keep_spatial * grid[0]
                           if target is None else target)

    @property
    def num_tokens(self) -> int:
        """``T' * H' * W'``."""
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def num_keep_spatial(self) -> int:
        """Spatial positions kept as context: ``int(H' * W' * (1 - ratio))``."""
        return int(self.grid[1] * self.grid[2] * (1.0 - self.ratio))

    def sample_with_counts(self, rng: np.random.Generator, batch_size: int
                           ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """``sample`` plus the tokens each sample had before the fixed counts.

        Returns ``(masks, n_context, n_target)`` with int64 ``[B]`` counts.
        """
        t_, h_, w_ = self.grid
        keep = self.num_keep_spatial
        # A uniformly random ``keep``-subset of the H' * W' positions per sample.
        order = np.argpartition(rng.random((batch_size, h_ * w_)), keep - 1, axis=1)
        n_context = np.full(batch_size, keep * t_, np.int64)
        n_target = self.num_tokens - n_context
        if (self.context_count, self.target_count) == (keep * t_, self.num_tokens - keep * t_):
            # Exact counts: the tubes themselves, sorted (time-major raster order).
            masks = {}
            for side, spatial in (('context', order[:, :keep]), ('target', order[:, keep:])):
                spatial = np.sort(spatial, axis=1).astype(np.int32)
                offsets = np.arange(t_, dtype=np.int32)[:, None] * (h_ * w_)
                idx = (offsets + spatial[:, None, :]).reshape(batch_size, -1)
                masks[f'{side}_idx'] = idx
                masks[f'{side}_valid'] = np.ones(idx.shape, bool)
            return masks, n_context, n_target
        flag = np.full((batch_size, h_ * w_), TOP, np.uint32)
        np.put_along_axis(flag, order[:, :keep], np.uint32(0), axis=1)
        masks = select_fixed_counts(flag.reshape(batch_size, 1, h_, w_), self.grid, n_target,
                                    self.context_count, self.target_count, rng)
        return masks, n_context, n_target

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """Masks of one batch.

        Returns ``context_idx`` int32 ``[B, Kc]``, ``context_valid`` bool
        ``[B, Kc]``, ``target_idx`` int32 ``[B, Kt]``, ``target_valid`` bool
        ``[B, Kt]``: raster token indices, valid entries first and ascending,
        padding repeats the row's first valid index; context and target are
        disjoint.
        """
        return self.sample_with_counts(rng, batch_size)[0]

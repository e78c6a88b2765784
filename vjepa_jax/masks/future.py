"""Future-prediction mask (host NumPy): context = the first time steps, target = the next ones.

This is the mask of the intuitive-physics surprise test (Garrido et al. 2025,
``get_time_masks`` in facebookresearch/jepa-intuitive-physics): the encoder
sees every token of the first ``context_steps`` token time steps (tubelets),
the predictor fills in every token of the following ``target_steps``. Mixed
into pretraining as one more mask set, it trains exactly the prediction the
surprise test measures. Same output contract as ``MultiBlock3D``; the mask is
the same for every sample, so it draws nothing from ``rng``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vjepa_jax.masks.multiblock3d import _as_grid, _as_int


@dataclasses.dataclass(frozen=True)
class FutureFrames:
    """Future-prediction sampler on a ``grid = (T', H', W')`` token grid.

    ``context_steps``: token time steps given as context (``frames / tubelet``).
    ``target_steps``: the time steps after them to predict; None = all the rest.
    """

    grid: tuple[int, int, int]
    context_steps: int = 1
    target_steps: int | None = None

    def __post_init__(self) -> None:
        grid = _as_grid(self.grid)
        object.__setattr__(self, 'grid', grid)
        t_ = grid[0]
        context = _as_int('context_steps', self.context_steps, 1)
        if context >= t_:
            raise ValueError(f'context_steps={context} leaves nothing to predict on a grid of '
                             f'{t_} time steps; use at most {t_ - 1}.')
        target = _as_int('target_steps', self.target_steps, 1, allow_none=True)
        if target is None:
            target = t_ - context
        if context + target > t_:
            raise ValueError(f'context_steps={context} + target_steps={target} exceed the '
                             f'{t_} time steps of the grid.')
        object.__setattr__(self, 'context_steps', context)
        object.__setattr__(self, 'target_steps', target)

    @property
    def tokens_per_step(self) -> int:
        return self.grid[1] * self.grid[2]

    @property
    def context_count(self) -> int:
        """``Kc = context_steps * H' * W'``."""
        return self.context_steps * self.tokens_per_step

    @property
    def target_count(self) -> int:
        """``Kt = target_steps * H' * W'``."""
        return self.target_steps * self.tokens_per_step

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Raster (time-major) token indices: context int32 ``[Kc]``, target int32 ``[Kt]``."""
        context = np.arange(self.context_count, dtype=np.int32)
        return context, self.context_count + np.arange(self.target_count, dtype=np.int32)

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """Masks of one batch (``rng`` unused: the mask is fixed).

        Returns ``context_idx`` int32 ``[B, Kc]``, ``context_valid`` bool
        ``[B, Kc]``, ``target_idx`` int32 ``[B, Kt]``, ``target_valid`` bool ``[B, Kt]``.
        """
        del rng
        out = {}
        for side, idx in zip(('context', 'target'), self.indices()):
            out[f'{side}_idx'] = np.broadcast_to(idx, (batch_size, idx.size)).copy()
            out[f'{side}_valid'] = np.ones((batch_size, idx.size), bool)
        return out

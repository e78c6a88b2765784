"""Multi-block 3D mask sampler (host NumPy) with fixed token counts.

Official semantics (facebookresearch/jepa ``src/masks/multiblock3d.py``), on
the token grid ``(T', H', W')``:

- once per batch a block size is drawn (``block_size``);
- per sample ``num_blocks`` blocks of that size are placed at independent
  uniform positions; the target is their union, plus every time index
  ``>= max(1, int(T' * max_temporal_keep))`` when that is ``< T'``; the
  context is the rest; a sample whose context would be empty is redrawn
  (positions only).

Unlike the official collator (which cut every sample to the batch minimum),
each side has a FIXED count (DESIGN section 5): a sample with more tokens keeps
a uniformly random subset, a sample with fewer is padded. The default counts
are the official effective ones: the expected batch minimum over
``reference_batch_size`` samples that share a block size (deterministic
Monte-Carlo, cached).

Speed (no Python loop over samples or tokens): each grid row ``(t, h)`` of a
sample is one integer whose bit ``w`` marks a target token, so a batch's blocks
are unions of a few thousand integers; each side's fixed-size random subset is
one in-place ``partition`` of integer keys ``not-member | random rank | token
index`` (``select_fixed_counts``) and a sort of the kept part.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import numpy as np

from vjepa_jax.masks.fixed_counts import TOP, select_fixed_counts

_MAX_REDRAWS = 1000
# Monte-Carlo for the default counts: fixed seed, batches drawn in chunks.
_MC_SEED = 0
_MC_BATCHES = 8192
_MC_CHUNK = 128


def block_size(grid: tuple[int, int, int], temporal_scale, spatial_scale,
               aspect_ratio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Official block size ``(t, h, w)`` for drawn scales (scalars or arrays).

    ``t = max(1, int(T' * temporal_scale))``, ``keep = int(H' * W' * spatial_scale)``,
    ``h = min(round(sqrt(keep * ar)), H')``, ``w = min(round(sqrt(keep / ar)), W')``
    (``round`` is half-to-even, as Python's). Returns int64 arrays of the
    broadcast shape of the inputs.
    """
    t_, h_, w_ = grid
    ts = np.maximum(1, np.floor(t_ * np.asarray(temporal_scale, np.float64))).astype(np.int64)
    keep = np.floor(h_ * w_ * np.asarray(spatial_scale, np.float64))
    ar = np.asarray(aspect_ratio, np.float64)
    hs = np.minimum(np.round(np.sqrt(keep * ar)), h_).astype(np.int64)
    ws = np.minimum(np.round(np.sqrt(keep / ar)), w_).astype(np.int64)
    return ts, hs, ws


@functools.cache
def _ones_masks(width: int) -> np.ndarray:
    """``[width + 1]`` uint64: entry ``n`` has its low ``n`` bits set."""
    return np.array([(1 << n) - 1 for n in range(width + 1)], np.uint64)


@functools.cache
def _flag_shifts(width: int) -> np.ndarray:
    return (31 - np.arange(width)).astype(np.uint32)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` needs NumPy >= 2)."""
    if hasattr(np, 'bitwise_count'):
        return np.bitwise_count(x)
    table = np.array([i.bit_count() for i in range(256)], np.uint8)
    return table[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1, dtype=np.uint8)


def _target_rows(grid, context_frames, sizes, pos, static_time: bool) -> np.ndarray:
    """Target bits per grid row: uint64 ``[B, T' or 1, H']``; bit ``w`` marks token (t, h, w).

    ``sizes`` int ``[3, B]`` (rows t, h, w); ``pos`` int ``[3, B, num_blocks]``
    (rows start, top, left). With ``static_time`` (every block spans all of time and
    no frame is removed from the context) the rows repeat over time and the
    time axis has length 1.
    """
    t_, h_, w_ = grid
    start, top, left = pos
    t, h, w = sizes[:, :, None]
    hh = np.arange(h_)
    in_h = (hh >= top[..., None]) & (hh < (top + h)[..., None])             # [B, K, H]
    bits = _ones_masks(w_)[w] << left.astype(np.uint64)                     # [B, K]
    rows_hw = in_h * bits[..., None]                                         # [B, K, H]
    if static_time:
        return np.bitwise_or.reduce(rows_hw, axis=1)[:, None]               # [B, 1, H]
    tt = np.arange(t_)
    in_t = (tt >= start[..., None]) & (tt < (start + t)[..., None])         # [B, K, T]
    rows = np.zeros((top.shape[0], t_, h_), np.uint64)
    for k in range(top.shape[1]):
        rows |= in_t[:, k, :, None] * rows_hw[:, k, None, :]
    rows[:, context_frames:] = _ones_masks(w_)[w_]
    return rows                                                              # [B, T, H]


def _target_dense(grid, context_frames, sizes, pos) -> np.ndarray:
    """The same target as a bool ``[B, T', H', W']`` (any width; a loop over blocks)."""
    t_, h_, w_ = grid
    mask = np.zeros((pos.shape[1], t_, h_, w_), bool)
    axes = np.arange(t_), np.arange(h_), np.arange(w_)
    for k in range(pos.shape[2]):
        inside = [(a >= p[:, k:k + 1]) & (a < p[:, k:k + 1] + s[:, None])
                  for a, p, s in zip(axes, pos, sizes)]
        mask |= (inside[0][:, :, None, None] & inside[1][:, None, :, None]
                 & inside[2][:, None, None, :])
    mask[:, context_frames:] = True
    return mask


def _positions(rng: np.random.Generator, grid, sizes: np.ndarray, num_blocks: int):
    """Uniform block corners, int64 ``[3, B, num_blocks]`` (rows start, top, left)."""
    u = rng.random((3, sizes.shape[1], num_blocks))
    span = np.array(grid)[:, None, None] - sizes[:, :, None] + 1
    return (u * span).astype(np.int64)


def _draw_targets(rng: np.random.Generator, grid, num_blocks: int, context_frames: int,
                  sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target of each sample (block sizes ``sizes`` int ``[3, B]``), redrawing
    positions while a context is empty.

    Returns ``(target, n_target)``: ``target`` as ``_target_rows`` bit rows, or
    bool ``[B, T', H', W']`` beyond 64 columns (see ``_target_flag``);
    ``n_target`` int64 ``[B]``.
    """
    t_, h_, w_ = grid
    if np.any(np.all(sizes >= np.array(grid)[:, None], axis=0)):
        raise ValueError(
            f'A drawn block covers the whole token grid {grid}, so the context is always '
            'empty (the official sampler would loop forever); lower spatial_scale or '
            'temporal_scale.')
    dense = w_ > 64
    static_time = not dense and context_frames >= t_ and bool(np.all(sizes[0] >= t_))

    def build(sz, pos):
        if dense:
            mask = _target_dense(grid, context_frames, sz, pos)
            return mask, mask.sum(axis=(1, 2, 3), dtype=np.int64)
        rows = _target_rows(grid, context_frames, sz, pos, static_time)
        n = _popcount(rows).sum(axis=(1, 2), dtype=np.int64)
        return rows, n * t_ if static_time else n

    target, n_target = build(sizes, _positions(rng, grid, sizes, num_blocks))
    for _ in range(_MAX_REDRAWS):
        redo = np.flatnonzero(n_target >= t_ * h_ * w_)
        if redo.size == 0:
            break
        sub = sizes[:, redo]
        target[redo], n_target[redo] = build(sub, _positions(rng, grid, sub, num_blocks))
    else:
        raise RuntimeError(
            f'A context stayed empty after {_MAX_REDRAWS} redraws of the block positions '
            f'(grid {grid}, {num_blocks} blocks); lower spatial_scale, temporal_scale or '
            'num_blocks.')
    return target, n_target


def _target_flag(target: np.ndarray, width: int) -> np.ndarray:
    """``_draw_targets`` output -> uint32 broadcastable to ``[B, T', H', W']``,
    ``2**31`` on target tokens and 0 elsewhere."""
    if target.dtype == bool:
        return target.astype(np.uint32) << np.uint32(31)
    if width <= 32:
        return (target.astype(np.uint32)[..., None] << _flag_shifts(width)) & TOP
    bit = (target[..., None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)
    return bit.astype(np.uint32) << np.uint32(31)


@functools.cache
def count_statistics(grid: tuple[int, int, int], num_blocks: int,
                     spatial_scale: tuple[float, float], temporal_scale: tuple[float, float],
                     aspect_ratio: tuple[float, float], max_temporal_keep: float,
                     reference_batch_size: int = 24,
                     batches: int = _MC_BATCHES) -> dict[str, float]:
    """Monte-Carlo token statistics of a multi-block config (fixed seed, cached).

    ``batches`` batches of ``reference_batch_size`` samples, each batch sharing
    one block size as in the official collator. Returns the means over batches
    of the batch minimum (``min_context``, ``min_target``, the official
    effective counts) and the per-sample means (``mean_context``,
    ``mean_target``).
    """
    rng = np.random.default_rng(_MC_SEED)
    context_frames = max(1, int(grid[0] * max_temporal_keep))
    n = grid[0] * grid[1] * grid[2]
    mins, means = [], []
    for lo in range(0, batches, _MC_CHUNK):
        m = min(_MC_CHUNK, batches - lo)
        u = rng.random((3, m))
        sizes = np.stack(block_size(grid, _lerp(temporal_scale, u[0]),
                                    _lerp(spatial_scale, u[1]), _lerp(aspect_ratio, u[2])))
        sizes = np.repeat(sizes, reference_batch_size, axis=1)
        _, n_target = _draw_targets(rng, grid, num_blocks, context_frames, sizes)
        n_target = n_target.reshape(m, reference_batch_size)
        mins.append(np.stack([(n - n_target).min(1), n_target.min(1)], 1))
        means.append(np.stack([(n - n_target).mean(1), n_target.mean(1)], 1))
    mins, means = np.concatenate(mins).mean(0), np.concatenate(means).mean(0)
    return {'min_context': float(mins[0]), 'min_target': float(mins[1]),
            'mean_context': float(means[0]), 'mean_target': float(means[1])}


def _lerp(bounds: tuple[float, float], u):
    return bounds[0] + u * (bounds[1] - bounds[0])


def _as_int(name: str, value, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}.')
    return int(value)


def _as_grid(value) -> tuple[int, int, int]:
    """A token grid ``(T', H', W')`` of positive ints, as the samplers take it."""
    try:
        grid = tuple(_as_int('grid', g, 1) for g in value)
    except TypeError:
        grid = ()
    if len(grid) != 3:
        raise ValueError(f'grid must be (T\', H\', W\') positive ints, got {value!r}.')
    return grid


def _as_range(name: str, value, low: float, high: float | None) -> tuple[float, float]:
    """A ``(min, max)`` pair with ``low < min <= max (<= high)``."""
    try:
        if isinstance(value, str):
            raise TypeError
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a pair (min, max), got {value!r}.') from None
    if not (low < lo <= hi < math.inf and (high is None or hi <= high)):
        bound = f' <= {high}' if high is not None else ''
        raise ValueError(f'{name} must satisfy {low} < min <= max{bound}, got {value!r}.')
    return lo, hi


@dataclasses.dataclass(frozen=True)
class MultiBlock3D:
    """Multi-block 3D mask sampler on a ``grid = (T', H', W')`` token grid.

    Fields mirror the official ``cfgs_mask`` entries (defaults are the official
    generator's). ``context_count`` / ``target_count``: fixed index counts
    ``Kc`` / ``Kt``; when None they are set at construction to the official
    effective counts (``count_statistics``, rounded; ``max_keep`` caps the
    derived context count). Pass None again to ``dataclasses.replace`` to
    re-derive them after changing the geometry.
    """

    grid: tuple[int, int, int]
    num_blocks: int = 1
    spatial_scale: tuple[float, float] = (0.2, 0.8)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect_ratio: tuple[float, float] = (0.3, 3.0)
    max_temporal_keep: float = 1.0
    max_keep: int | None = None
    context_count: int | None = None
    target_count: int | None = None
    reference_batch_size: int = 24

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        put('grid', _as_grid(self.grid))
        put('num_blocks', _as_int('num_blocks', self.num_blocks, 1))
        put('spatial_scale', _as_range('spatial_scale', self.spatial_scale, 0.0, 1.0))
        put('temporal_scale', _as_range('temporal_scale', self.temporal_scale, 0.0, 1.0))
        put('aspect_ratio', _as_range('aspect_ratio', self.aspect_ratio, 0.0, None))
        keep = self.max_temporal_keep
        if not isinstance(keep, numbers.Real) or isinstance(keep, bool) or not 0 < keep <= 1:
            raise ValueError(f'max_temporal_keep must be a number in (0, 1], got {keep!r}.')
        put('max_temporal_keep', float(keep))
        put('max_keep', _as_int('max_keep', self.max_keep, 1, allow_none=True))
        put('reference_batch_size',
            _as_int('reference_batch_size', self.reference_batch_size, 1))
        context = _as_int('context_count', self.context_count, 1, allow_none=True)
        target = _as_int('target_count', self.target_count, 1, allow_none=True)
        if context is None or target is None:
            stats = self.count_statistics()
            if context is None:
                context = max(1, round(stats['min_context']))
                if self.max_keep is not None:
                    context = min(context, self.max_keep)
            if target is None:
                target = max(1, round(stats['min_target']))
        put('context_count', context)
        put('target_count', target)

    @property
    def num_tokens(self) -> int:
        """``T' * H' * W'``."""
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def context_frames(self) -> int:
        """Time steps the context may use: ``max(1, int(T' * max_temporal_keep))``."""
        return max(1, int(self.grid[0] * self.max_temporal_keep))

    def count_statistics(self) -> dict[str, float]:
        """Monte-Carlo token counts of this geometry (see ``count_statistics``)."""
        return count_statistics(self.grid, self.num_blocks, self.spatial_scale,
                                self.temporal_scale, self.aspect_ratio,
                                self.max_temporal_keep, self.reference_batch_size)

    def draw_block_size(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """One block size ``(t, h, w)`` (linear-uniform scales and aspect ratio)."""
        # Python floats: the formula of ``block_size``, without NumPy's per-call cost.
        u_t, u_s, u_ar = rng.random(3).tolist()
        t_, h_, w_ = self.grid
        t = max(1, int(t_ * _lerp(self.temporal_scale, u_t)))
        keep = int(h_ * w_ * _lerp(self.spatial_scale, u_s))
        ar = _lerp(self.aspect_ratio, u_ar)
        return t, min(round(math.sqrt(keep * ar)), h_), min(round(math.sqrt(keep / ar)), w_)

    def sample_with_counts(self, rng: np.random.Generator, batch_size: int
                           ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """``sample`` plus the tokens each sample had before the fixed counts.

        Returns ``(masks, n_context, n_target)`` with int64 ``[B]`` counts.
        """
        sizes = np.repeat(np.array(self.draw_block_size(rng))[:, None], batch_size, axis=1)
        target, n_target = _draw_targets(rng, self.grid, self.num_blocks,
                                         self.context_frames, sizes)
        masks = select_fixed_counts(_target_flag(target, self.grid[2]), self.grid, n_target, self.context_count,
                                    self.target_count, rng)
        return masks, self.num_tokens - n_target, n_target

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """Masks of one batch (one block size shared by the batch).

        Returns ``context_idx`` int32 ``[B, Kc]``, ``context_valid`` bool
        ``[B, Kc]``, ``target_idx`` int32 ``[B, Kt]``, ``target_valid`` bool
        ``[B, Kt]``: raster token indices, valid entries first and ascending,
        padding repeats the row's first valid index; context and target are
        disjoint.
        """
        return self.sample_with_counts(rng, batch_size)[0]

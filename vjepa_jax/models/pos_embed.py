"""Fixed sin-cos position tables (1D / 2D / 3D) and their trilinear resize.

Tables are computed on the host in float64 NumPy and cast to float32, exactly
as the official code builds its frozen ``pos_embed`` buffers; they are
constants of the model, not trained parameters.
"""

from __future__ import annotations

import functools

import numpy as np


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """Sin-cos code of ``positions`` (any shape, flattened) -> ``[M, dim]``.

    All sines first, then all cosines, with
    ``omega = 1 / 10000 ** (arange(dim/2) / (dim/2))``.
    """
    if dim % 2:
        raise ValueError(f'A sin-cos position code needs an even width, got {dim}.')
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = np.einsum('m,d->md', np.asarray(positions, np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid_size: int) -> np.ndarray:
    """2D table for a square ``grid_size`` grid -> ``[grid_size**2, dim]`` (rows h, w)."""
    hh, ww = np.meshgrid(np.arange(grid_size, dtype=np.float64),
                         np.arange(grid_size, dtype=np.float64), indexing='ij')
    return np.concatenate([sincos_1d(dim // 2, hh), sincos_1d(dim // 2, ww)], axis=1)


def axis_widths(dim: int, uniform_power: bool) -> tuple[int, int, int]:
    """Widths given to the (t, h, w) parts of a 3D table of total width ``dim``."""
    if uniform_power:
        each = 2 * int(np.ceil(dim / 6))
        return each, each, each
    return dim // 2, dim // 4, dim // 4


def sincos_3d(dim: int, grid_t: int, grid_h: int, grid_w: int,
              uniform_power: bool) -> np.ndarray:
    """3D table in raster order (t, h, w) -> float64 ``[grid_t * grid_h * grid_w, dim]``.

    The (t, h, w) parts are concatenated in that order and cut to ``dim``. Without
    ``uniform_power`` the parts must add up to ``dim`` (width divisible by 4, as
    the official code requires).
    """
    dt, dh, dw = axis_widths(dim, uniform_power)
    if dt + dh + dw < dim or min(dt, dh, dw) % 2:
        raise ValueError(
            f'Width {dim} cannot hold a 3D sin-cos table with uniform_power='
            f'{uniform_power} (parts {dt}+{dh}+{dw}); use a width divisible by 4 '
            'or uniform_power=True.')
    tt, hh, ww = np.meshgrid(np.arange(grid_t, dtype=np.float64),
                             np.arange(grid_h, dtype=np.float64),
                             np.arange(grid_w, dtype=np.float64), indexing='ij')
    table = np.concatenate(
        [sincos_1d(dt, tt), sincos_1d(dh, hh), sincos_1d(dw, ww)], axis=1)
    return table[:, :dim]


def _linear_weights(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` linear interpolation matrix, align_corners=False.

    Source coordinate ``(i + 0.5) * n_in / n_out - 0.5`` clamped below at 0, as
    ``torch.nn.functional.interpolate`` computes it.
    """
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.maximum((np.arange(n_out, dtype=np.float32) + 0.5) * scale - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (src - lo).astype(np.float32)
    weights = np.zeros((n_out, n_in), np.float32)
    np.add.at(weights, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(weights, (np.arange(n_out), hi), frac)
    return weights


def resize_3d(table: np.ndarray, grid: tuple[int, int, int],
              new_grid: tuple[int, int, int]) -> np.ndarray:
    """Trilinear resize (align_corners=False) of ``[T*H*W, D]`` to the new grid.

    Separable, so it is three small matrix products in float32.
    """
    if tuple(grid) == tuple(new_grid):
        return table
    t, h, w = grid
    cube = np.asarray(table, np.float32).reshape(t, h, w, -1)
    cube = np.einsum('at,thwd->ahwd', _linear_weights(t, new_grid[0]), cube)
    cube = np.einsum('bh,ahwd->abwd', _linear_weights(h, new_grid[1]), cube)
    cube = np.einsum('cw,abwd->abcd', _linear_weights(w, new_grid[2]), cube)
    return cube.reshape(-1, cube.shape[-1])


@functools.lru_cache(maxsize=64)
def video_table(dim: int, grid: tuple[int, int, int], uniform_power: bool,
                new_grid: tuple[int, int, int] | None = None) -> np.ndarray:
    """Float32 table built for ``grid`` (t, h, w), resized to ``new_grid`` if given.

    Returns a read-only ``[N, dim]`` array (cached: models call this at trace time).
    """
    table = sincos_3d(dim, *grid, uniform_power=uniform_power).astype(np.float32)
    if new_grid is not None:
        table = resize_3d(table, grid, new_grid)
    table = np.ascontiguousarray(table, np.float32)
    table.flags.writeable = False
    return table

"""PCA of one clip's patch features, as colours next to its frames.

The token features ``[T'*H'*W', D]`` of one clip are centred and
projected on their first 3 principal components; each component is scaled to
``[0, 1]`` by its min / max over the clip and shown as R, G, B. Row 1 holds the
input frames at the tubelet times (frame ``t * tubelet`` for token time ``t``),
row 2 the colour maps, each token a ``patch x patch`` block (nearest-neighbour
upsampling to the frame size). Regions the encoder represents alike get alike
colours; a constant map means the features do not vary over the clip.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vjepa_jax.tools.plot_engine import BACKGROUND, VisualizeError

GAP = 2                     # pixels between tiles of the PCA picture


def pca_colors(tokens: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """First 3 principal components of ``tokens`` as colours: float32 ``[T', H', W', 3]`` in [0, 1].

    Args:
      tokens: float ``[T'*H'*W', D]`` features of one clip, raster order ``(t, h, w)``.
      grid: ``(T', H', W')``.

    Each component is normalised by its min / max over the clip; a component
    without spread (identical tokens, or ``D`` or the token count below 3)
    is 0.5. Signs are fixed (largest loading positive), so the colours do not
    flip between runs.
    """
    grid = tuple(int(g) for g in grid)
    x = np.asarray(tokens, np.float64)
    if x.ndim != 2 or x.shape[0] != math.prod(grid):
        raise VisualizeError(f'tokens {x.shape} do not match grid {grid}: expected '
                             f'[{math.prod(grid)}, D].')
    x = x - x.mean(axis=0, keepdims=True)
    k = min(3, *x.shape)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:k]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    proj = x @ (vt * signs[:, None]).T                                   # [N, k]
    colors = np.full((x.shape[0], 3), 0.5)
    # Spread below this (relative to the features' scale) is rounding noise.
    tiny = 1e-9 * max(float(np.abs(np.asarray(tokens, np.float64)).max(initial=0.0)), 1e-30)
    for c in range(k):
        lo, hi = proj[:, c].min(), proj[:, c].max()
        if hi - lo > tiny:
            colors[:, c] = (proj[:, c] - lo) / (hi - lo)
    return colors.reshape(*grid, 3).astype(np.float32)


def _nearest_upsample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[h, w, C] -> [height, width, C]`` by nearest neighbour (exact blocks when divisible)."""
    rows = np.arange(height) * image.shape[0] // height
    cols = np.arange(width) * image.shape[1] // width
    return image[rows][:, cols]


def pca_image(frames: np.ndarray, tokens: np.ndarray, grid: Sequence[int],
              scale: int = 1) -> np.ndarray:
    """The PCA picture as uint8 ``[2*H*scale + GAP, T'*W*scale + (T'-1)*GAP, 3]``.

    Args:
      frames: uint8 ``[T, H, W, 3]``, the clip the tokens came from (after the
        crop), ``T`` a multiple of ``T'``.
      tokens: float ``[T'*H'*W', D]``.
      grid: ``(T', H', W')``.
      scale: integer nearest-neighbour enlargement (tiny clips).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VisualizeError(f'frames must be uint8 [T, H, W, 3], got {frames.dtype} '
                             f'{frames.shape}.')
    t_tokens = int(grid[0])
    if t_tokens < 1 or frames.shape[0] % t_tokens:
        raise VisualizeError(f'{frames.shape[0]} frames do not split into {t_tokens} '
                             'tubelets.')
    scale = int(scale)
    if scale < 1:
        raise VisualizeError(f'scale must be >= 1, got {scale}.')
    colors = (pca_colors(tokens, grid) * 255.0 + 0.5).astype(np.uint8)  # [T', H', W', 3]
    tubelet = frames.shape[0] // t_tokens
    h, w = frames.shape[1] * scale, frames.shape[2] * scale
    out = np.full((2 * h + GAP, t_tokens * w + (t_tokens - 1) * GAP, 3), BACKGROUND, np.uint8)
    for t in range(t_tokens):
        left = t * (w + GAP)
        out[:h, left:left + w] = _nearest_upsample(frames[t * tubelet], h, w)
        out[h + GAP:, left:left + w] = _nearest_upsample(colors[t], h, w)
    return out


def pca_figure(frames: np.ndarray, tokens: np.ndarray, grid: Sequence[int],
               out_path: str | os.PathLike, scale: int = 1) -> Path:
    """Writes :func:`pca_image` as a PNG; returns the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pca_image(frames, tokens, grid, scale)).save(out, format='PNG')
    return out

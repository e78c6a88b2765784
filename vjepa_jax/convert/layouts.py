"""Array layout changes between official (torch) tensors and our params, by kind.

Layout changes (torch -> ours):
  linear     ``[out, in]`` -> ``[in, out]``
  heads_in   ``[n*H*hd, D]`` -> ``[D, n, H, hd]`` (fused qkv / kv; q is ``[D, H, hd]``)
  heads_out  ``[D, H*hd]`` -> ``[H, hd, D]`` (attention output projection)
  reshape    ``[n*H*hd]`` -> ``[n, H, hd]`` (biases of the above)
  conv3d     ``[D, C, t, p, p]`` -> ``[t, p, p, C, D]``
  row        ``[1, 1, d]`` -> row ``j`` of ``[n, d]`` (mask tokens)
  query      ``[1, Q, D]`` -> ``[Q, D]``
  table      fixed sin-cos table: not a parameter of ours; checked on import
             (it tells ``uniform_power``), kept verbatim, and recomputed on
             export when no kept copy exists (float64 ``sin`` may differ by an
             ulp between CPUs, so a kept copy makes round trips bit-exact)
  unused     held by the official module but never read by its forward
             (the classifier's ``xattn.proj``): kept verbatim, zeros on
             export when no kept copy exists
"""

from __future__ import annotations

import numpy as np


def to_ours(kind: str, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Official tensor ``w`` in our layout of ``shape`` (a param kind, not table / unused / row)."""
    if kind == 'copy':
        return w
    if kind == 'linear':
        return w.T
    if kind == 'heads_in':
        return np.moveaxis(w.reshape(*shape[1:], shape[0]), -1, 0)
    if kind == 'heads_out':
        return w.T.reshape(shape)
    if kind in ('reshape', 'query'):
        return w.reshape(shape)
    if kind == 'conv3d':
        return w.transpose(2, 3, 4, 1, 0)
    raise AssertionError(kind)


def to_official(kind: str, a: np.ndarray) -> np.ndarray:
    """Our param ``a`` in the official (torch) layout."""
    if kind == 'copy':
        return a
    if kind == 'linear':
        return a.T
    if kind == 'heads_in':
        return np.moveaxis(a, 0, -1).reshape(-1, a.shape[0])
    if kind == 'heads_out':
        return a.reshape(-1, a.shape[-1]).T
    if kind == 'reshape':
        return a.reshape(-1)
    if kind == 'query':
        return a[None]
    if kind == 'conv3d':
        return a.transpose(4, 3, 0, 1, 2)
    raise AssertionError(kind)


def official_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Official tensor shape for our param shape (via a zero-stride array: no memory)."""
    if kind == 'row':
        return (1, 1, shape[-1])
    return to_official(kind, np.broadcast_to(np.float32(0), shape)).shape

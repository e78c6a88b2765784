"""Fixed-count index arrays from a per-token target marking (shared by the samplers).

DESIGN section 5: every mask set has fixed context / target counts so that
batches have static shapes. A side with more tokens than its count keeps a
uniformly random subset, one with fewer is padded and flagged invalid. The
subset is one in-place ``partition`` of integer keys ``not-member | random
rank | token index`` per side, then a sort of the kept part.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

TOP = np.uint32(0x80000000)
_LOW31 = np.uint32(0x7FFFFFFF)
_FLIP = np.uint64(1 << 63)


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A reusable per-thread buffer (contents undefined).

    Reusing it avoids fresh large allocations, whose page faults cost more
    than the arithmetic here.
    """
    cache = getattr(_SCRATCH, 'buffers', None)
    if cache is None:
        cache = _SCRATCH.buffers = {}
    key = (shape, np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None:
        if len(cache) >= 8:
            cache.clear()
        buf = cache[key] = np.empty(shape, dtype)
    return buf


@functools.cache
def _token_ids(grid_shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(math.prod(grid_shape), dtype=np.uint32).reshape(grid_shape)


def _random_words(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform uint32 of ``shape`` (a fresh array)."""
    size = math.prod(shape)
    return rng.bit_generator.random_raw(-(-size // 2)).view(np.uint32)[:size].reshape(shape)


def _finish(out: np.ndarray, m: int, n_valid: np.ndarray, low_mask: np.uint32):
    """Sorts selected keys ``out [B, K]`` (first ``m`` filled) into indices + validity.

    Keys hold the token index under ``low_mask`` and the not-member flag in
    bit 31, so sorting puts members first, ascending.
    """
    batch, count = out.shape
    if m == count and n_valid.min() == count:       # no row is padded
        out.sort(axis=1)
        return out.view(np.int32), np.ones((batch, count), bool)
    out[:, m:] = TOP
    out.sort(axis=1)
    np.bitwise_and(out, low_mask, out=out)
    idx = out.view(np.int32)
    valid = np.arange(count) < n_valid[:, None]
    fill = np.where(n_valid > 0, idx[:, 0], 0)
    np.copyto(idx, fill[:, None], where=~valid)
    return idx, valid


def _select_narrow(flag, shape, counts, n_valid, index_bits, rng, need_random):
    """uint32 keys: ``not-member << 31 | random (31 - index_bits) | token index``."""
    batch, n = shape[0], math.prod(shape[1:])
    keys = _scratch((batch, n), np.uint32)
    keys4 = keys.reshape(shape)
    low = np.uint32((1 << index_bits) - 1)
    if need_random:
        np.bitwise_and(_random_words(rng, shape), _LOW31 & ~low, out=keys4)
        np.bitwise_or(keys4, flag, out=keys4)
        np.bitwise_or(keys4, _token_ids(shape[1:]), out=keys4)
    else:
        np.bitwise_or(flag, _token_ids(shape[1:]), out=keys4)
    result = []
    for side, (count, valid) in enumerate(zip(counts, n_valid)):
        if side:
            np.bitwise_xor(keys, TOP, out=keys)   # target tokens become the members
        m = min(count, n)
        if m < n:
            keys.partition(m - 1, axis=1)
        out = np.empty((batch, count), np.uint32)
        np.bitwise_and(keys[:, :m], TOP | low, out=out[:, :m])
        result += _finish(out, m, valid, low)
    return result


def _select_wide(flag, shape, counts, n_valid, rng, need_random):
    """uint64 keys: high word ``not-member << 31 | random 31``, low word token index."""
    batch, n = shape[0], math.prod(shape[1:])
    words = _scratch((*shape, 2), np.uint32)
    high = words[..., 1]
    if need_random:
        rand = _random_words(rng, shape)
        np.right_shift(rand, 1, out=rand)
        np.bitwise_or(rand, flag, out=high)
    else:
        np.copyto(high, flag)
    words[..., 0] = _token_ids(shape[1:])
    keys = words.view(np.uint64).reshape(batch, n)
    result = []
    for side, (count, valid) in enumerate(zip(counts, n_valid)):
        if side:
            np.bitwise_xor(keys, _FLIP, out=keys)
        m = min(count, n)
        if m < n:
            keys.partition(m - 1, axis=1)
        head = keys[:, :m].view(np.uint32).reshape(batch, m, 2)     # (low, high) words
        out = np.empty((batch, count), np.uint32)
        np.bitwise_and(head[..., 1], TOP, out=out[:, :m])
        np.bitwise_or(out[:, :m], head[..., 0], out=out[:, :m])
        result += _finish(out, m, valid, _LOW31)
    return result


def select_fixed_counts(flag: np.ndarray, grid_shape: tuple[int, ...], n_target: np.ndarray,
                        context_count: int, target_count: int,
                        rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fixed-count index arrays from a target marking.

    ``flag``: uint32 broadcastable to ``[B, *grid_shape]``, ``2**31`` on target
    tokens and 0 on context tokens (raster order). ``n_target``: int ``[B]``.
    A side with more tokens than its count keeps a uniformly random subset,
    one with fewer is padded after its valid entries with its first valid
    index (0 when it has none). Ranks are random integers of
    ``31 - ceil(log2 N)`` bits (20 for 1568 tokens) while that is at least 20,
    else of 31 bits; ties, broken by index, move the chosen subset from
    uniform by less than ``N / 2**bits`` in total variation.

    Returns ``context_idx`` int32 ``[B, Kc]``, ``context_valid`` bool ``[B, Kc]``,
    ``target_idx`` int32 ``[B, Kt]``, ``target_valid`` bool ``[B, Kt]``; valid
    entries first, ascending.
    """
    shape = (n_target.shape[0], *grid_shape)
    n = math.prod(grid_shape)
    n_context = n - n_target
    counts = (context_count, target_count)
    n_valid = (np.minimum(n_context, context_count), np.minimum(n_target, target_count))
    need_random = bool(n_context.max() > context_count or n_target.max() > target_count)
    index_bits = max(1, (n - 1).bit_length())
    if 31 - index_bits >= 20:
        parts = _select_narrow(flag, shape, counts, n_valid, index_bits, rng, need_random)
    else:
        parts = _select_wide(flag, shape, counts, n_valid, rng, need_random)
    return dict(zip(('context_idx', 'context_valid', 'target_idx', 'target_valid'), parts))

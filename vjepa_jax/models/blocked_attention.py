"""Blocked softmax attention for CPUs: query blocks whose scores stay in cache.

XLA's CPU attention materialises the whole ``[B, H, L, S]`` score tensor and
streams it through memory once per softmax pass (max, exp, sum, divide, the
value matmul, and as many again in the backward pass): at 1568 tokens that is
~100 MB per layer, and the passes run at memory speed. Here the queries go
through in blocks of ``block_q`` rows (``lax.map`` / ``lax.scan``); each block
computes its full softmax row over all keys, so the math is the reference's
(no online rescaling) and a block's scores stay in cache.

The backward pass is written out (``jax.custom_vjp``) the flash-attention way:
the forward keeps only the output and two row statistics ``[B, H, L]``; the
backward recomputes each block's probabilities and accumulates dK, dV over
the blocks in a scan carry, instead of autodiff storing every block's scores.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

Array = jax.Array

# Rows of one query block: chosen by measurement (docs/performance.md); small
# enough that a block's [B, H, l, S] scores stay in cache at 1568 keys,
# large enough that the per-block loop overhead is small.
BLOCK_Q = 128
NEG = float(jnp.finfo(jnp.float32).min) / 2   # an invalid key's score bias


def _blocks(x: Array, block_q: int) -> Array:
    """``[B, H, L, d]`` -> ``[n, B, H, block_q, d]`` (zero-padded to ``n * block_q`` rows)."""
    b, h, length, d = x.shape
    n = -(-length // block_q)
    x = jnp.pad(x, ((0, 0), (0, 0), (0, n * block_q - length), (0, 0)))
    return jnp.moveaxis(x.reshape(b, h, n, block_q, d), 2, 0)


def _unblocks(x: Array, length: int) -> Array:
    """Inverse of ``_blocks``: ``[n, B, H, l, d]`` -> ``[B, H, L, d]``."""
    n, b, h, block_q, d = x.shape
    return jnp.moveaxis(x, 0, 2).reshape(b, h, n * block_q, d)[:, :, :length]


def _scores(qb: Array, kh: Array, bias: Array) -> Array:
    """float32 ``[B, H, l, S]`` scores of one (pre-scaled) query block."""
    return jnp.matmul(qb, jnp.swapaxes(kh, -1, -2), preferred_element_type=jnp.float32) + bias


def _forward(qh: Array, kh: Array, vh: Array, bias: Array, block_q: int
             ) -> tuple[Array, tuple[Array, Array]]:
    """``qh [B, H, L, hd]`` (scaled), ``kh, vh [B, H, S, hd]``, ``bias [B, 1, 1, S]``.

    Returns ``out [B, H, L, hd]`` and the row statistics ``(max, 1 / sum)``
    ``[B, H, L, 1]`` each, kept apart (not as one log-sum-exp) so that a row
    of all-invalid keys, whose max is ``NEG``, keeps its ``1 / S``.
    """

    def block(qb: Array) -> tuple[Array, tuple[Array, Array]]:
        s = _scores(qb, kh, bias)
        m = jnp.max(s, axis=-1, keepdims=True)
        p = jnp.exp(s - m)
        inv = 1.0 / jnp.sum(p, axis=-1, keepdims=True)
        out = jnp.matmul(p.astype(vh.dtype), vh, preferred_element_type=jnp.float32) * inv
        return out.astype(qh.dtype), (m, inv)

    length = qh.shape[2]
    if length <= block_q:
        return block(qh)
    out, (m, inv) = jax.lax.map(block, _blocks(qh, block_q))
    return _unblocks(out, length), (_unblocks(m, length), _unblocks(inv, length))


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def _attend(qh: Array, kh: Array, vh: Array, bias: Array, block_q: int) -> Array:
    return _forward(qh, kh, vh, bias, block_q)[0]


def _attend_fwd(qh: Array, kh: Array, vh: Array, bias: Array, block_q: int
                ) -> tuple[Array, tuple[Array, ...]]:
    out, (m, inv) = _forward(qh, kh, vh, bias, block_q)
    return out, (qh, kh, vh, bias, out, m, inv)


def _attend_bwd(block_q: int, res: tuple[Array, ...], dout: Array
                ) -> tuple[Array, Array, Array, Array]:
    qh, kh, vh, bias, out, m, inv = res
    length = qh.shape[2]
    # delta_i = sum_j p_ij dp_ij = <dout_i, out_i>: the softmax backward's row term.
    delta = jnp.sum(dout.astype(jnp.float32) * out.astype(jnp.float32), -1, keepdims=True)
    n = -(-length // block_q)
    # Padded query rows have dout = 0, so they add nothing to dK / dV.
    xs = tuple(_blocks(x, block_q) if n > 1 else x[None]
               for x in (qh, dout, m, inv, delta))

    def block(carry: tuple[Array, Array], x: tuple[Array, ...]
              ) -> tuple[tuple[Array, Array], Array]:
        dk, dv = carry
        qb, dob, mb, invb, deltab = x
        p = jnp.exp(_scores(qb, kh, bias) - mb) * invb                # [B, H, l, S]
        dv = dv + jnp.matmul(jnp.swapaxes(p, -1, -2).astype(dob.dtype), dob,
                             preferred_element_type=jnp.float32)
        dp = jnp.matmul(dob, jnp.swapaxes(vh, -1, -2), preferred_element_type=jnp.float32)
        # Invalid keys get no score gradient, as the reference's masked scores.
        ds = jnp.where(bias == 0.0, p * (dp - deltab), 0.0)
        dq = jnp.matmul(ds.astype(kh.dtype), kh, preferred_element_type=jnp.float32)
        dk = dk + jnp.matmul(jnp.swapaxes(ds, -1, -2).astype(qb.dtype), qb,
                             preferred_element_type=jnp.float32)
        return (dk, dv), dq.astype(qh.dtype)

    zeros = jnp.zeros(kh.shape, jnp.float32)
    (dk, dv), dq = jax.lax.scan(block, (zeros, zeros), xs)
    dq = _unblocks(dq, length) if n > 1 else dq[0]
    return dq, dk.astype(kh.dtype), dv.astype(vh.dtype), jnp.zeros_like(bias)


_attend.defvjp(_attend_fwd, _attend_bwd)


def even_block(length: int, block_q: int = BLOCK_Q) -> int:
    """Rows per block for ``length`` queries: as many blocks as ``block_q`` rows need,
    evened out (a multiple of 8) so that padding stays small (392 -> 4 x 104, not 4 x 128)."""
    blocks = -(-length // block_q)
    rows = -(-length // blocks)
    return -(-rows // 8) * 8


def blocked_attention(q: Array, k: Array, v: Array, key_valid: Array | None,
                      block_q: int = BLOCK_Q) -> Array:
    """Softmax attention. ``q [B, L, H, hd]``, ``k, v [B, S, H, hd]``, ``key_valid [B, S]`` -> ``[B, L, H, hd]``.

    Invalid keys get a score bias of ``NEG`` (finite, so a row whose keys are
    all invalid gives the uniform average the reference gives). Blocks hold at
    most ``block_q`` rows (``even_block``).
    """
    b, kv_len = k.shape[0], k.shape[1]
    scale = jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    qh = jnp.swapaxes(q * scale, 1, 2)                   # [B, H, L, hd]
    kh, vh = jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2)
    if key_valid is None:
        bias = jnp.zeros((b, 1, 1, kv_len), jnp.float32)
    else:
        bias = jnp.where(key_valid, 0.0, NEG).astype(jnp.float32)[:, None, None, :]
    block = even_block(q.shape[1], block_q)
    return jnp.swapaxes(_attend(qh, kh, vh, bias, block), 1, 2)

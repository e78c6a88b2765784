"""TPU attention through the Pallas splash-attention kernel.

The kernel works on one example ``[H, L, hd]`` at a time in 128-token tiles
and never materialises the ``[L, S]`` scores in HBM, which is where XLA's
attention spends its memory at 1568 / 4608 tokens. Here:

- queries and keys are padded to a multiple of ``TILE``; padded and invalid
  keys get segment id 0 and every query segment id 1, so they are never
  attended (the kernel's segment mask), which is how padded tokens are handled;
- the query is pre-scaled by ``head_dim ** -0.5`` (the kernel does not scale);
- under a mesh the kernel runs per device through ``shard_map`` with the batch
  and head axes the logical rules give ``batch`` and ``heads`` (a Pallas call
  cannot be partitioned by XLA itself).

Only TPU compiles it; other platforms use ``attention``'s other implementations.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

Array = jax.Array

TILE = 128
# Shorter sequences (a probe's queries) fill too little of a tile to gain.
MIN_LEN = TILE


def fits(q: Array, k: Array) -> bool:
    """Whether splash pays: both sequences at least one tile long."""
    return q.shape[1] >= MIN_LEN and k.shape[1] >= MIN_LEN


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _block(n: int) -> int:
    """Largest of 512 / 256 / 128 dividing the padded length ``n``."""
    return next(b for b in (512, 256, TILE) if n % b == 0)


def _kernel_call(qh: Array, kh: Array, vh: Array, q_seg: Array, kv_seg: Array,
                 interpret: bool = False) -> Array:
    """Per-device splash call. ``qh [b, h, Lp, hd]``, ``kh, vh [b, h, Sp, hd]``, segs ``[b, Lp] / [b, Sp]``."""
    from jax.experimental.pallas.ops.tpu.splash_attention import (
        splash_attention_kernel as kernel_lib,
    )
    from jax.experimental.pallas.ops.tpu.splash_attention import (
        splash_attention_mask as mask_lib,
    )
    heads, lp, sp = qh.shape[1], qh.shape[2], kh.shape[2]
    bq, bkv = _block(lp), _block(sp)
    sizes = kernel_lib.BlockSizes(block_q=bq, block_kv=bkv, block_kv_compute=bkv,
                                  block_q_dkv=bq, block_kv_dkv=bkv, block_kv_dkv_compute=bkv,
                                  block_q_dq=bq, block_kv_dq=bkv)
    mask = mask_lib.MultiHeadMask([mask_lib.FullMask((lp, sp)) for _ in range(heads)])
    kernel = kernel_lib.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                        interpret=interpret)
    seg = kernel_lib.SegmentIds(q=q_seg, kv=kv_seg)
    return jax.vmap(kernel)(qh, kh, vh, seg)


def _mesh_spec() -> tuple[object, PartitionSpec] | None:
    """(mesh, spec for ``[B, H, L, hd]``) under an active mesh with rules, else None."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return None
    spec = nn.logical_to_mesh_axes(('batch', 'heads', None, None))
    return mesh, PartitionSpec(*spec)


def splash_attention(q: Array, k: Array, v: Array, key_valid: Array | None,
                     interpret: bool = False) -> Array:
    """``q [B, L, H, hd]``, ``k, v [B, S, H, hd]``, ``key_valid [B, S]`` bool -> ``[B, L, H, hd]``.

    Every row needs one valid key (the kernel's segment mask must not empty a
    row). ``interpret`` runs the kernel in the Pallas interpreter (any
    platform, slow; for tests).
    """
    b, length, _, head_dim = q.shape
    kv_len = k.shape[1]
    lp, sp = _round_up(length, TILE), _round_up(kv_len, TILE)
    scale = jnp.asarray(head_dim ** -0.5, q.dtype)

    def heads_first(x: Array, n: int) -> Array:
        return jnp.pad(jnp.swapaxes(x, 1, 2), ((0, 0), (0, 0), (0, n - x.shape[1]), (0, 0)))

    qh, kh, vh = heads_first(q * scale, lp), heads_first(k, sp), heads_first(v, sp)
    valid = jnp.ones((b, kv_len), bool) if key_valid is None else key_valid
    kv_seg = jnp.pad(valid, ((0, 0), (0, sp - kv_len))).astype(jnp.int32)
    q_seg = jnp.ones((b, lp), jnp.int32)
    placed = _mesh_spec()
    call = partial(_kernel_call, interpret=interpret)
    if placed is None:
        out = call(qh, kh, vh, q_seg, kv_seg)
    else:
        mesh, spec = placed
        seg_spec = PartitionSpec(spec[0], None)
        out = jax.shard_map(call, mesh=mesh,
                            in_specs=(spec, spec, spec, seg_spec, seg_spec),
                            out_specs=spec, check_vma=False)(qh, kh, vh, q_seg, kv_seg)
    return jnp.swapaxes(out[:, :, :length], 1, 2)

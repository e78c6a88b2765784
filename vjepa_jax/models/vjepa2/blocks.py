"""Pre-norm transformer blocks with 3D RoPE on q and k (the V-JEPA 2 encoder / predictor block).

Parameter names and layouts are those of ``vjepa_jax.models.layers.Block``
(``norm1``, ``attn/qkv`` ``[D, 3, heads, head_dim]``, ``attn/proj``, ``norm2``,
``mlp/fc1``, ``mlp/fc2``; stacks as ``layer_{i}`` or scanned ``layers``), so
the V-JEPA 1 checkpoint tables and ``stack_layers`` / ``unstack_layers`` apply
unchanged. The only difference in the math is the rotation of q and k before
attention; attention itself is ``layers.attend``.

Init keeps V-JEPA 2's depth rescaling: block ``i``'s ``attn/proj`` and
``mlp/fc2`` kernels have std ``init_std / sqrt(2 (i + 1))`` (V-JEPA 1 undoes it).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.models import layers
from vjepa_jax.models.attention import target_platform
from vjepa_jax.models.cotangent_barrier import between_blocks
from vjepa_jax.models.rope import apply_rope

Array = jax.Array


class RopeSelfAttention(nn.Module):
    """Self-attention with a fused qkv projection, 3D RoPE on q and k, output projection."""

    num_heads: int
    dtype: Any = jnp.float32
    init_std: float = 0.02
    out_std: Any = None  # float, or a traced scalar inside a scanned stack
    implementation: str | None = None
    interleave: bool = False

    @nn.compact
    def __call__(self, x: Array, positions: Array, mask: Array | None = None) -> Array:
        """``x [B, N, D]``, int ``positions [B, N, 3]`` (t, h, w), optional mask -> ``[B, N, D]``."""
        dim = x.shape[-1]
        head_dim = dim // self.num_heads
        qkv = layers.heads_dense((3, self.num_heads, head_dim), (None, 'heads', 'head_dim'),
                                 self.dtype, self.init_std, 'qkv')(x)
        q, k, v = (layers.constrain(qkv[:, :, i], 'batch', 'tokens', 'heads', 'head_dim')
                   for i in range(3))
        q = apply_rope(q, positions, self.interleave)
        k = apply_rope(k, positions, self.interleave)
        out = layers.attend(q, k, v, mask, self.implementation)
        out_std = self.init_std if self.out_std is None else self.out_std
        return layers.DenseGeneral((dim,), ('heads', 'head_dim', 'embed'), ('embed',), 2,
                                   self.dtype, out_std, name='proj')(out)


class RopeBlock(nn.Module):
    """``x + attn(norm1 x)`` then ``x + mlp(norm2 x)``, with RoPE in the attention.

    ``layer`` (the block's index, a Python int or a traced scalar in a scan)
    sets the depth-rescaled init of ``attn/proj`` and ``mlp/fc2``.
    """

    num_heads: int
    mlp_dim: int
    eps: float = 1e-6
    dtype: Any = jnp.float32
    init_std: float = 0.02
    attention_impl: str | None = None
    interleave: bool = False
    scan_carry: bool = False  # (x, layer) -> ((x, layer + 1), x or None), as nn.scan wants
    emit: bool = False  # in a scan, also return x as the per-layer output

    @nn.compact
    def __call__(self, x: Any, positions: Array, mask: Array | None = None,
                 layer: Any = 0) -> Any:
        if self.scan_carry:
            x, layer = x
        out_std = self.init_std / jnp.sqrt(2.0 * (jnp.asarray(layer, jnp.float32) + 1.0))
        x = layers.constrain(x, 'batch', 'tokens', 'embed')
        y = layers.layer_norm(self.eps, self.dtype, 'norm1')(x)
        x = x + RopeSelfAttention(self.num_heads, self.dtype, self.init_std, out_std,
                                  self.attention_impl, self.interleave, name='attn')(
                                      y, positions, mask)
        y = layers.layer_norm(self.eps, self.dtype, 'norm2')(x)
        x = x + layers.Mlp(self.mlp_dim, self.dtype, self.init_std, out_std, name='mlp')(y)
        return ((x, layer + 1), x if self.emit else None) if self.scan_carry else x


class RopeBlockStack(nn.Module):
    """``depth`` RopeBlocks, unrolled (``layer_{i}``) or scanned (``layers``), optional remat.

    ``__call__`` returns the output of the last block, or with ``collect=True``
    the outputs of every block stacked ``[depth, B, N, D]`` (for multi-layer
    features; costs one activation per layer).
    """

    depth: int
    num_heads: int
    mlp_dim: int
    eps: float = 1e-6
    dtype: Any = jnp.float32
    init_std: float = 0.02
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None
    interleave: bool = False

    @nn.compact
    def __call__(self, x: Array, positions: Array, mask: Array | None = None,
                 collect: bool = False) -> Array:
        if self.remat_policy not in layers.REMAT_POLICIES:
            raise ValueError(f'remat_policy {self.remat_policy!r} is not one of '
                             f'{sorted(layers.REMAT_POLICIES)}.')
        kwargs = {'num_heads': self.num_heads, 'mlp_dim': self.mlp_dim, 'eps': self.eps,
                  'dtype': self.dtype, 'init_std': self.init_std,
                  'attention_impl': self.attention_impl, 'interleave': self.interleave,
                  'scan_carry': self.scan_layers}
        block_cls = RopeBlock
        if self.remat_policy != 'none':
            block_cls = nn.remat(block_cls, policy=layers.REMAT_POLICIES[self.remat_policy],
                                 prevent_cse=not self.scan_layers)
        if self.scan_layers:
            kwargs['emit'] = collect
            scanned = nn.scan(block_cls, variable_axes={'params': 0},
                              split_rngs={'params': True},
                              in_axes=(nn.broadcast, nn.broadcast), length=self.depth,
                              metadata_params={nn.PARTITION_NAME: 'layers'})
            (x, _), every = scanned(**kwargs, name='layers')(
                (x, jnp.zeros((), jnp.int32)), positions, mask)
            return every if collect else x
        outs = []
        platform = target_platform()
        for i in range(self.depth):
            if i:   # keeps XLA CPU from recomputing the residual gradient per block
                x = between_blocks(x, platform)
            x = block_cls(**kwargs, name=f'layer_{i}')(x, positions, mask, i)
            outs.append(x)
        return jnp.stack(outs) if collect else x

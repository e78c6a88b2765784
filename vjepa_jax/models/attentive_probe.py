"""Attentive pooler and classifier (V-JEPA 1 semantics) for frozen evaluation.

One learned query cross-attends to the (layer-normed) tokens:
``q = q + xattn(q, norm1(x)); q = q + mlp(norm2(q))``. As in the official
V-JEPA 1 code, the query itself is not normalised and the cross-attention has
no output projection (the official module holds a ``proj`` weight that its
forward never reads). With ``depth > 1``, ``depth - 1`` self-attention Blocks
then refine the query. LayerNorm eps is 1e-5 (torch's default).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models import layers

Array = jax.Array


class CrossAttention(nn.Module):
    """Queries ``[B, Q, D]`` attend to tokens ``[B, N, D]``; no output projection."""

    num_heads: int
    dtype: Any = jnp.float32
    init_std: float = 0.02
    implementation: str | None = None

    @nn.compact
    def __call__(self, q: Array, x: Array, mask: Array | None = None) -> Array:
        dim = q.shape[-1]
        head_dim = dim // self.num_heads
        query = layers.heads_dense((self.num_heads, head_dim), ('heads', 'head_dim'),
                                    self.dtype, self.init_std, 'q')(q)
        kv = layers.heads_dense((2, self.num_heads, head_dim), (None, 'heads', 'head_dim'),
                                 self.dtype, self.init_std, 'kv')(x)
        out = layers.attend(query, kv[:, :, 0], kv[:, :, 1], mask, self.implementation)
        return out.reshape(*q.shape[:-1], dim)


class CrossAttentionBlock(nn.Module):
    """``q = q + xattn(q, norm1(x)); q = q + mlp(norm2(q))``. ``q [B, Q, D]``, ``x [B, N, D]``."""

    num_heads: int
    mlp_dim: int
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, q: Array, x: Array, mask: Array | None = None) -> Array:
        y = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm1')(x)
        q = q + CrossAttention(self.num_heads, self.dtype, self.init_std, self.attention_impl,
                               name='xattn')(q, y, mask)
        y = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm2')(q)
        # The official init divides this fc2 by sqrt(2 * layer), layer 1.
        return q + layers.Mlp(self.mlp_dim, self.dtype, self.init_std,
                              self.init_std / np.sqrt(2.0), name='mlp')(y)


class AttentivePooler(nn.Module):
    """Learned queries pool tokens ``[B, N, D] -> [B, num_queries, D]``."""

    num_heads: int
    mlp_dim: int
    depth: int = 1
    num_queries: int = 1
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, tokens: Array, token_valid: Array | None = None) -> Array:
        """``tokens [B, N, D]``, optional bool ``token_valid [B, N]`` -> ``[B, Q, D]``."""
        if self.depth < 1:
            raise ValueError(f'AttentivePooler depth must be >= 1, got {self.depth}.')
        dim = tokens.shape[-1]
        query = self.param('query_tokens', layers.logical(layers.trunc_normal(self.init_std),
                                                          None, 'embed'),
                           (self.num_queries, dim), jnp.float32)
        q = jnp.broadcast_to(jnp.asarray(query, self.dtype), (tokens.shape[0], *query.shape))
        q = CrossAttentionBlock(self.num_heads, self.mlp_dim, self.layer_norm_eps,
                                self.init_std, self.dtype, self.attention_impl,
                                name='cross_attention_block')(
                                    q, tokens, layers.key_mask(token_valid))
        for i in range(self.depth - 1):
            q = layers.Block(self.num_heads, self.mlp_dim, self.layer_norm_eps, self.dtype,
                             self.init_std, self.init_std / np.sqrt(2.0 * (i + 2)),
                             self.attention_impl, name=f'blocks_{i}')(q)
        return q


class AttentiveClassifier(nn.Module):
    """Attentive pooler (one query) + Linear. ``[B, N, D] -> [B, num_classes]``."""

    num_classes: int
    num_heads: int
    mlp_dim: int
    depth: int = 1
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, tokens: Array, token_valid: Array | None = None) -> Array:
        pooled = AttentivePooler(self.num_heads, self.mlp_dim, self.depth, 1,
                                 self.layer_norm_eps, self.init_std, self.dtype,
                                 self.attention_impl, name='pooler')(tokens, token_valid)[:, 0]
        dim = tokens.shape[-1]
        # torch's default nn.Linear init, which the official head keeps.
        return nn.Dense(self.num_classes, dtype=self.dtype, name='linear',
                        kernel_init=layers.logical(
                            nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform'),
                            'embed', 'classes'),
                        bias_init=layers.logical(layers.torch_linear_bias(dim), 'classes'))(pooled)

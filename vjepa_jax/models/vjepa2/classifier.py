"""V-JEPA 2 attentive classifier: self-attention blocks on the tokens, then one query.

Differs from V-JEPA 1's (``models.attentive_probe``): the ``depth - 1`` plain
self-attention Blocks (no RoPE) run on the encoder tokens *before* the query's
cross-attention block; the cross-attention has no output projection at all.
LayerNorm eps 1e-5 (torch's default), exact GELU. Its head count is the
probe's own (16 in every official recipe), independent of the encoder's.
Init as the official ``AttentivePooler``: block ``i``'s ``attn/proj`` and
``mlp/fc2`` std ``init_std / sqrt(2 (i + 1))``, the cross block's ``mlp/fc2``
``init_std / sqrt(2 max(depth - 1, 1))``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models import layers
from vjepa_jax.models.attentive_probe import CrossAttention

Array = jax.Array


class QueryCrossBlock(nn.Module):
    """``q = q + xattn(q, norm1 x); q = q + mlp(norm2 q)``. ``q [B, Q, D]``, ``x [B, N, D]``."""

    num_heads: int
    mlp_dim: int
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    out_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, q: Array, x: Array, mask: Array | None = None) -> Array:
        y = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm1')(x)
        q = q + CrossAttention(self.num_heads, self.dtype, self.init_std, self.attention_impl,
                               name='xattn')(q, y, mask)
        y = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm2')(q)
        return q + layers.Mlp(self.mlp_dim, self.dtype, self.init_std, self.out_std,
                              name='mlp')(y)


class VJEPA2AttentivePooler(nn.Module):
    """Tokens ``[B, N, D]`` -> one pooled vector per clip ``[B, 1, D]``."""

    num_heads: int
    mlp_dim: int
    depth: int = 4
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, tokens: Array, token_valid: Array | None = None) -> Array:
        if self.depth < 1:
            raise ValueError(f'VJEPA2AttentivePooler depth must be >= 1, got {self.depth}.')
        mask = layers.key_mask(token_valid)
        x = tokens
        for i in range(self.depth - 1):
            x = layers.Block(self.num_heads, self.mlp_dim, self.layer_norm_eps, self.dtype,
                             self.init_std, self.init_std / np.sqrt(2.0 * (i + 1)),
                             self.attention_impl, name=f'blocks_{i}')(x, mask)
        dim = tokens.shape[-1]
        query = self.param('query_tokens', layers.logical(layers.trunc_normal(self.init_std),
                                                          None, 'embed'), (1, dim), jnp.float32)
        q = jnp.broadcast_to(jnp.asarray(query, self.dtype), (tokens.shape[0], 1, dim))
        out_std = self.init_std / np.sqrt(2.0 * max(self.depth - 1, 1))
        return QueryCrossBlock(self.num_heads, self.mlp_dim, self.layer_norm_eps, self.init_std,
                               out_std, self.dtype, self.attention_impl,
                               name='cross_attention_block')(q, x, mask)


class VJEPA2AttentiveClassifier(nn.Module):
    """Pooler + Linear: tokens ``[B, N, D]`` (optional bool ``token_valid [B, N]``) -> logits
    ``[B, num_classes]``."""

    num_classes: int
    num_heads: int = 16
    mlp_dim: int = 4096
    depth: int = 4
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    dtype: Any = jnp.float32
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, tokens: Array, token_valid: Array | None = None) -> Array:
        pooled = VJEPA2AttentivePooler(self.num_heads, self.mlp_dim, self.depth,
                                       self.layer_norm_eps, self.init_std, self.dtype,
                                       self.attention_impl, name='pooler')(
                                           tokens, token_valid)[:, 0]
        dim = tokens.shape[-1]
        # torch's default nn.Linear init, which the official head keeps.
        return nn.Dense(self.num_classes, dtype=self.dtype, name='linear',
                        kernel_init=layers.logical(
                            nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform'),
                            'embed', 'classes'),
                        bias_init=layers.logical(layers.torch_linear_bias(dim), 'classes'))(pooled)

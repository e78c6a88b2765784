"""Narrow ViT predictor with one learned mask token per mask set."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.models import layers, pos_embed

Array = jax.Array


class Predictor(nn.Module):
    """Predicts encoder features at target positions from context tokens.

    Sequence = [Linear(context) + table[context_idx] ;
    mask_token[mask_set] + table[target_idx]] (no sorting), pre-norm blocks
    with the encoder's head count, LayerNorm, keep the target part,
    Linear back to the encoder width. Works at the token grid it was built for
    (the official predictor does not resize its table). Inside the predictor the
    logical name ``embed`` means the predictor's own width; the two projections
    leave the encoder-width side unsharded.
    """

    img_size: int = 224
    num_frames: int = 16
    patch_size: int = 16
    tubelet_size: int = 2
    embed_dim: int = 1024  # encoder width (input and output)
    predictor_embed_dim: int = 384
    depth: int = 12
    num_heads: int = 16
    mlp_dim: int = 1536
    num_mask_tokens: int = 2
    zero_init_mask_tokens: bool = True
    uniform_power: bool = True
    layer_norm_eps: float = 1e-6
    init_std: float = 0.02
    dtype: Any = jnp.float32
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None

    @property
    def grid(self) -> tuple[int, int, int]:
        side = self.img_size // self.patch_size
        return self.num_frames // self.tubelet_size, side, side

    @nn.compact
    def __call__(self, context: Array, context_idx: Array, target_idx: Array, mask_set: int,
                 context_valid: Array | None = None,
                 target_valid: Array | None = None) -> Array:
        """Predicts target features.

        Args:
          context: ``[B, Kc, D]`` context-encoder output.
          context_idx: int ``[B, Kc]`` raster indices of the context tokens.
          target_idx: int ``[B, Kt]`` raster indices to predict.
          mask_set: Python int, which mask set (picks mask token
            ``mask_set % num_mask_tokens``).
          context_valid, target_valid: optional bool ``[B, Kc]`` / ``[B, Kt]``;
            invalid (padded) tokens are ignored as attention keys.

        Returns:
          ``[B, Kt, D]`` predictions in the encoder's width.
        """
        pdim = self.predictor_embed_dim
        table = jnp.asarray(pos_embed.video_table(pdim, self.grid, self.uniform_power))
        x = nn.Dense(pdim, dtype=self.dtype, name='predictor_embed',
                     kernel_init=layers.logical(layers.trunc_normal(self.init_std),
                                                None, 'embed'),
                     bias_init=layers.logical(nn.initializers.zeros, 'embed'))(context)
        x = x + gather_tokens(table, context_idx).astype(x.dtype)
        mask_init = (nn.initializers.zeros if self.zero_init_mask_tokens
                     else layers.trunc_normal(self.init_std))
        mask_tokens = self.param('mask_tokens', layers.logical(mask_init, None, 'embed'),
                                 (self.num_mask_tokens, pdim), jnp.float32)
        token = jnp.asarray(mask_tokens[mask_set % self.num_mask_tokens], x.dtype)
        targets = token + gather_tokens(table, target_idx).astype(x.dtype)
        x = jnp.concatenate([x, targets], axis=1)
        x = layers.constrain(x, 'batch', 'tokens', 'embed')
        valid = None
        if context_valid is not None or target_valid is not None:
            cv = (jnp.ones(context_idx.shape, bool) if context_valid is None
                  else jnp.asarray(context_valid, bool))
            tv = (jnp.ones(target_idx.shape, bool) if target_valid is None
                  else jnp.asarray(target_valid, bool))
            valid = jnp.concatenate([cv, tv], axis=1)
        x = layers.BlockStack(self.depth, self.num_heads, self.mlp_dim, self.layer_norm_eps,
                              self.dtype, self.scan_layers, self.remat_policy,
                              self.attention_impl, name='predictor_blocks')(
                                  x, layers.key_mask(valid))
        x = layers.layer_norm(self.layer_norm_eps, self.dtype, 'predictor_norm')(x)
        x = x[:, context.shape[1]:]
        x = nn.Dense(self.embed_dim, dtype=self.dtype, name='predictor_proj',
                     kernel_init=layers.logical(layers.trunc_normal(self.init_std),
                                                'embed', None),
                     bias_init=layers.logical(nn.initializers.zeros, None))(x)
        return layers.constrain(x, 'batch', 'tokens', 'embed')

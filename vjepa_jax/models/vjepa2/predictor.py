"""V-JEPA 2 predictor: RoPE blocks over position-sorted context and mask tokens."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.models import layers
from vjepa_jax.models.rope import axis_dim, grid_positions
from vjepa_jax.models.vjepa2.blocks import RopeBlockStack

Array = jax.Array


def _take(x: Array, order: Array) -> Array:
    """``x [B, N, ...]`` reordered along N by ``order [B, N]``."""
    return jnp.take_along_axis(x, order.reshape(*order.shape, *([1] * (x.ndim - 2))), axis=1)


class VJEPA2Predictor(nn.Module):
    """Predicts encoder features at target positions from context tokens.

    Sequence = [Linear(context) ; mask_tokens[mask_index % n] at every target];
    both parts and their token ids are sorted by id (stable), run through the
    RoPE blocks, ``predictor_norm``, un-sorted; the target part goes through
    ``predictor_proj`` back to the encoder width. RoPE positions use the grid of
    the construction clip (``img_size`` / ``patch_size`` for both rows and
    frames, as the official predictor), so target ids must be below
    ``(num_frames / tubelet) * (img_size / patch)^2``; build it for the largest
    frames-per-clip group. Inside the predictor ``embed`` means its own width.
    """

    img_size: int = 256
    num_frames: int = 16
    patch_size: int = 16
    tubelet_size: int = 2
    embed_dim: int = 1024  # encoder width (input and output)
    predictor_embed_dim: int = 384
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 1536
    num_mask_tokens: int = 2
    zero_init_mask_tokens: bool = True
    layer_norm_eps: float = 1e-6
    init_std: float = 0.02
    rope_interleave: bool = False
    dtype: Any = jnp.float32
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None

    @property
    def grid(self) -> tuple[int, int, int]:
        side = self.img_size // self.patch_size
        return self.num_frames // self.tubelet_size, side, side

    @nn.compact
    def __call__(self, context: Array, context_idx: Array, target_idx: Array, mask_index: int,
                 context_valid: Array | None = None,
                 target_valid: Array | None = None) -> Array:
        """Predicts target features.

        Args:
          context: ``[B, Kc, D]`` output of the masked context encoder.
          context_idx: int ``[B, Kc]`` token ids of the context tokens.
          target_idx: int ``[B, Kt]`` token ids to predict.
          mask_index: Python int, the mask token to use (``mask_index %
            num_mask_tokens``). In official training it is the frames-per-clip
            group index; the hub / Hugging Face inference default is 1.
          context_valid, target_valid: optional bool ``[B, Kc]`` / ``[B, Kt]``;
            invalid (padded) tokens are ignored as attention keys.

        Returns:
          ``[B, Kt, D]`` predictions in the encoder's width.
        """
        pdim = self.predictor_embed_dim
        axis_dim(pdim // self.num_heads)
        x = nn.Dense(pdim, dtype=self.dtype, name='predictor_embed',
                     kernel_init=layers.logical(layers.trunc_normal(self.init_std),
                                                None, 'embed'),
                     bias_init=layers.logical(nn.initializers.zeros, 'embed'))(context)
        mask_init = (nn.initializers.zeros if self.zero_init_mask_tokens
                     else layers.trunc_normal(self.init_std))
        mask_tokens = self.param('mask_tokens', layers.logical(mask_init, None, 'embed'),
                                 (self.num_mask_tokens, pdim), jnp.float32)
        token = jnp.asarray(mask_tokens[mask_index % self.num_mask_tokens], x.dtype)
        targets = jnp.broadcast_to(token, (*target_idx.shape, pdim))
        x = jnp.concatenate([x, targets], axis=1)
        ids = jnp.concatenate([jnp.asarray(context_idx, jnp.int32),
                               jnp.asarray(target_idx, jnp.int32)], axis=1)
        order = jnp.argsort(ids, axis=1, stable=True)
        x, ids = _take(x, order), _take(ids, order)
        valid = None
        if context_valid is not None or target_valid is not None:
            cv = (jnp.ones(context_idx.shape, bool) if context_valid is None
                  else jnp.asarray(context_valid, bool))
            tv = (jnp.ones(target_idx.shape, bool) if target_valid is None
                  else jnp.asarray(target_valid, bool))
            valid = _take(jnp.concatenate([cv, tv], axis=1), order)
        _, side, _ = self.grid
        x = layers.constrain(x, 'batch', 'tokens', 'embed')
        x = RopeBlockStack(self.depth, self.num_heads, self.mlp_dim, self.layer_norm_eps,
                           self.dtype, self.init_std, self.scan_layers, self.remat_policy,
                           self.attention_impl, self.rope_interleave, name='predictor_blocks')(
                               x, grid_positions(ids, (side, side)), layers.key_mask(valid))
        x = layers.layer_norm(self.layer_norm_eps, self.dtype, 'predictor_norm')(x)
        x = _take(x, jnp.argsort(order, axis=1))[:, context.shape[1]:]
        x = nn.Dense(self.embed_dim, dtype=self.dtype, name='predictor_proj',
                     kernel_init=layers.logical(layers.trunc_normal(self.init_std),
                                                'embed', None),
                     bias_init=layers.logical(nn.initializers.zeros, None))(x)
        return layers.constrain(x, 'batch', 'tokens', 'embed')

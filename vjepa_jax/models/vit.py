"""Video ViT encoder: tubelet embedding, 3D sin-cos positions, pre-norm blocks."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.models import layers, pos_embed

Array = jax.Array


class TubeletEmbed(nn.Module):
    """Non-overlapping ``tubelet x patch x patch`` cubes -> tokens.

    Equal to the official Conv3d with kernel = stride; the kernel is stored as
    ``[tubelet, patch, patch, C, D]``. ``[B, T, H, W, C] -> [B, T', H', W', D]``.
    """

    embed_dim: int
    patch_size: int
    tubelet_size: int
    dtype: Any = jnp.float32
    init_std: float = 0.02

    @nn.compact
    def __call__(self, video: Array) -> Array:
        b, t, h, w, c = video.shape
        tt, p = self.tubelet_size, self.patch_size
        kernel = self.param('kernel', layers.logical(layers.trunc_normal(self.init_std),
                                                     None, None, None, None, 'embed'),
                            (tt, p, p, c, self.embed_dim), jnp.float32)
        bias = self.param('bias', layers.logical(nn.initializers.zeros, 'embed'),
                          (self.embed_dim,), jnp.float32)
        cubes = video.reshape(b, t // tt, tt, h // p, p, w // p, p, c)
        out = jnp.einsum('bTtHhWwc,thwcd->bTHWd', cubes.astype(self.dtype),
                         jnp.asarray(kernel, self.dtype))
        return out + jnp.asarray(bias, self.dtype)


class VisionTransformer(nn.Module):
    """V-JEPA video encoder.

    Built for clips of ``num_frames`` x ``img_size`` x ``img_size``; other
    sizes (multiples of tubelet / patch) get a trilinearly resized position
    table, like the official ``interpolate_pos_encoding``. Images ``[B, H, W, C]``
    are repeated along time to ``num_frames``.
    """

    img_size: int = 224
    num_frames: int = 16
    patch_size: int = 16
    tubelet_size: int = 2
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_dim: int = 4096
    uniform_power: bool = True
    layer_norm_eps: float = 1e-6
    init_std: float = 0.02
    dtype: Any = jnp.float32
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (T', H', W') the model was built for."""
        side = self.img_size // self.patch_size
        return self.num_frames // self.tubelet_size, side, side

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def input_grid(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Token grid of a clip of shape ``[B, T, H, W, C]``; errors say what to fix."""
        _, t, h, w, _ = shape
        if t % self.tubelet_size or h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f'Clip of {t} frames x {h} x {w} does not split into tubelets of '
                f'{self.tubelet_size} frames x {self.patch_size} x {self.patch_size} '
                'pixels; use a frame count divisible by the tubelet size and a '
                'height/width divisible by the patch size.')
        return t // self.tubelet_size, h // self.patch_size, w // self.patch_size

    def position_table(self, grid: tuple[int, int, int]) -> Array:
        """Float32 ``[T'*H'*W', D]`` table for a token grid (resized if needed)."""
        new_grid = None if tuple(grid) == self.grid else tuple(grid)
        return jnp.asarray(pos_embed.video_table(self.embed_dim, self.grid,
                                                 self.uniform_power, new_grid))

    @nn.compact
    def __call__(self, video: Array, token_idx: Array | None = None,
                 token_valid: Array | None = None) -> Array:
        """Encodes a clip.

        Args:
          video: ``[B, T, H, W, C]`` float (already normalised), or images
            ``[B, H, W, C]``.
          token_idx: optional int ``[B, K]`` raster indices of the tokens to keep.
          token_valid: optional bool ``[B, K]`` (or ``[B, N]`` without
            ``token_idx``); invalid tokens are ignored as attention keys.

        Returns:
          ``[B, N, D]`` (or ``[B, K, D]`` with ``token_idx``) after the final LayerNorm.
        """
        if video.ndim == 4:
            video = jnp.repeat(video[:, None], self.num_frames, axis=1)
        if video.ndim != 5:
            raise ValueError(f'Expected a video [B, T, H, W, C] or images [B, H, W, C], '
                             f'got shape {video.shape}.')
        grid = self.input_grid(video.shape)
        x = TubeletEmbed(self.embed_dim, self.patch_size, self.tubelet_size, self.dtype,
                         self.init_std, name='patch_embed')(video)
        x = x.reshape(x.shape[0], -1, self.embed_dim)
        x = x + self.position_table(grid).astype(x.dtype)
        if token_idx is not None:
            x = gather_tokens(x, token_idx)
        x = layers.constrain(x, 'batch', 'tokens', 'embed')
        x = layers.BlockStack(self.depth, self.num_heads, self.mlp_dim, self.layer_norm_eps,
                              self.dtype, self.scan_layers, self.remat_policy,
                              self.attention_impl, name='blocks')(
                                  x, layers.key_mask(token_valid))
        x = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm')(x)
        return layers.constrain(x, 'batch', 'tokens', 'embed')

"""V-JEPA 2 video encoder: tubelet embedding, pre-norm RoPE blocks, final LayerNorm.

No position table, class token, registers or layer scale. RoPE positions come
from the token grid of the actual input, so any frame count, size and aspect
ratio (multiples of tubelet / patch) work without interpolation, as in the
official ``handle_nonsquare_inputs=True`` path (Hugging Face instead always uses
the config crop's grid; see docs/models_vjepa2.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.errors import ConfigError
from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.models import layers
from vjepa_jax.models.rope import axis_dim, grid_positions
from vjepa_jax.models.vit import TubeletEmbed
from vjepa_jax.models.vjepa2.blocks import RopeBlockStack

Array = jax.Array


def images_as_video(images: Array, frames: int) -> Array:
    """Images ``[B, H, W, C]`` -> static clips ``[B, frames, H, W, C]`` (each image repeated).

    The official image evaluation repeats to 16 frames; the V-JEPA 2-AC code
    and Hugging Face duplicate a frame to 2 (one tubelet).
    """
    return jnp.repeat(images[:, None], frames, axis=1)


def out_layers_problem(out_layers: Sequence[int], depth: int, what: str = 'out_layers'
                       ) -> str | None:
    """Why ``out_layers`` are not block indices of a ``depth``-block encoder; None when they are."""
    if not out_layers:
        return f'{what} is empty: give block indices in [-{depth}, {depth}).'
    bad = [i for i in out_layers if not -depth <= int(i) < depth]
    if bad:
        return (f'{what} {bad} are not blocks of this {depth}-block encoder; give indices '
                f'in [-{depth}, {depth}).')
    return None


class VJEPA2Encoder(nn.Module):
    """V-JEPA 2 encoder. ``img_size`` / ``num_frames`` are the pretraining clip (informational:
    with RoPE any input grid works).

    ``rope_interleave`` selects the V-JEPA 2.1 frequency layout (see ``models.rope``);
    ``image_frames`` is how many frames an image ``[B, H, W, C]`` is repeated to;
    ``out_layers`` is the default of the call's ``out_layers`` (a frozen encoder
    cloned with it gives multi-layer features wherever it is applied).
    """

    img_size: int = 256
    num_frames: int = 16
    patch_size: int = 16
    tubelet_size: int = 2
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_dim: int = 4096
    layer_norm_eps: float = 1e-6
    init_std: float = 0.02
    rope_interleave: bool = False
    image_frames: int = 16
    dtype: Any = jnp.float32
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None
    out_layers: tuple[int, ...] | None = None

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (T', H', W') of the pretraining clip ``num_frames x img_size^2``."""
        side = self.img_size // self.patch_size
        return self.num_frames // self.tubelet_size, side, side

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def input_grid(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Token grid (T', H', W') of a clip ``[B, T, H, W, C]``.

        Frames must be a multiple of the tubelet; height and width are floored
        to whole patches, as the official strided Conv3d does.
        """
        _, t, h, w, _ = shape
        if t % self.tubelet_size or h < self.patch_size or w < self.patch_size:
            raise ConfigError(f'Clip of {t} frames x {h} x {w} does not split into tubelets of '
                              f'{self.tubelet_size} frames x {self.patch_size} x '
                              f'{self.patch_size} pixels; use a frame count divisible by '
                              f'{self.tubelet_size} and at least {self.patch_size} pixels.')
        return t // self.tubelet_size, h // self.patch_size, w // self.patch_size

    @nn.compact
    def __call__(self, video: Array, token_idx: Array | None = None,
                 token_valid: Array | None = None,
                 out_layers: Sequence[int] | None = None) -> Array:
        """Encodes a clip.

        Args:
          video: ``[B, T, H, W, C]`` float (normalised), or images ``[B, H, W, C]``
            (repeated to ``image_frames`` frames).
          token_idx: optional int ``[B, K]`` raster ids of the tokens to keep. They
            are gathered after the patch embedding and are the RoPE positions of
            every block (a masked forward, not a gathered full forward).
          token_valid: optional bool ``[B, K]`` (or ``[B, N]``); invalid tokens are
            ignored as attention keys.
          out_layers: optional block indices (None: the field ``out_layers``);
            then the result is those blocks' outputs, each through the final
            norm, concatenated along tokens ``[B, len(out_layers) * N, D]`` (the
            official multilevel probe input).

        Returns:
          ``[B, N, D]`` (``[B, K, D]`` with ``token_idx``) after the final LayerNorm.
        """
        axis_dim(self.embed_dim // self.num_heads)  # fails early on a too-narrow head
        out_layers = self.out_layers if out_layers is None else out_layers
        if video.ndim == 4:
            video = images_as_video(video, self.image_frames)
        if video.ndim != 5:
            raise ConfigError(f'Expected a video [B, T, H, W, C] or images [B, H, W, C], '
                              f'got shape {video.shape}.')
        t, h, w = self.input_grid(video.shape)
        p = self.patch_size
        video = video[:, :, :h * p, :w * p]
        x = TubeletEmbed(self.embed_dim, p, self.tubelet_size, self.dtype, self.init_std,
                         name='patch_embed')(video)
        x = x.reshape(x.shape[0], -1, self.embed_dim)
        if token_idx is None:
            ids = jnp.broadcast_to(jnp.arange(t * h * w, dtype=jnp.int32), x.shape[:2])
        else:
            ids = jnp.asarray(token_idx, jnp.int32)
            x = gather_tokens(x, ids)
        positions = grid_positions(ids, (h, w))
        x = layers.constrain(x, 'batch', 'tokens', 'embed')
        stack = RopeBlockStack(self.depth, self.num_heads, self.mlp_dim, self.layer_norm_eps,
                               self.dtype, self.init_std, self.scan_layers, self.remat_policy,
                               self.attention_impl, self.rope_interleave, name='blocks')
        norm = layers.layer_norm(self.layer_norm_eps, self.dtype, 'norm')
        mask = layers.key_mask(token_valid)
        if out_layers is None:
            return layers.constrain(norm(stack(x, positions, mask)), 'batch', 'tokens', 'embed')
        problem = out_layers_problem(out_layers, self.depth)
        if problem:
            raise ConfigError(problem)
        every = stack(x, positions, mask, collect=True)
        x = jnp.concatenate([norm(every[i]) for i in out_layers], axis=1)
        return layers.constrain(x, 'batch', 'tokens', 'embed')

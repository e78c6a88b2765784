"""Scaled dot-product attention with one implementation per backend.

``attention(q, k, v, mask, implementation)`` is the one entry point the
encoder, predictor and probes call; layout ``[B, L, heads, head_dim]``, scale
``head_dim ** -0.5``. Implementations (``model.attention_impl``):

- ``'xla'``: ``jax.nn.dot_product_attention`` lowered by XLA, the reference
  every other implementation is tested against; the only one that takes a
  general mask (anything but a key mask).
- ``'blocked'``: query blocks, each with its full softmax row over the keys, so
  a block's scores stay in cache (``blocked_attention.py``); the CPU default.
- ``'cudnn'``: cuDNN's fused kernel via ``jax.nn.dot_product_attention``; the
  GPU default where its constraints hold (16-bit inputs, head_dim a multiple
  of 8 and at most 128), XLA otherwise.
- ``'splash'``: the Pallas TPU splash-attention kernel (``splash_attention.py``);
  the TPU default for sequences long enough to fill its 128-token blocks.

``None`` or ``''`` chooses by the platform the step is compiled for (the
current mesh's devices, else JAX's default backend). An explicit choice whose
constraints a call does not meet (a probe's single query, a float32 cuDNN call)
runs that call with XLA, so one setting serves every attention in a model.

Masks: ``None``, a key mask ``[B, 1, 1, S]`` (as ``layers.key_mask`` builds
from ``[B, S]`` validity flags; padded tokens are invalid keys) which every
implementation handles, or any other bool mask broadcastable to
``[B, heads, L, S]``, which goes to XLA.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vjepa_jax.errors import ConfigError
from vjepa_jax.models import blocked_attention, splash_attention

Array = jax.Array

IMPLEMENTATIONS = ('xla', 'blocked', 'cudnn', 'splash')
DEFAULT_BY_PLATFORM = {'cpu': 'blocked', 'gpu': 'cudnn', 'cuda': 'cudnn', 'rocm': 'xla',
                       'tpu': 'splash'}


def check_implementation(name: str | None) -> str | None:
    """``name`` normalised (``''`` -> None); ConfigError for an unknown one."""
    if name is None or name == '':
        return None
    if name not in IMPLEMENTATIONS:
        raise ConfigError(f'model.attention_impl {name!r} is not one of {list(IMPLEMENTATIONS)} '
                          "(or '' to choose by backend).")
    return name


def target_platform() -> str:
    """Platform the current trace is for: the active mesh's devices, else the default backend.

    A compile-only TPU or GPU mesh (``vjepa_jax.aot``) runs on a CPU process, so
    the mesh, not the process, says which kernels the step will run.
    """
    mesh = jax.sharding.get_abstract_mesh()
    device = getattr(mesh, 'abstract_device', None) if not mesh.empty else None
    platform = getattr(device, 'platform', None)
    return str(platform) if platform else jax.default_backend()


def key_valid_of(mask: Array | None, batch: int, kv_len: int) -> tuple[bool, Array | None]:
    """``(is_key_mask, [B, S] bool or None)`` for a mask given to ``attention``."""
    if mask is None:
        return True, None
    if mask.ndim == 4 and mask.shape[1:3] == (1, 1) and mask.shape[3] == kv_len:
        return True, jnp.broadcast_to(mask[:, 0, 0, :], (batch, kv_len))
    return False, None


def cudnn_fits(q: Array, k: Array, masked: bool = False) -> bool:
    """cuDNN fused attention's constraints: 16-bit inputs, head_dim % 8 == 0 and <= 128;
    with a mask (passed as a bias) the backward also needs even sequence lengths."""
    head_dim = q.shape[-1]
    even = q.shape[1] % 2 == 0 and k.shape[1] % 2 == 0
    return (q.dtype in (jnp.bfloat16, jnp.float16) and k.dtype == q.dtype
            and head_dim % 8 == 0 and head_dim <= 128 and (even or not masked))


def resolve(implementation: str | None, q: Array, k: Array, is_key_mask: bool,
            platform: str | None = None, masked: bool = False) -> str:
    """The implementation one call runs: the requested or platform default, if it fits."""
    name = check_implementation(implementation)
    if name is None:
        name = DEFAULT_BY_PLATFORM.get(platform or target_platform(), 'xla')
    if name == 'xla' or not is_key_mask:
        return 'xla'
    if name == 'cudnn':
        return 'cudnn' if cudnn_fits(q, k, masked) else 'xla'
    if name == 'splash':
        return 'splash' if splash_attention.fits(q, k) else 'xla'
    return name


def attention(q: Array, k: Array, v: Array, mask: Array | None = None,
              implementation: str | None = None) -> Array:
    """Softmax(q k^T / sqrt(head_dim)) v. ``q [B, L, H, hd]``, ``k, v [B, S, H, hd]`` -> ``[B, L, H, hd]``.

    ``mask``: None, a key mask ``[B, 1, 1, S]`` (False = padded key), or a bool
    mask broadcastable to ``[B, H, L, S]`` (XLA only). Every implementation
    agrees with ``'xla'``: float32 to about 1e-6 relative, 16-bit inputs
    within their rounding (see tests/models/test_attention.py).
    """
    is_key_mask, key_valid = key_valid_of(mask, q.shape[0], k.shape[1])
    name = resolve(implementation, q, k, is_key_mask, masked=mask is not None)
    if name == 'blocked':
        return blocked_attention.blocked_attention(q, k, v, key_valid)
    if name == 'splash':
        return splash_attention.splash_attention(q, k, v, key_valid)
    if name == 'cudnn':
        if mask is not None:   # cuDNN takes the mask as a bias of the full [L, S]
            mask = jnp.broadcast_to(mask, (q.shape[0], 1, q.shape[1], k.shape[1]))
        return jax.nn.dot_product_attention(q, k, v, mask=mask, implementation='cudnn')
    return jax.nn.dot_product_attention(q, k, v, mask=mask, implementation='xla')

"""Transformer building blocks shared by the encoder, predictor and probes.

Parameter layouts keep heads explicit (``[embed, 3, heads, head_dim]`` for the
fused qkv kernel) so that every axis carries a logical name for sharding.
Attention goes through ``attention.attention`` (one implementation per
backend, chosen by ``attention_impl``) with layout ``[B, L, heads, head_dim]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models.attention import attention, target_platform
from vjepa_jax.models.cotangent_barrier import between_blocks

Dtype = Any
Array = jax.Array

REMAT_POLICIES: dict[str, Callable[..., bool] | None] = {
    'none': None,
    'full': jax.checkpoint_policies.nothing_saveable,
    'dots': jax.checkpoint_policies.checkpoint_dots,
    'dots_no_batch': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def trunc_normal(std: float = 0.02) -> Callable[..., Array]:
    """Normal(0, std) truncated to [-2, 2] in absolute value, like torch's trunc_normal_."""

    def init(key: Array, shape: tuple[int, ...], dtype: Dtype = jnp.float32) -> Array:
        return std * jax.random.truncated_normal(key, -2.0 / std, 2.0 / std, shape, dtype)

    return init


def torch_linear_bias(fan_in: int) -> Callable[..., Array]:
    """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch's default nn.Linear bias init."""
    bound = 1.0 / np.sqrt(fan_in)

    def init(key: Array, shape: tuple[int, ...], dtype: Dtype = jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def logical(init: Callable[..., Array], *names: str | None) -> Callable[..., Any]:
    return nn.with_logical_partitioning(init, names)


def constrain(x: Array, *names: str | None) -> Array:
    """Logical sharding constraint on an activation (no-op without rules)."""
    return nn.with_logical_constraint(x, names)


def key_mask(valid: Array | None) -> Array | None:
    """``[B, S]`` validity flags -> attention mask ``[B, 1, 1, S]`` (None stays None)."""
    if valid is None:
        return None
    return jnp.asarray(valid, bool)[:, None, None, :]


def layer_norm(eps: float, dtype: Dtype, name: str) -> nn.LayerNorm:
    # Two-pass variance (use_fast_variance=False) as torch computes it.
    return nn.LayerNorm(epsilon=eps, dtype=dtype, param_dtype=jnp.float32,
                        use_fast_variance=False, name=name,
                        scale_init=logical(nn.initializers.ones, 'embed'),
                        bias_init=logical(nn.initializers.zeros, 'embed'))


class Mlp(nn.Module):
    """Linear -> exact (erf) GELU -> Linear. ``[..., D] -> [..., D]``."""

    hidden_dim: int
    dtype: Dtype = jnp.float32
    init_std: float = 0.02
    out_std: float | None = None  # std of fc2's kernel; default init_std

    @nn.compact
    def __call__(self, x: Array) -> Array:
        dim = x.shape[-1]
        h = nn.Dense(self.hidden_dim, dtype=self.dtype, name='fc1',
                     kernel_init=logical(trunc_normal(self.init_std), 'embed', 'mlp'),
                     bias_init=logical(nn.initializers.zeros, 'mlp'))(x)
        h = constrain(h, 'batch', 'tokens', 'mlp')
        h = nn.gelu(h, approximate=False)
        out_std = self.init_std if self.out_std is None else self.out_std
        return nn.Dense(dim, dtype=self.dtype, name='fc2',
                        kernel_init=logical(trunc_normal(out_std), 'mlp', 'embed'),
                        bias_init=logical(nn.initializers.zeros, 'embed'))(h)


class DenseGeneral(nn.Module):
    """``x [..., *in] -> [..., *features]`` with kernel ``[*in, *features]`` and bias ``[*features]``.

    Unlike ``flax.linen.DenseGeneral`` the kernel is created in its real shape
    (not flattened and reshaped), so its logical names also hold while Flax
    checks param shapes under an active mesh.
    """

    features: tuple[int, ...]
    kernel_names: tuple[str | None, ...]
    bias_names: tuple[str | None, ...]
    in_axes: int = 1
    dtype: Dtype = jnp.float32
    init_std: float = 0.02

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (*x.shape[x.ndim - self.in_axes:], *self.features)
        kernel = self.param('kernel', logical(trunc_normal(self.init_std), *self.kernel_names),
                            shape, jnp.float32)
        bias = self.param('bias', logical(nn.initializers.zeros, *self.bias_names),
                          tuple(self.features), jnp.float32)
        y = jnp.tensordot(x.astype(self.dtype), jnp.asarray(kernel, self.dtype), self.in_axes)
        return y + jnp.asarray(bias, self.dtype)


def heads_dense(features: tuple[int, ...], names: tuple[str | None, ...], dtype: Dtype,
                init_std: float, name: str) -> DenseGeneral:
    """Projection ``[..., D] -> [..., *features]`` whose last axes are (heads, head_dim)."""
    return DenseGeneral(tuple(features), ('embed', *names), tuple(names), 1, dtype, init_std,
                        name=name)


# The name the blocks and probes (and code written against earlier versions) call.
attend = attention


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and output projection."""

    num_heads: int
    dtype: Dtype = jnp.float32
    init_std: float = 0.02
    out_std: float | None = None
    implementation: str | None = None

    @nn.compact
    def __call__(self, x: Array, mask: Array | None = None) -> Array:
        """``x [B, L, D]``, ``mask`` bool broadcastable to ``[B, H, L, L]`` -> ``[B, L, D]``."""
        dim = x.shape[-1]
        head_dim = dim // self.num_heads
        qkv = heads_dense((3, self.num_heads, head_dim), (None, 'heads', 'head_dim'),
                           self.dtype, self.init_std, 'qkv')(x)
        q, k, v = (constrain(qkv[:, :, i], 'batch', 'tokens', 'heads', 'head_dim')
                   for i in range(3))
        out = attend(q, k, v, mask, self.implementation)
        out_std = self.init_std if self.out_std is None else self.out_std
        return DenseGeneral((dim,), ('heads', 'head_dim', 'embed'), ('embed',), 2, self.dtype,
                            out_std, name='proj')(out)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

    num_heads: int
    mlp_dim: int
    eps: float = 1e-6
    dtype: Dtype = jnp.float32
    init_std: float = 0.02
    out_std: float | None = None
    attention_impl: str | None = None
    scan_carry: bool = False  # return (x, None), the signature nn.scan wants

    @nn.compact
    def __call__(self, x: Array, mask: Array | None = None) -> Any:
        x = constrain(x, 'batch', 'tokens', 'embed')
        y = layer_norm(self.eps, self.dtype, 'norm1')(x)
        x = x + SelfAttention(self.num_heads, self.dtype, self.init_std, self.out_std,
                              self.attention_impl, name='attn')(y, mask)
        y = layer_norm(self.eps, self.dtype, 'norm2')(x)
        x = x + Mlp(self.mlp_dim, self.dtype, self.init_std, self.out_std, name='mlp')(y)
        return (x, None) if self.scan_carry else x


class BlockStack(nn.Module):
    """``depth`` Blocks, unrolled (params ``layer_{i}``) or scanned (params ``layers``
    with a leading ``layers`` axis); either with optional rematerialisation.

    Both layouts compute the same function; ``layer_layout``
    converts parameters between them.
    """

    depth: int
    num_heads: int
    mlp_dim: int
    eps: float = 1e-6
    dtype: Dtype = jnp.float32
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None

    @nn.compact
    def __call__(self, x: Array, mask: Array | None = None) -> Array:
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f'remat_policy {self.remat_policy!r} is not one of '
                             f'{sorted(REMAT_POLICIES)}.')
        kwargs = {'num_heads': self.num_heads, 'mlp_dim': self.mlp_dim, 'eps': self.eps,
                      'dtype': self.dtype, 'attention_impl': self.attention_impl,
                      'scan_carry': self.scan_layers}
        block_cls = Block
        if self.remat_policy != 'none':
            block_cls = nn.remat(block_cls, policy=REMAT_POLICIES[self.remat_policy],
                                 prevent_cse=not self.scan_layers)
        if self.scan_layers:
            scanned = nn.scan(block_cls, variable_axes={'params': 0},
                              split_rngs={'params': True}, in_axes=nn.broadcast,
                              length=self.depth,
                              metadata_params={nn.PARTITION_NAME: 'layers'})
            x, _ = scanned(**kwargs, name='layers')(x, mask)
            return x
        platform = target_platform()
        for i in range(self.depth):
            if i:   # keeps XLA CPU from recomputing the residual gradient per block
                x = between_blocks(x, platform)
            x = block_cls(**kwargs, name=f'layer_{i}')(x, mask)
        return x

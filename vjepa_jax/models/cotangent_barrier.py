"""An identity whose backward pass makes XLA write the cotangent to memory.

Between unrolled transformer blocks the residual stream's gradient is a chain
of elementwise adds (each block's two residual branches and its LayerNorm
backward terms). XLA's CPU fusion duplicates such cheap elementwise producers
into every consumer instead of writing them out once, so each block's
consumers (the transposes feeding the weight-gradient matmuls, the LayerNorm
backward reductions) recompute the whole chain back to the last block: work
quadratic in depth. In the S/16 train step this showed as
``copy_bitcast_fusion`` loops with up to 170 operands, the step's largest
op kind (docs/performance.md).

``jax.lax.optimization_barrier`` would be the natural stop, but the CPU
compiler expands those before fusion. A ``lax.cond`` is never fused, so its
operand is materialised: the cotangent goes through a conditional whose two
branches both return it unchanged (``t`` and ``-(-t)``: JAX drops a cond
whose branches are the same function), on a runtime predicate XLA cannot
fold (is the first element NaN). The value is unchanged bit for bit; the
cost is one small conditional per block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _materialise(g: Array) -> Array:
    """``g`` unchanged, through a conditional on a runtime value (is its first element NaN)."""
    return jax.lax.cond(jnp.isnan(g.reshape(-1)[0]),
                        lambda t: jnp.negative(jnp.negative(t)), lambda t: t, g)


@jax.custom_vjp
def cotangent_barrier(x: Array) -> Array:
    """Identity on ``x [..]``; its cotangent is materialised (see the module docstring)."""
    return x


def _fwd(x: Array) -> tuple[Array, None]:
    return x, None


def _bwd(_: None, g: Array) -> tuple[Array]:
    return (_materialise(g),)


cotangent_barrier.defvjp(_fwd, _bwd)


def between_blocks(x: Array, platform: str) -> Array:
    """``x [B, L, D]`` with ``cotangent_barrier`` applied on CPU, the one platform measured.

    The duplication was seen in the CPU compiler's fusions; elsewhere a
    conditional per block may cost more (on GPU its predicate goes to the
    host), so other platforms get ``x`` as is.
    """
    return cotangent_barrier(x) if platform == 'cpu' else x

"""Attention implementations side by side: median forward and forward + backward time.

  python benchmarks/attention.py --shapes 2x1568x12x64,4x392x6x64,4x344x6x32 \
      --impls xla,blocked [--dtype float32] [--steps 3]

Shapes are ``BxLxHxD`` (batch, tokens, heads, head_dim): a B/16 encoder at
16 x 224 (1568 tokens), the S/16 encoder at 16 x 112 (392) and its 192-wide
predictor (context + targets) in ``train_step.py``'s benchmark. Every call
gets a key mask with 10% padded keys, as the predictor's padded batches do.
Each row also gives the largest difference from ``xla``'s output.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models.attention import attention


def _median(fn, steps: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _time_one(impl: str, q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array,
              steps: int) -> tuple[jax.Array, float, float]:
    """(output, median forward s, median forward + backward s) of one implementation."""
    fwd = jax.jit(lambda q, k, v: attention(q, k, v, mask, impl))
    grad = jax.jit(jax.grad(lambda q, k, v: jnp.sum(
        attention(q, k, v, mask, impl).astype(jnp.float32) ** 2), (0, 1, 2)))
    return (fwd(q, k, v), _median(lambda: fwd(q, k, v), steps),
            _median(lambda: grad(q, k, v), steps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--shapes', default='2x1568x12x64,4x392x6x64,4x344x6x32')
    ap.add_argument('--impls', default='xla,blocked', help='comma-separated implementations')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    ap.add_argument('--steps', type=int, default=3)
    args = ap.parse_args()

    print(f'device {jax.devices()[0].device_kind} x{jax.device_count()}, jax {jax.__version__}, '
          f'{args.dtype}')
    print(f'{"shape":>16}  {"impl":>8}  {"fwd ms":>9}  {"fwd+bwd ms":>10}  {"fwd GFLOP/s":>11}'
          f'  {"max |diff|":>10}')
    for text in args.shapes.split(','):
        b, length, heads, head_dim = (int(x) for x in text.split('x'))
        rng = np.random.default_rng(0)
        q, k, v = (jnp.asarray(rng.standard_normal((b, length, heads, head_dim), np.float32),
                               args.dtype) for _ in range(3))
        mask = jnp.asarray(rng.random((b, length)) > 0.1)[:, None, None, :]
        reference = None
        for impl in args.impls.split(','):
            out, fwd_s, grad_s = _time_one(impl, q, k, v, mask, args.steps)
            if reference is None:
                reference = out
            diff = float(jnp.max(jnp.abs(out.astype(jnp.float32) -
                                         reference.astype(jnp.float32))))
            flops = 4 * b * heads * length * length * head_dim
            print(f'{text:>16}  {impl:>8}  {fwd_s * 1e3:9.1f}  {grad_s * 1e3:10.1f}  '
                  f'{flops / fwd_s / 1e9:11.1f}  {diff:10.2e}', flush=True)

if __name__ == '__main__':
    main()

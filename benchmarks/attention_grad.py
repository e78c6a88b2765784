"""Gradient time of attention alone, one SelfAttention, one ViT Block and a stack, per implementation.

  python benchmarks/attention_grad.py --shapes 4x392x6x64,4x320x6x32,4x144x6x64 \
      --impls xla,blocked [--depth 12] [--steps 5] [--mask] [--hlo]

Shapes are ``BxLxHxD`` (batch, tokens, heads, head_dim); the module's width
is ``H * D``, its MLP 4x that; ``BlockStack`` is ``--depth`` unrolled blocks
(the encoders' layout). ``--mask`` gives every call a key mask with 10%
padded keys (the predictor's case; the encoders run unmasked). ``--hlo``
prints, per compiled gradient, the count of fusions by kind and the shapes
of the many-operand ones, to see which copies XLA emits around the attention.
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models.attention import attention
from vjepa_jax.models.layers import Block, BlockStack, SelfAttention


def _median_ms(fn: Callable[[], object], steps: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _fusion_summary(compiled_text: str, top: int = 6) -> str:
    """Fusion kinds by count, and the fusions with the most operands (their result shapes)."""
    kinds = collections.Counter(re.findall(r'^\s*(?:ROOT )?%?([a-z_-]+_fusion)(?:\.\d+)? = ',
                                           compiled_text, re.MULTILINE))
    wide = []
    for line in compiled_text.splitlines():
        match = re.match(r'\s*(?:ROOT )?%?(\S+) = (\S+) fusion\((.*?)\), kind=', line)
        if match:
            wide.append((match.group(3).count('%'), match.group(1), match.group(2)))
    wide.sort(reverse=True)
    lines = ['    fusions: ' + ', '.join(f'{k} {n}' for k, n in kinds.most_common(top))]
    lines += [f'    {n:3d} operands: {name} -> {shape}' for n, name, shape in wide[:top]]
    return '\n'.join(lines)


def _grad_fns(impl: str, x: jax.Array, q: jax.Array, mask: jax.Array | None, heads: int,
              depth: int) -> dict[str, tuple[Callable[..., object], tuple[jax.Array, ...]]]:
    """name -> (jitted gradient, its arguments) for the three levels of one implementation."""
    dim = x.shape[-1]

    def attn_loss(q, k, v):
        return jnp.sum(attention(q, k, v, mask, impl) ** 2)

    fns = {'attention': (jax.jit(jax.grad(attn_loss, (0, 1, 2))), (q, q * 0.5, q * 2.0))}
    for name, module in (('SelfAttention', SelfAttention(heads, implementation=impl)),
                         ('Block', Block(heads, 4 * dim, attention_impl=impl)),
                         ('BlockStack', BlockStack(depth, heads, 4 * dim,
                                                   attention_impl=impl))):
        params = module.init(jax.random.key(0), x, mask)

        def loss(p, x, module=module):
            return jnp.sum(module.apply(p, x, mask) ** 2)

        fns[name] = (jax.jit(jax.grad(loss, (0, 1))), (params, x))
    return fns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--shapes', default='4x392x6x64,4x320x6x32,4x344x6x32,4x144x6x64')
    ap.add_argument('--impls', default='xla,blocked')
    ap.add_argument('--levels', default='attention,SelfAttention,Block,BlockStack')
    ap.add_argument('--depth', type=int, default=12, help='blocks in BlockStack')
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--mask', action='store_true', help='10%% padded keys')
    ap.add_argument('--hlo', action='store_true', help='print fusion summaries')
    args = ap.parse_args()

    print(f'device {jax.devices()[0].device_kind}, jax {jax.__version__}, float32, '
          f'mask={args.mask}')
    print(f'{"shape":>14}  {"level":>13}  ' + '  '.join(f'{i + " ms":>11}' for i in
                                                      args.impls.split(',')))
    for text in args.shapes.split(','):
        b, length, heads, head_dim = (int(t) for t in text.split('x'))
        rng = np.random.default_rng(0)
        q = jnp.asarray(rng.standard_normal((b, length, heads, head_dim), np.float32))
        x = jnp.asarray(rng.standard_normal((b, length, heads * head_dim), np.float32))
        mask = (jnp.asarray(rng.random((b, length)) > 0.1)[:, None, None, :]
                if args.mask else None)
        per_impl = {impl: _grad_fns(impl, x, q, mask, heads, args.depth)
                    for impl in args.impls.split(',')}
        for level in args.levels.split(','):
            times, summaries = [], []
            for impl, fns in per_impl.items():
                fn, fn_args = fns[level]
                times.append(_median_ms(lambda fn=fn, fn_args=fn_args: fn(*fn_args), args.steps))
                if args.hlo:
                    summaries.append(f'  [{impl}]\n' + _fusion_summary(
                        fn.lower(*fn_args).compile().as_text()))
            print(f'{text:>14}  {level:>13}  ' + '  '.join(f'{t:11.1f}' for t in times),
                  flush=True)
            for summary in summaries:
                print(summary)


if __name__ == '__main__':
    main()

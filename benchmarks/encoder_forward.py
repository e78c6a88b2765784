"""Encoder forward throughput: compile time, median step time, clips/s, TFLOP/s.

  python benchmarks/encoder_forward.py --variant L/16 --frames 16 --size 224 \
      --batch 8 --dtype bfloat16 [--scan] [--remat full] [--steps 10] [--peak-tflops 989]
  python benchmarks/encoder_forward.py --variant B/16 --official-src /tmp/jepa_official

Prints one table. FLOPs are counted analytically (`vjepa_jax.train.flops`:
tubelet embedding, qkv/proj/MLP matmuls and attention scores/values).
``--official-src`` (a facebookresearch/jepa checkout, with torch installed)
also times the official encoder on the same input in the same run (float32).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from official_torch import load_official, time_encoder_forward

from vjepa_jax.config_lib import decode_variant
from vjepa_jax.models import VisionTransformer
from vjepa_jax.train import flops as train_flops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--variant', default='B/16')
    ap.add_argument('--frames', type=int, default=16)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    ap.add_argument('--scan', action='store_true')
    ap.add_argument('--remat', default='none')
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--peak-tflops', type=float, default=None,
                    help='device peak (dense, this dtype) for MFU')
    ap.add_argument('--attention', default='', help='model.attention_impl (default: by backend)')
    ap.add_argument('--official-src', default=None, metavar='PATH',
                    help='facebookresearch/jepa checkout: also time the official encoder')
    args = ap.parse_args()

    v = decode_variant(args.variant)
    model = VisionTransformer(img_size=args.size, num_frames=args.frames, **v.as_kwargs(),
                              dtype=jnp.dtype(args.dtype), scan_layers=args.scan,
                              remat_policy=args.remat, attention_impl=args.attention or None)
    video = jnp.zeros((args.batch, args.frames, args.size, args.size, 3), jnp.float32)
    params = jax.jit(model.init)(jax.random.key(0), video)
    fwd = jax.jit(model.apply)
    start = time.perf_counter()
    jax.block_until_ready(fwd(params, video))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        jax.block_until_ready(fwd(params, video))
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    flops = args.batch * train_flops.encoder_flops(model)
    tflops = flops / step / 1e12
    rows = [('device', f'{jax.devices()[0].device_kind} x{jax.device_count()}'),
            ('jax', jax.__version__),
            ('model', (f'{args.variant} {args.frames}x{args.size} batch {args.batch} {args.dtype}'
                      f' scan={args.scan} remat={args.remat} attention={args.attention or "auto"}')),
            ('compile+first (s)', f'{compile_s:.2f}'),
            ('median step (ms)', f'{step * 1e3:.1f}'),
            ('clips/s', f'{args.batch / step:.2f}'),
            ('GFLOPs/step', f'{flops / 1e9:.1f}'),
            ('TFLOP/s', f'{tflops:.3f}')]
    if args.peak_tflops:
        rows.append(('MFU', f'{100 * tflops / args.peak_tflops:.1f}%'))
    official = load_official(args.official_src)
    if isinstance(official, str):
        rows.append(('official', f'skipped: {official}'))
    elif args.dtype != 'float32':
        rows.append(('official', 'skipped: the official CPU forward is timed in float32 only'))
    else:
        official_s = time_encoder_forward(official, model, frames=args.frames, size=args.size,
                                          batch=args.batch, steps=args.steps)
        rows += [('official median step (ms)', f'{official_s * 1e3:.1f}'),
                 ('speedup vs official', f'{official_s / step:.2f}')]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f'{key:<{width}}  {value}')


if __name__ == '__main__':
    main()

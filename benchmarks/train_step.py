"""Pretraining step throughput: compile time, median step, clips/s, FLOPs, TFLOP/s, MFU.

  python benchmarks/train_step.py --variant S/16 --pred-width 192 --pred-depth 6 \
      --frames 16 --size 112 --batch 4 --dtype float32
  python benchmarks/train_step.py --variant L/16 --frames 16 --size 224 --batch 32 \
      --dtype bfloat16 --remat dots --peak-tflops 989 --json out.json
  python benchmarks/train_step.py ... --official-src /tmp/jepa_official   # + the official step
  python benchmarks/train_step.py ... --profile /tmp/trace   # + 2 traced steps

Masks are the two official mask sets (8 x 15% and 2 x 70% blocks) with the
default fixed counts, or the counts given by ``--counts`` (to compare with
another implementation at equal work). Clips and masks are made on the host
before timing; each timed step includes the host -> device transfer of its
uint8 batch, as in the training loop. FLOPs are analytic
(``vjepa_jax.train.flops``: matmuls and attention, backward = 2 x forward).

With ``--official-src`` (a checkout of facebookresearch/jepa) and torch
installed, the official PyTorch update is timed right after, on the same
clip shapes and the same mask indices (float32 only), and the ratio is
printed; without them the reason is printed instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np
from official_torch import load_official, time_train_step

from vjepa_jax import sharding
from vjepa_jax.masks.mask_sets import (
    build_mask_samplers,
    draw_mask_sets,
    mask_set_counts,
)
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS
from vjepa_jax.models.builder import build_jepa_models, model_config
from vjepa_jax.train import flops
from vjepa_jax.train.optimizer import OptimizerConfig
from vjepa_jax.train.state import create_train_state
from vjepa_jax.train.step import StepSetup, jit_train_step


def parse_mesh(text: str) -> list[tuple[str, int]]:
    """``data=-1,fsdp=1,tensor=1`` -> ``[('data', -1), ('fsdp', 1), ('tensor', 1)]``."""
    out = []
    for item in text.split(','):
        name, _, size = item.partition('=')
        out.append((name.strip(), int(size)))
    return out


def parse_counts(text: str | None) -> list[tuple[int, int]] | None:
    """``366:754,113:1099`` -> per mask set (context, target) token counts."""
    if not text:
        return None
    pairs = [item.split(':') for item in text.split(',')]
    if len(pairs) != len(OFFICIAL_MASK_SETS) or any(len(p) != 2 for p in pairs):
        raise SystemExit(f'--counts needs {len(OFFICIAL_MASK_SETS)} CONTEXT:TARGET pairs, '
                         f'got {text!r}')
    return [(int(c), int(t)) for c, t in pairs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--variant', default='S/16', help='encoder variant, e.g. S/16, L/16, H/16')
    ap.add_argument('--pred-width', type=int, default=192, help='predictor width')
    ap.add_argument('--pred-depth', type=int, default=6, help='predictor depth')
    ap.add_argument('--pred-heads', type=int, default=0,
                    help="predictor heads (0: the encoder's, as official)")
    ap.add_argument('--frames', type=int, default=16)
    ap.add_argument('--size', type=int, default=112, help='crop size (pixels)')
    ap.add_argument('--batch', type=int, default=4, help='global batch (clips per step)')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'],
                    help='compute dtype (params and optimiser state stay float32)')
    ap.add_argument('--mesh', default='data=-1,fsdp=1,tensor=1',
                    help='mesh axes and sizes; -1 takes the remaining devices')
    ap.add_argument('--scan', action='store_true', help='scan over layers')
    ap.add_argument('--remat', default='none', choices=['none', 'full', 'dots', 'dots_no_batch'])
    ap.add_argument('--counts', default=None,
                    help='fixed token counts per mask set, CONTEXT:TARGET,CONTEXT:TARGET')
    ap.add_argument('--steps', type=int, default=5, help='timed steps')
    ap.add_argument('--peak-tflops', type=float, default=None,
                    help='device peak TFLOP/s (dense, this dtype, all devices) for MFU')
    ap.add_argument('--json', default=None, metavar='PATH', help='also write the figures here')
    ap.add_argument('--attention', default='', help='model.attention_impl (default: by backend)')
    ap.add_argument('--profile', default=None, metavar='DIR',
                    help='after timing, trace 2 more steps with jax.profiler into DIR '
                    '(summarise with benchmarks/trace_summary.py)')
    ap.add_argument('--official-src', default=None, metavar='PATH',
                    help='facebookresearch/jepa checkout: also time the official step')
    args = ap.parse_args()

    cfg = model_config(variant=args.variant, num_frames=args.frames, crop_size=args.size,
                       dtype=args.dtype, scan_layers=args.scan, remat_policy=args.remat,
                       attention_impl=args.attention)
    cfg.predictor.update({'embed_dim': args.pred_width, 'depth': args.pred_depth,
                          'num_heads': args.pred_heads})
    encoder, predictor = build_jepa_models(cfg)
    mask_cfgs = [dict(m) for m in OFFICIAL_MASK_SETS]
    for m, fixed in zip(mask_cfgs, parse_counts(args.counts) or []):
        m['context_count'], m['target_count'] = fixed
    samplers = build_mask_samplers(mask_cfgs, num_frames=args.frames, crop_size=args.size,
                                   patch_size=encoder.patch_size,
                                   tubelet_size=encoder.tubelet_size)
    counts = mask_set_counts(samplers)

    sched = OptimizerConfig()  # the official recipe
    setup = StepSetup(encoder, predictor, sched)
    mesh = sharding.make_mesh(parse_mesh(args.mesh))
    rules = sharding.DEFAULT_RULES
    state, shardings = create_train_state(encoder, predictor, 0, mesh, rules)
    step_fn = jit_train_step(setup, mesh, rules, shardings)

    rng = np.random.default_rng(0)
    local = args.batch // jax.process_count()
    batches = [{'video': rng.integers(0, 256, (local, args.frames, args.size, args.size, 3),
                                      dtype=np.uint8),
                'masks': draw_mask_sets(samplers, local, seed=0, step=i,
                                        shard=jax.process_index())}
               for i in range(args.steps + 1)]

    start = time.perf_counter()
    state, metrics = step_fn(state, sharding.host_to_global(batches[0], mesh, rules))
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        state, metrics = step_fn(state, sharding.host_to_global(batch, mesh, rules))
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    if args.profile:   # after the timed steps, so tracing slows none of them
        jax.profiler.start_trace(args.profile, create_perfetto_trace=True)
        for batch in batches[1:3]:
            state, metrics = step_fn(state, sharding.host_to_global(batch, mesh, rules))
            jax.block_until_ready(metrics)
        jax.profiler.stop_trace()
    step_flops = args.batch * flops.train_step_flops(encoder, predictor, counts)
    tflops = step_flops / step_s / 1e12
    figures = {
        'device': f'{jax.devices()[0].device_kind} x{jax.device_count()}',
        'jax': jax.__version__,
        'model': f'{args.variant} + predictor {args.pred_width}x{args.pred_depth}',
        'input': f'{args.batch} x {args.frames} x {args.size} x {args.size}',
        'dtype': args.dtype, 'mesh': dict(mesh.shape), 'scan': args.scan, 'remat': args.remat,
        'mask_counts': counts,
        'compile_s': round(compile_s, 2),
        'median_step_ms': round(step_s * 1e3, 1),
        'clips_per_s': round(args.batch / step_s, 3),
        'gflops_per_step': round(step_flops / 1e9, 1),
        'tflops_per_s': round(tflops, 3),
        'loss': float(metrics['loss']),
    }
    if args.peak_tflops:
        figures['mfu_percent'] = round(100 * tflops / args.peak_tflops, 1)
    width = 24
    for key, value in figures.items():   # before the official step, which takes a while
        print(f'{key:<{width}}  {value}', flush=True)
    official = load_official(args.official_src)
    if isinstance(official, str):
        figures['official'] = f'skipped: {official}'
    elif args.dtype != 'float32':
        figures['official'] = 'skipped: the official CPU step is timed in float32 only'
    else:
        official_s = time_train_step(official, encoder, predictor, frames=args.frames,
                                     size=args.size, masks=[b['masks'] for b in batches[1:]],
                                     steps=args.steps)
        figures['official_median_step_ms'] = round(official_s * 1e3, 1)
        figures['official_clips_per_s'] = round(args.batch / official_s, 3)
        figures['speedup_vs_official'] = round(official_s / step_s, 2)
    for key in [k for k in figures if k.startswith('official')] + ['speedup_vs_official']:
        if key in figures:
            print(f'{key:<{width}}  {figures[key]}', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=2)


if __name__ == '__main__':
    main()

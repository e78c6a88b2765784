"""Host mask samplers: ms per batch and token statistics of each mask set.

  python benchmarks/masks.py --frames 16 --size 224 --patch 16 --tubelet 2 \
      --batch 24 [--repeats 2000] [--tube] [--json PATH]

Uses the two official V-JEPA mask sets (8 blocks at spatial scale 0.15, 2 blocks
at 0.7); ``--tube`` adds a random-tube set (ratio 0.9). Each draw includes
making its generator, as ``draw_mask_sets`` does; times are medians over
``--repeats`` batches after a warm-up. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from vjepa_jax.masks import build_mask_samplers, draw_mask_sets, mask_rng
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS

WARMUP = 100


def median_ms(fn, repeats: int) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--frames', type=int, default=16)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--patch', type=int, default=16)
    ap.add_argument('--tubelet', type=int, default=2)
    ap.add_argument('--batch', type=int, default=24)
    ap.add_argument('--repeats', type=int, default=2000)
    ap.add_argument('--tube', action='store_true', help='add a random-tube set (ratio 0.9)')
    ap.add_argument('--json', default=None, help='also write the figures to this file')
    args = ap.parse_args()

    cfgs = [*OFFICIAL_MASK_SETS, *([{'type': 'tube', 'ratio': 0.9}] if args.tube else [])]
    start = time.perf_counter()
    samplers = build_mask_samplers(cfgs, num_frames=args.frames, crop_size=args.size,
                                   patch_size=args.patch, tubelet_size=args.tubelet)
    setup_s = time.perf_counter() - start

    sets = []
    for i, sampler in enumerate(samplers):
        steps = iter(range(1 << 62))
        ms = median_ms(lambda s=sampler, i=i, steps=steps: s.sample(
            mask_rng(0, next(steps), 0, i), args.batch), args.repeats)
        n_context, n_target = [], []
        for step in range(min(args.repeats, 1000)):
            _, nc, nt = sampler.sample_with_counts(mask_rng(1, step, 0, i), args.batch)
            n_context.append(nc)
            n_target.append(nt)
        n_context, n_target = np.concatenate(n_context), np.concatenate(n_target)
        kc, kt = sampler.context_count, sampler.target_count
        sets.append({
            'set': i, 'type': type(sampler).__name__, 'ms': ms, 'Kc': kc, 'Kt': kt,
            'mean_context': float(n_context.mean()), 'mean_target': float(n_target.mean()),
            'context_padded': float(np.mean(n_context < kc)),
            'context_subsampled': float(np.mean(n_context > kc)),
            'target_padded': float(np.mean(n_target < kt)),
            'target_subsampled': float(np.mean(n_target > kt)),
        })
    steps = iter(range(1 << 62))
    total_ms = median_ms(lambda: draw_mask_sets(samplers, args.batch, 0, next(steps)),
                         args.repeats)

    grid = samplers[0].grid
    print(f'mask samplers: {args.frames}x{args.size} patch {args.patch} tubelet '
          f'{args.tubelet} (grid {grid[0]}x{grid[1]}x{grid[2]}), batch {args.batch}, '
          f'median of {args.repeats}; numpy {np.__version__}, {platform.processor() or "cpu"}')
    header = ('set', 'type', 'ms/batch', 'Kc', 'Kt', 'mean ctx', 'mean tgt',
              'ctx pad%', 'ctx sub%', 'tgt pad%', 'tgt sub%')
    rows = [(str(s['set']), s['type'], f"{s['ms']:.3f}", str(s['Kc']), str(s['Kt']),
             f"{s['mean_context']:.1f}", f"{s['mean_target']:.1f}",
             f"{100 * s['context_padded']:.1f}", f"{100 * s['context_subsampled']:.1f}",
             f"{100 * s['target_padded']:.1f}", f"{100 * s['target_subsampled']:.1f}")
            for s in sets]
    rows.append(('all', 'draw_mask_sets', f'{total_ms:.3f}', *[''] * 8))
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print('  '.join(v.rjust(w) for v, w in zip(row, widths)))
    print(f'setup (default counts, Monte-Carlo): {setup_s:.2f} s')

    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'args': vars(args), 'grid': grid, 'numpy': np.__version__,
                       'setup_s': setup_s, 'total_ms': total_ms, 'sets': sets}, f, indent=2)


if __name__ == '__main__':
    main()

"""Input pipeline throughput: pretraining batches (decode + crop/resize/flip + masks) per second.

  python benchmarks/input_pipeline.py --make 32 --videos /tmp/bench_videos   # writes test files
  python benchmarks/input_pipeline.py --videos /tmp/bench_videos --workers 0,1,2,3 --batch 8
  python benchmarks/input_pipeline.py --index /data/k400_train.csv --workers 2 --json out.json

Default work is the official pretraining sample: 16 frames every 4 from a random
window, one random-resized crop to 224 with a flip, and both official mask sets
per batch. ``--make N`` writes N 320 x 240, 10 s, 30 fps H.264 files (libx264
defaults) of moving texture into ``--videos`` first. For each worker count the
first batch (worker start-up) is excluded; clips/s is measured over ``--batches``
batches after it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import av
import numpy as np

from vjepa_jax.input.pipeline import ClipConfig, pretraining_dataset
from vjepa_jax.masks import build_mask_samplers
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS


def write_benchmark_video(path: str | os.PathLike, *, width: int = 320, height: int = 240,
                          seconds: float = 10.0, fps: int = 30, seed: int = 0) -> None:
    """An H.264 file (libx264 defaults, yuv420p) of a texture panning with a moving box."""
    rng = np.random.default_rng(seed)
    noise = rng.random((2 * height, 2 * width, 3)).astype(np.float32) * 255
    # Smoothed noise: natural-ish content rather than incompressible white noise.
    texture = ((noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1)) / 3).astype(np.uint8)
    with av.open(os.fspath(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for i in range(int(seconds * fps)):
            y = int(height / 2 * (1 + np.sin(i / 20)))
            x = (2 * i) % width
            image = texture[y:y + height, x:x + width].copy()
            box = (3 * i) % (width - 30)
            image[10:40, box:box + 30] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        container.mux(stream.encode())


def make_videos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        path = folder / f'bench_{i:04d}.mp4'
        if not path.exists():
            write_benchmark_video(path, seed=i)
        lines.append(f'{path.resolve()} 0')
    index = folder / 'index.csv'
    index.write_text('\n'.join(lines) + '\n')
    return index


def measure(index: str, workers: int, args) -> dict:
    samplers = build_mask_samplers(OFFICIAL_MASK_SETS, num_frames=args.frames,
                                   crop_size=args.crop, patch_size=16, tubelet_size=2)
    clip = ClipConfig(frames_per_clip=args.frames, frame_step=args.frame_step,
                      crop_size=args.crop)
    ds = pretraining_dataset([index], samplers, args.batch, clip=clip, seed=0,
                             num_workers=workers, read_threads=args.threads)
    it = iter(ds)
    start = time.perf_counter()
    next(it)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(it)
    seconds = time.perf_counter() - start
    assert batch['video'].shape == (args.batch, args.frames, args.crop, args.crop, 3)
    return {'workers': workers, 'first_batch_s': round(first, 2),
            'clips_per_s': round(args.batch * args.batches / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--index', default=None, help='index file (official format)')
    ap.add_argument('--videos', default=None, help='folder of .mp4 files (or --make target)')
    ap.add_argument('--make', type=int, default=0, help='write this many test videos first')
    ap.add_argument('--workers', default='0,1,2,3', help='comma-separated worker counts')
    ap.add_argument('--threads', type=int, default=None,
                    help='decoding threads per process (default 2 without workers, else 1)')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--batches', type=int, default=20, help='timed batches per worker count')
    ap.add_argument('--frames', type=int, default=16)
    ap.add_argument('--frame-step', type=int, default=4)
    ap.add_argument('--crop', type=int, default=224)
    ap.add_argument('--json', default=None, metavar='PATH')
    args = ap.parse_args()

    if args.index is None:
        if args.videos is None:
            raise SystemExit('give --index FILE or --videos DIR (with --make N to create files)')
        folder = Path(args.videos)
        if args.make:
            index = make_videos(folder, args.make)
        else:
            files = sorted(folder.glob('*.mp4'))
            if not files:
                raise SystemExit(f'no .mp4 files in {folder}; add --make N to write some')
            index = folder / 'index.csv'
            index.write_text(''.join(f'{p.resolve()} 0\n' for p in files))
        args.index = str(index)

    rows = [measure(args.index, int(w), args) for w in args.workers.split(',')]
    print(f'input pipeline: {args.frames} frames every {args.frame_step}, crop {args.crop}, '
          f'batch {args.batch}, both official mask sets; {os.cpu_count()} CPUs')
    print(f'{"workers":>8} {"first batch (s)":>16} {"clips/s":>9}')
    for r in rows:
        print(f'{r["workers"]:>8} {r["first_batch_s"]:>16} {r["clips_per_s"]:>9}')
    if args.json:
        Path(args.json).write_text(json.dumps({'index': args.index, 'rows': rows,
                                               'batch': args.batch}, indent=2))


if __name__ == '__main__':
    main()

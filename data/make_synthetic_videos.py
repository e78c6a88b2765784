"""Synthetic labelled videos: moving shapes whose class is their motion, not their look.

Every clip shows 1-3 shapes (disc, square or diamond; random vivid colours, sizes and
start positions) over a smooth random background with a little per-frame noise. All
shapes of a clip move together with the clip's velocity; the 8 classes are

    label = 4 * speed + direction,  direction in (left, right, up, down),
                                    speed in (slow, fast)

(``classes.txt`` lists the names). Appearance is drawn from a random stream that never
sees the label, and the motion wraps around the frame (a torus), so every class has the
same distribution of single frames: the first frame of a clip is *bit-identical* for
all labels given the same clip seed. Only motion - direction and speed - tells classes
apart, which is what a video model (and not an image model) must pick up.

Speeds are in pixels per frame at size 64 (scaled with --size): slow 1.0, fast 2.5,
each clip jittered by +-20 %. With the default 32 frames, a clip of 16 frames at
frame_step 2 spans the whole video (the official sampler's partition_len == clip_len
case, which spreads 16 indices over frames 0..31); 8 frames at step 2, or 16 at step 1,
get a random temporal offset. Pass ``--frames 48`` for random offsets at 16 x 2 too.

Output (``--out DIR``)::

    DIR/train/00000.mp4 ...     H.264 (libx264, yuv420p) mp4 files
    DIR/val/00000.mp4 ...
    DIR/train.csv, DIR/val.csv  official index format: '/abs/path.mp4 <label>' per line
    DIR/classes.txt             '<label> <name>' per line
    DIR/README                  what this is and how it was made

Deterministic: the same seed and arguments give identical index files and identical
decoded frames (each clip has its own seed, whatever the worker count; x264 runs with
one thread and a pinned SIMD level, because its output depends on both).

Usage::

    python data/make_synthetic_videos.py --out /tmp/moving_shapes \
        [--num-train 320 --num-val 80 --seed 0 --size 64 --frames 32 --fps 8 --workers 2]

Variants for experiments (``Style``; docs/evaluation.md): ``--monochrome``,
``--flat-background``, ``--flickers N`` (one-frame distractor discs), ``--speeds
SLOW,FAST`` and ``--speed-jitter``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

import av
import numpy as np

DIRECTIONS = ('left', 'right', 'up', 'down')
SPEEDS = ('slow', 'fast')
CLASS_NAMES = tuple(f'{d}_{s}' for s in SPEEDS for d in DIRECTIONS)
NUM_CLASSES = len(CLASS_NAMES)

# Unit steps (dy, dx) in image coordinates (rows grow downwards).
_DIRECTION_STEP = {'left': (0.0, -1.0), 'right': (0.0, 1.0), 'up': (-1.0, 0.0),
                   'down': (1.0, 0.0)}
# Pixels per frame at size 64; far enough apart that the +-20 % jitter keeps them apart.
_SPEED_PX = {'slow': 1.0, 'fast': 2.5}
_SPEED_JITTER = 0.2
_MONOCHROME = 240.0  # the shapes' grey level with Style(monochrome=True)


class Style(NamedTuple):
    """Variants of the look and motion (the defaults make the standard dataset).

    The variants exist for experiments on what a pretrained encoder learns
    (docs/evaluation.md): ``monochrome`` draws every shape in one light grey,
    ``flat_background`` replaces the textured background by mid grey (noise
    stays), ``flickers`` adds that many distractor discs per frame at fresh random
    places (each visible for one frame only, so they carry no motion), and
    ``slow`` / ``fast`` / ``speed_jitter`` set the speeds in pixels per frame at
    size 64. Whatever the style, a single frame carries no label information.
    """

    monochrome: bool = False
    flat_background: bool = False
    flickers: int = 0
    slow: float = _SPEED_PX['slow']
    fast: float = _SPEED_PX['fast']
    speed_jitter: float = _SPEED_JITTER

    def check(self) -> None:
        """Raises ValueError for settings that would make an invalid or unlabelled set."""
        if not 0.0 <= self.speed_jitter < 1.0:
            raise ValueError(f'speed jitter must be in [0, 1), got {self.speed_jitter}')
        if not 0.0 < self.slow < self.fast:
            raise ValueError(f'speeds must satisfy 0 < slow < fast, got slow {self.slow}, '
                             f'fast {self.fast}')
        if self.slow * (1 + self.speed_jitter) >= self.fast * (1 - self.speed_jitter):
            raise ValueError(f'with jitter +-{self.speed_jitter:.0%} the slow ({self.slow}) '
                             f'and fast ({self.fast}) speed ranges overlap; separate them '
                             'or lower the jitter')
        if self.flickers < 0:
            raise ValueError(f'flickers must be >= 0, got {self.flickers}')

    def speed(self, name: str) -> float:
        return self.slow if name == 'slow' else self.fast


STANDARD = Style()
_SPLITS = {'train': 0, 'val': 1}

# x264's SIMD level must be pinned for reproducible files: with its AVX-512 code the
# same frames encode to different bitstreams from run to run (measured: 13 variants in
# 40 runs, x264 core 165), and the SSE4/AVX levels give other (stable) bitstreams than
# SSE2. 15 = MMX | MMX2 | SSE | SSE2, which every x86-64 CPU has; it reproduced x264's
# plain C output exactly and costs ~20 % encoding speed. Elsewhere: plain C.
_X264_ASM = 15 if platform.machine().lower() in ('x86_64', 'amd64') else 0


def class_motion(label: int) -> tuple[str, str]:
    """``label`` -> ``(direction, speed)``, e.g. ``5 -> ('right', 'fast')``."""
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f'label must be in [0, {NUM_CLASSES}), got {label}')
    return DIRECTIONS[label % len(DIRECTIONS)], SPEEDS[label // len(DIRECTIONS)]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth periodic colour texture, float32 ``[size, size, 3]`` in about [40, 215]."""
    noise = rng.standard_normal((size, size, 3))
    freq = np.fft.fftfreq(size) * size  # cycles per frame
    radius2 = freq[:, None] ** 2 + freq[None, :] ** 2
    # Low-pass in Fourier space: periodic, so it matches the wrap-around motion.
    smooth = np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * np.exp(-radius2 / 8.0)[..., None],
                          axes=(0, 1)).real
    smooth /= smooth.std(axis=(0, 1), keepdims=True) + 1e-8
    base = rng.uniform(70.0, 185.0, size=3)
    return np.clip(base + 25.0 * smooth, 0, 255).astype(np.float32)


def _torus_offsets(cy: np.ndarray, cx: np.ndarray, centres: np.ndarray, size: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Signed offsets of the pixel centres from ``(cy, cx)`` on the torus, in (-size/2, size/2].

    ``cy``/``cx``: scalars or ``[T, 1, 1]``; returns ``dy`` ``[..., S, 1]`` and ``dx``
    ``[..., 1, S]``.
    """
    dy = (centres[:, None] - cy + size / 2) % size - size / 2
    dx = (centres[None, :] - cx + size / 2) % size - size / 2
    return dy, dx


def _soft_edge(radius: np.float32, dist: np.ndarray) -> np.ndarray:
    # One-pixel soft edge: sub-pixel positions move smoothly instead of in jumps.
    return np.clip(radius - dist + np.float32(0.5), 0, 1)


def render_clip(seed: int | Sequence[int] | np.random.SeedSequence, label: int, *,
                size: int = 64, frames: int = 32, style: Style = STANDARD) -> np.ndarray:
    """One clip of class ``label``: uint8 RGB ``[frames, size, size, 3]``.

    The appearance (background, shapes, start positions, noise) depends on ``seed``
    only; the label changes nothing but the velocity, so frame 0 is the same for every
    label. ``style``: variants of the look and speeds (``Style``).
    """
    direction, speed = class_motion(label)
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    appearance_seq, motion_seq = seq.spawn(2)
    rng = np.random.default_rng(appearance_seq)
    motion_rng = np.random.default_rng(motion_seq)

    background = _background(rng, size)  # drawn in any case: the same clip seed, the same shapes
    if style.flat_background:
        background = np.full_like(background, 128.0)
    video = np.broadcast_to(background, (frames, size, size, 3)).copy()
    centres = np.arange(size, dtype=np.float32) + 0.5
    t = np.arange(frames, dtype=np.float32)[:, None, None]

    step = np.asarray(_DIRECTION_STEP[direction], np.float32)
    px_per_frame = style.speed(speed) * size / 64.0
    jitter = style.speed_jitter
    velocity = step * px_per_frame * motion_rng.uniform(1 - jitter, 1 + jitter)

    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(3))
        radius = np.float32(rng.uniform(0.08, 0.16) * size)
        colour = rng.random(3)
        # Stretch to the full range: vivid colours stand out from the mid-grey background.
        colour = (colour - colour.min()) / (np.ptp(colour) + 1e-8) * 255.0
        if style.monochrome:
            colour = np.full(3, _MONOCHROME)
        y0, x0 = rng.uniform(0, size, size=2).astype(np.float32)
        cy = (y0 + velocity[0] * t) % size  # [T, 1, 1]
        cx = (x0 + velocity[1] * t) % size
        dy, dx = _torus_offsets(cy, cx, centres, size)  # [T, S, 1], [T, 1, S]
        if kind == 0:
            dist = np.sqrt(dy ** 2 + dx ** 2)
        elif kind == 1:
            dist = np.maximum(np.abs(dy), np.abs(dx))
        else:
            dist = (np.abs(dy) + np.abs(dx)) * np.float32(np.sqrt(0.5))
        alpha = _soft_edge(radius, dist)[..., None]
        video += alpha * (colour.astype(np.float32) - video)

    grey = np.full(3, _MONOCHROME, np.float32)
    for t_index in range(frames):
        for _ in range(style.flickers):
            radius = np.float32(rng.uniform(0.08, 0.16) * size)
            y0, x0 = rng.uniform(0, size, size=2).astype(np.float32)
            dy, dx = _torus_offsets(y0, x0, centres, size)
            alpha = _soft_edge(radius, np.sqrt(dy ** 2 + dx ** 2))[..., None]
            video[t_index] += alpha * (grey - video[t_index])

    video += np.float32(3.0) * rng.standard_normal(video.shape, dtype=np.float32)
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int) -> None:
    """Encode uint8 ``[T, H, W, 3]`` as H.264 yuv420p mp4 (H, W even), deterministically."""
    height, width = frames.shape[1:3]
    with av.open(os.fspath(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        # x264's decisions depend on its thread count: one thread.
        stream.codec_context.thread_count = 1
        stream.options = {'crf': '18', 'x264-params': f'asm={_X264_ASM}'}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _clip_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    # Same-length spawn keys for everything drawn from `seed` (labels use (split, 0, 0)).
    return np.random.SeedSequence(seed, spawn_key=(_SPLITS[split], 1, index))


def split_labels(seed: int, split: str, num: int) -> np.ndarray:
    """Balanced labels (counts differ by at most one) in a seeded random order."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SPLITS[split], 0, 0)))
    return rng.permutation(np.arange(num) % NUM_CLASSES)


def _make_one(task: tuple[str, int, str, int, int, int, int, int, Style]) -> str:
    path, seed, split, index, label, size, frames, fps, style = task
    write_video(path, render_clip(_clip_seed(seed, split, index), label, size=size,
                                  frames=frames, style=style), fps)
    return path


def _readme(num_train: int, num_val: int, seed: int, size: int, frames: int,
            fps: int, style: Style) -> str:
    classes = '\n'.join(f'  {i} {name}' for i, name in enumerate(CLASS_NAMES))
    return (
        'Synthetic moving-shapes videos (vjepa_jax data/make_synthetic_videos.py).\n\n'
        'The class is the motion of the shapes (direction x speed); shapes, colours,\n'
        'sizes, positions and background follow the same distribution in every class,\n'
        'so a single frame carries no label information.\n\n'
        f'clips: {num_train} train + {num_val} val; {size}x{size} pixels, {frames} frames '
        f'at {fps} fps;\nH.264 yuv420p mp4; seed {seed}.\n'
        f'speeds (pixels/frame): slow {style.slow * size / 64:g}, '
        f'fast {style.fast * size / 64:g}, each +-{style.speed_jitter:.0%}; '
        'motion wraps around the frame.\n'
        f'style: {"monochrome" if style.monochrome else "coloured"} shapes, '
        f'{"flat" if style.flat_background else "textured"} background, '
        f'{style.flickers} flickering distractors per frame.\n\n'
        f'classes (label name):\n{classes}\n\n'
        'train.csv / val.csv: one "/absolute/path.mp4 label" per line (official format).\n'
    )


def _clear_previous(out: str) -> None:
    """Remove what an earlier run wrote (only our own files)."""
    for split in _SPLITS:
        split_dir = os.path.join(out, split)
        if os.path.isdir(split_dir):
            for name in os.listdir(split_dir):
                if name.endswith('.mp4') and name[:-4].isdigit():
                    os.remove(os.path.join(split_dir, name))
    for name in ('train.csv', 'val.csv', 'classes.txt', 'README'):
        if os.path.isfile(os.path.join(out, name)):
            os.remove(os.path.join(out, name))


def make_dataset(out: str | os.PathLike, *, num_train: int = 320, num_val: int = 80,
                 seed: int = 0, size: int = 64, frames: int = 32, fps: int = 8,
                 workers: int = 1, force: bool = False, verbose: bool = False,
                 style: Style = STANDARD) -> dict[str, str]:
    """Write the dataset into ``out``; returns ``{'train': csv_path, 'val': csv_path}``.

    Args:
      out: output directory; must be empty or absent unless ``force``.
      num_train, num_val: clips per split (labels balanced within each split).
      seed: everything random derives from it.
      size: frame height and width in pixels (even).
      frames: frames per clip.
      fps: frame rate written into the files (the content does not depend on it).
      workers: encoding processes (1: in this process).
      force: write into a non-empty ``out``, replacing files of an earlier run.
      verbose: print progress.
      style: variants of the look and speeds (``Style``; the default is the standard set).
    """
    if size < 16 or size % 2:
        raise ValueError(f'size must be even and >= 16, got {size}')
    if frames < 2 or fps < 1 or num_train < 0 or num_val < 0:
        raise ValueError('frames must be >= 2, fps >= 1, clip counts >= 0')
    style.check()
    out = os.path.abspath(os.fspath(out))
    if os.path.isdir(out) and os.listdir(out):
        if not force:
            raise FileExistsError(f'{out} is not empty; pass force=True (--force) to '
                                  'overwrite')
        _clear_previous(out)
    os.makedirs(out, exist_ok=True)

    tasks, lines = [], {}
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(os.path.join(out, split), exist_ok=True)
        labels = split_labels(seed, split, num)
        lines[split] = []
        for i, label in enumerate(labels):
            path = os.path.join(out, split, f'{i:05d}.mp4')
            tasks.append((path, seed, split, i, int(label), size, frames, fps, style))
            lines[split].append(f'{path} {int(label)}\n')

    start = time.perf_counter()
    total = len(tasks)
    report_every = max(1, total // 10)

    def progress(done: int) -> None:
        if verbose and (done % report_every == 0 or done == total):
            print(f'  {done}/{total} clips  ({time.perf_counter() - start:.1f} s)',
                  flush=True)

    if workers > 1 and total > 1:
        # spawn: safe even when the caller has threads (e.g. JAX) running.
        with multiprocessing.get_context('spawn').Pool(workers) as pool:
            for done, _ in enumerate(pool.imap_unordered(_make_one, tasks, chunksize=8), 1):
                progress(done)
    else:
        for done, task in enumerate(tasks, 1):
            _make_one(task)
            progress(done)

    index_files = {}
    for split in ('train', 'val'):
        index_files[split] = os.path.join(out, f'{split}.csv')
        with open(index_files[split], 'w') as f:
            f.writelines(lines[split])
    with open(os.path.join(out, 'classes.txt'), 'w') as f:
        f.writelines(f'{i} {name}\n' for i, name in enumerate(CLASS_NAMES))
    with open(os.path.join(out, 'README'), 'w') as f:
        f.write(_readme(num_train, num_val, seed, size, frames, fps, style))
    return index_files


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description='Write a small labelled video dataset of moving shapes whose class '
                    'is their motion (direction x speed).')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--num-train', type=int, default=320)
    parser.add_argument('--num-val', type=int, default=80)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=64, help='frame size in pixels')
    parser.add_argument('--frames', type=int, default=32, help='frames per clip')
    parser.add_argument('--fps', type=int, default=8)
    parser.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 8),
                        help='encoding processes (default: CPU count, at most 8)')
    parser.add_argument('--force', action='store_true',
                        help='write into a non-empty --out, replacing an earlier run')
    variants = parser.add_argument_group(
        'variants', 'other looks and speeds, for experiments (docs/evaluation.md); the '
        'defaults make the standard set')
    variants.add_argument('--monochrome', action='store_true',
                          help='all shapes in one light grey instead of random colours')
    variants.add_argument('--flat-background', action='store_true',
                          help='mid-grey background instead of a random smooth texture')
    variants.add_argument('--flickers', type=int, default=0,
                          help='distractor discs per frame, each shown for one frame only')
    variants.add_argument('--speeds', default=f'{_SPEED_PX["slow"]:g},{_SPEED_PX["fast"]:g}',
                          help='SLOW,FAST in pixels per frame at size 64')
    variants.add_argument('--speed-jitter', type=float, default=_SPEED_JITTER,
                          help='relative per-clip speed jitter')
    args = parser.parse_args(argv)
    try:
        slow, fast = (float(v) for v in args.speeds.split(','))
    except ValueError:
        print(f'error: --speeds must be two numbers SLOW,FAST, got {args.speeds!r}',
              file=sys.stderr)
        return 2
    style = Style(monochrome=args.monochrome, flat_background=args.flat_background,
                  flickers=args.flickers, slow=slow, fast=fast,
                  speed_jitter=args.speed_jitter)

    start = time.perf_counter()
    print(f'writing {args.num_train} train + {args.num_val} val clips '
          f'({NUM_CLASSES} classes, {args.size}x{args.size}, {args.frames} frames at '
          f'{args.fps} fps) to {os.path.abspath(args.out)}', flush=True)
    try:
        index_files = make_dataset(
            args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed,
            size=args.size, frames=args.frames, fps=args.fps, workers=args.workers,
            force=args.force, verbose=True, style=style)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'done in {time.perf_counter() - start:.1f} s; index files: '
          f'{index_files["train"]} {index_files["val"]}; classes: '
          f'{os.path.join(os.path.abspath(args.out), "classes.txt")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""A synthetic physics world: unlabelled training videos and IntPhys-style matched test sets.

The world is a closed 32 x 32 box seen from the side: balls and squares fly
with inertia, fall under gravity and bounce elastically off the floor, the
ceiling, the side walls and, in some scenes, a full-height wall in the middle;
some scenes have an occluder (a static bar drawn in front of everything).
Collisions are elastic and the integrator (velocity Verlet) is time-reversible,
so a trajectory played backwards is also a possible one.

Matched test sets are built the IntPhys way, so that no pixel statistic gives
the answer away: two *possible* videos X and Y of one scene are rendered, and
the two *impossible* ones are their splices at frame ``t``, ``X[:t] + Y[t:]``
and ``Y[:t] + X[t:]``. The four videos contain the same frames in total; only
the order (what follows what) differs. Violation types, by how X and Y differ:

    permanence  Y lacks the object: it vanishes / appears out of nothing
    teleport    Y's object is 8-12 px away at t: it jumps
    constancy   Y's object has another colour or shape: it changes
    solidity    X bounces off the wall's left face at t, Y (its mirror) off the
                right face: the object passes through the wall
    inertia     Y's object is where X's is at t, moving the same way 2.2x faster
                or 0.3x as fast: it speeds up or brakes with nothing pushing it
    gravity     (not in the default sets) Y's object is where X's is at t, with the vertical velocity
                flipped: a falling object bounces up off nothing (falls upwards),
                a rising one turns down before the top of its arc

Splices fall on frames ``t`` in (12, 16, 20), multiples of 4, so that at the
evaluation's frame step 2 no tubelet of 2 frames holds frames of both videos.
Test videos are lossless H.264 (qp 0), so decoded frames are the rendered ones
and the four videos of a set decode to the same frames in total.

Output (``--out DIR``)::

    DIR/train/00000.mp4 ...   unlabelled training videos (index: train.csv, label 0)
    DIR/test/<type>/<set>_<x|y|a|b>.mp4
    DIR/test_sets.txt         the matched sets (docs/surprise.md: SET TYPE LABEL PATH)
    DIR/README

Usage::

    python data/make_physics_videos.py --out data/physics [--num-train 1000 --sets-per-type 100]

Deterministic: each scene has its own seed (``SeedSequence(seed, spawn_key=...)``),
whatever the worker count; x264 settings as in make_synthetic_videos.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence

import av
import numpy as np

SIZE = 32
FRAMES = 32
FLOOR = SIZE - 3          # the floor's top edge (rows below it are the floor band)
GRAVITY = 0.05            # px / frame^2, downwards
SUBSTEPS = 4              # integration steps per frame
VIOLATIONS = ('permanence', 'teleport', 'constancy', 'solidity', 'inertia')
# Made on request (--violations) but not by default: the object turns back over its own
# path, which a weak predictor finds *less* surprising (docs/evaluation.md).
EXTRA_VIOLATIONS = ('gravity',)
SPLICE_FRAMES = (12, 16, 20)
WALL = (15.0, 17.0)       # x extent of the middle wall
RADIUS = (4.0, 6.0)       # object radius range in px (2.5-4 scored lower: docs/evaluation.md)
_X264_ASM = 15 if platform.machine().lower() in ('x86_64', 'amd64') else 0
_SPLITS = {'train': 0, 'test': 1}


# ----------------------------------------------------------------------------- physics

def simulate(pos: np.ndarray, vel: np.ndarray, radius: float, wall: bool,
             frames: int) -> np.ndarray:
    """Centre ``(y, x)`` at frames 0..frames-1 from the state at frame 0: float64 ``[frames, 2]``.

    Gravity, velocity Verlet, elastic reflection off the box and the middle wall
    (when ``wall``). Time-reversible: ``simulate(p, -v)`` retraces a path backwards.
    """
    p, v = np.array(pos, np.float64), np.array(vel, np.float64)
    dt, out = 1.0 / SUBSTEPS, np.empty((frames, 2))
    for f in range(frames):
        out[f] = p
        for _ in range(SUBSTEPS):
            v[0] += 0.5 * GRAVITY * dt
            prev_x = p[1]
            p = p + v * dt
            v[0] += 0.5 * GRAVITY * dt
            for axis, low, high in ((0, radius, FLOOR - radius), (1, radius, SIZE - radius)):
                if p[axis] < low:
                    p[axis], v[axis] = 2 * low - p[axis], -v[axis]
                elif p[axis] > high:
                    p[axis], v[axis] = 2 * high - p[axis], -v[axis]
            if wall:
                left, right = WALL[0] - radius, WALL[1] + radius
                if prev_x <= left < p[1]:
                    p[1], v[1] = 2 * left - p[1], -v[1]
                elif prev_x >= right > p[1]:
                    p[1], v[1] = 2 * right - p[1], -v[1]
    return out


def anchored_path(pos, vel, radius: float, wall: bool, anchor: int, frames: int = FRAMES,
                  margin: int = FRAMES) -> np.ndarray:
    """Path through state ``(pos, vel)`` at frame ``anchor``, for frames -margin..frames+margin-1.

    Returns ``[frames + 2 * margin, 2]``; row ``margin + f`` is frame ``f``.
    """
    after = simulate(pos, vel, radius, wall, frames + margin - anchor)
    before = simulate(pos, -np.asarray(vel, np.float64), radius, wall, anchor + margin + 1)
    return np.concatenate([before[:0:-1], after])


# ----------------------------------------------------------------------------- scenes

def _colour(rng: np.random.Generator) -> np.ndarray:
    c = rng.random(3)
    return (c - c.min()) / (np.ptp(c) + 1e-8) * 255.0


def _object(rng: np.random.Generator, wall: bool, radius_range=RADIUS) -> dict:
    """A random object: shape, radius, colour and a state (pos, vel) away from the walls."""
    radius = float(rng.uniform(*radius_range))
    while True:
        y = rng.uniform(radius + 1, FLOOR - radius - 1)
        x = rng.uniform(radius + 1, SIZE - radius - 1)
        if wall and WALL[0] - radius - 1 < x < WALL[1] + radius + 1:
            continue
        break
    speed = rng.uniform(0.6, 1.6)
    angle = rng.uniform(0, 2 * np.pi)
    return {'shape': int(rng.integers(2)), 'radius': radius, 'colour': _colour(rng),
            'pos': np.array([y, x]), 'vel': speed * np.array([np.sin(angle), np.cos(angle)])}


def _scene(rng: np.random.Generator, wall: bool | None = None) -> dict:
    """Background, floor, optional wall and occluder shared by every video of a scene."""
    base = rng.uniform(70, 170, size=3)
    ramp = np.linspace(-12, 12, SIZE)[:, None, None] * rng.choice([-1, 1])
    background = np.broadcast_to(base + ramp, (SIZE, SIZE, 3)).astype(np.float32).copy()
    background[FLOOR:] = rng.uniform(20, 60, size=3)
    occluder = None
    if rng.random() < 0.4:
        x0 = float(rng.uniform(2, SIZE - 8))
        occluder = (float(rng.uniform(6, FLOOR - 10)), x0, x0 + float(rng.uniform(3, 5)))
    return {'background': background, 'wall': bool(rng.random() < 0.5) if wall is None else wall,
            'wall_colour': rng.uniform(0, 90, size=3), 'occluder': occluder,
            'occluder_colour': rng.uniform(170, 255, size=3), 'noise_seed': int(rng.integers(2**31))}


def render(scene: dict, objects: Sequence[tuple[dict, np.ndarray]], frames: int = FRAMES
           ) -> np.ndarray:
    """uint8 RGB ``[frames, SIZE, SIZE, 3]``; ``objects``: ``(object, path [frames, 2])``."""
    video = np.broadcast_to(scene['background'], (frames, SIZE, SIZE, 3)).copy()
    centres = np.arange(SIZE, dtype=np.float32) + 0.5
    cols = centres[None, :]
    if scene['wall']:
        inside = np.clip(np.minimum(cols - WALL[0], WALL[1] - cols) + 0.5, 0, 1)
        inside = np.broadcast_to(inside, (FLOOR, SIZE))[..., None]
        video[:, :FLOOR] += inside * (scene['wall_colour'] - video[:, :FLOOR])
    for obj, path in objects:
        dy = centres[None, :, None] - path[:, 0, None, None].astype(np.float32)
        dx = centres[None, None, :] - path[:, 1, None, None].astype(np.float32)
        dist = np.sqrt(dy ** 2 + dx ** 2) if obj['shape'] == 0 else np.maximum(abs(dy), abs(dx))
        alpha = np.clip(obj['radius'] - dist + 0.5, 0, 1)[..., None]
        video += alpha * (obj['colour'].astype(np.float32) - video)
    if scene['occluder'] is not None:
        top, x0, x1 = scene['occluder']
        video[:, int(top):FLOOR, int(x0):int(np.ceil(x1))] = scene['occluder_colour']
    noise = np.random.default_rng(scene['noise_seed']).standard_normal(video.shape,
                                                                        dtype=np.float32)
    return np.clip(np.rint(video + 2.0 * noise), 0, 255).astype(np.uint8)


def _hidden(scene: dict, yx: np.ndarray) -> bool:
    """Whether a centre ``(y, x)`` is behind the scene's occluder."""
    if scene['occluder'] is not None:
        top, x0, x1 = scene['occluder']
        if yx[0] > top - 1 and x0 - 1 < yx[1] < x1 + 1:
            return True
    return False


def training_video(seed: np.random.SeedSequence, radius=RADIUS) -> np.ndarray:
    """One unlabelled training video ``[FRAMES, SIZE, SIZE, 3]``: 1-3 objects in a random scene."""
    rng = np.random.default_rng(seed)
    scene = _scene(rng)
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        obj = _object(rng, scene['wall'], radius)
        objects.append((obj, simulate(obj['pos'], obj['vel'], obj['radius'], scene['wall'],
                                      FRAMES)))
    return render(scene, objects)


def possible_pair(seed: np.random.SeedSequence, violation: str, radius=RADIUS
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """The two possible videos X, Y of one matched set and the splice frame ``t``."""
    rng = np.random.default_rng(seed)
    m = FRAMES
    while True:  # rejection: the violating object must be visible around the splice
        t = int(rng.choice(SPLICE_FRAMES))
        scene = _scene(rng, wall=True if violation == 'solidity' else None)
        wall = scene['wall']
        others = []
        for _ in range(int(rng.integers(0, 2))):
            o = _object(rng, wall, radius)
            others.append((o, simulate(o['pos'], o['vel'], o['radius'], wall, FRAMES)))
        obj = _object(rng, wall, radius)
        r = obj['radius']
        if violation == 'solidity':
            # At frame t, X has left the wall's left face half a frame ago (the
            # backward run meets the wall); Y is its mirror image on the right.
            vy, vx = rng.uniform(-0.8, 0.8), rng.uniform(0.9, 1.6)
            y = rng.uniform(r + 3, FLOOR - r - 3)
            x_path = anchored_path(np.array([y, WALL[0] - r - 0.5 * vx]), np.array([vy, -vx]),
                                   r, True, t, margin=m)
            y_path = x_path.copy()
            y_path[:, 1] = (WALL[0] + WALL[1]) - x_path[:, 1]
            y_obj = obj
        else:
            x_path = anchored_path(obj['pos'], obj['vel'], r, wall, t, margin=m)
            y_obj, y_path = dict(obj), x_path
            if violation == 'teleport':
                step = rng.uniform(8, 12) * rng.choice([-1, 1])
                moved = obj['pos'] + (np.array([0, step]) if rng.random() < 0.5
                                      else np.array([step, 0]))
                if (not r < moved[0] < FLOOR - r or not r < moved[1] < SIZE - r
                        or (wall and WALL[0] - r < moved[1] < WALL[1] + r)
                        or (wall and (moved[1] < SIZE / 2) != (obj['pos'][1] < SIZE / 2))):
                    continue
                y_path = anchored_path(moved, obj['vel'], r, wall, t, margin=m)
            elif violation == 'constancy':
                if rng.random() < 0.5:
                    y_obj['shape'] = 1 - obj['shape']
                else:
                    y_obj['colour'] = 255.0 - obj['colour']
            elif violation == 'inertia':
                v_t = (x_path[m + t + 1] - x_path[m + t - 1]) / 2
                if np.hypot(*v_t) < 0.8:
                    continue
                factor = 2.2 if rng.random() < 0.5 else 0.3
                y_path = anchored_path(x_path[m + t], factor * v_t, r, wall, t, margin=m)
            elif violation == 'gravity':
                # Same place at t, vertical velocity flipped (the horizontal goes on).
                v_t = (x_path[m + t + 1] - x_path[m + t - 1]) / 2
                if abs(v_t[0]) < 0.8 or abs(v_t[1]) < 0.4:
                    continue
                flipped = np.array([-v_t[0], v_t[1]])
                y_path = anchored_path(x_path[m + t], flipped, r, wall, t, margin=m)
                bounced = np.diff(np.sign(np.diff(x_path[m + t - 4:m + t + 5, 0])))
                if np.any(bounced):  # X itself turns near t (a floor or ceiling bounce)
                    continue
        x_path, y_path = x_path[m:m + FRAMES], y_path[m:m + FRAMES]
        visible = all(not _hidden(scene, p[f]) for p in (x_path, y_path)
                      for f in (t - 2, t))
        if not visible:
            continue
        x_objects = [*others, (obj, x_path)]
        y_objects = others if violation == 'permanence' else [*others, (y_obj, y_path)]
        return render(scene, x_objects), render(scene, y_objects), t


def matched_set(seed: np.random.SeedSequence, violation: str, radius=RADIUS
                ) -> dict[str, np.ndarray]:
    """``{'x', 'y'}`` (possible) and ``{'a', 'b'}`` = ``X[:t]+Y[t:]``, ``Y[:t]+X[t:]`` (impossible)."""
    x, y, t = possible_pair(seed, violation, radius)
    return {'x': x, 'y': y, 'a': np.concatenate([x[:t], y[t:]]),
            'b': np.concatenate([y[:t], x[t:]])}


# ----------------------------------------------------------------------------- files

def write_video(path: str, frames: np.ndarray, fps: int = 8, lossless: bool = False) -> None:
    """H.264 yuv420p mp4, one thread and pinned SIMD (deterministic); ``lossless``: qp 0."""
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, 'yuv420p'
        stream.codec_context.thread_count = 1
        quality = {'qp': '0'} if lossless else {'crf': '18'}
        stream.options = {**quality, 'x264-params': f'asm={_X264_ASM}'}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _seed(seed: int, split: str, index: int, violation: int = 0) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(_SPLITS[split], violation, index))


def _write_train(task: tuple) -> None:
    path, seed, index, radius = task
    write_video(path, training_video(_seed(seed, 'train', index), radius))


def _write_set(task: tuple) -> None:
    stem, seed, index, violation, radius = task
    kind = 1 + (VIOLATIONS + EXTRA_VIOLATIONS).index(violation)
    clips = matched_set(_seed(seed, 'test', index, kind), violation, radius)
    for name, frames in clips.items():
        write_video(f'{stem}_{name}.mp4', frames, lossless=True)


def make_world(out: str, *, num_train: int = 1000, sets_per_type: int = 100, seed: int = 0,
               workers: int = 1, violations: Sequence[str] = VIOLATIONS,
               radius: tuple[float, float] = RADIUS) -> dict[str, str]:
    """Writes the training videos and matched test sets; returns the two index paths.

    ``radius``: the objects' radius range in pixels.
    """
    out = os.path.abspath(out)
    known = VIOLATIONS + EXTRA_VIOLATIONS
    unknown = sorted(set(violations) - set(known))
    if unknown:
        raise ValueError(f'unknown violation type(s) {unknown}; use some of {known}')
    os.makedirs(os.path.join(out, 'train'), exist_ok=True)
    train = [(os.path.join(out, 'train', f'{i:05d}.mp4'), seed, i, radius)
             for i in range(num_train)]
    sets, lines = [], [('# matched sets of the physics world: SET TYPE LABEL PATH '
                       '(docs/surprise.md)\n')]
    for violation in violations:
        os.makedirs(os.path.join(out, 'test', violation), exist_ok=True)
        for i in range(sets_per_type):
            stem = os.path.join(out, 'test', violation, f'{i:04d}')
            sets.append((stem, seed, i, violation, radius))
            for name, label in (('x', 'possible'), ('y', 'possible'), ('a', 'impossible'),
                                ('b', 'impossible')):
                rel = os.path.relpath(f'{stem}_{name}.mp4', out)
                lines.append(f'{violation}/{i:04d} {violation} {label} {rel}\n')
    jobs = [(_write_train, t) for t in train] + [(_write_set, s) for s in sets]
    if workers > 1:
        with multiprocessing.get_context('spawn').Pool(workers) as pool:
            pool.starmap(_call, jobs, chunksize=16)
    else:
        for fn, task in jobs:
            fn(task)
    paths = {'train': os.path.join(out, 'train.csv'), 'sets': os.path.join(out, 'test_sets.txt')}
    with open(paths['train'], 'w') as f:
        f.writelines(f'{task[0]} 0\n' for task in train)
    with open(paths['sets'], 'w') as f:
        f.writelines(lines)
    with open(os.path.join(out, 'README'), 'w') as f:
        f.write(f'Synthetic physics world (vjepa_jax data/make_physics_videos.py), seed {seed}:\n'
                f'{num_train} unlabelled training videos (train.csv), {sets_per_type} matched '
                f'sets per violation type {", ".join(violations)} (test_sets.txt);\n'
                f'{SIZE}x{SIZE} pixels, {FRAMES} frames at 8 fps.\n')
    return paths


def _call(fn, task):
    return fn(task)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--num-train', type=int, default=1000)
    parser.add_argument('--sets-per-type', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument('--violations', default=','.join(VIOLATIONS),
                        help=f'comma-separated, of {",".join(VIOLATIONS + EXTRA_VIOLATIONS)}')
    parser.add_argument('--radius', default=','.join(f'{r:g}' for r in RADIUS),
                        help='MIN,MAX object radius in px')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        paths = make_world(args.out, num_train=args.num_train,
                           sets_per_type=args.sets_per_type, seed=args.seed,
                           workers=args.workers, violations=args.violations.split(','),
                           radius=tuple(float(r) for r in args.radius.split(',')))
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'physics world: {args.num_train} training videos, {args.sets_per_type} matched sets '
          f'per violation type in {time.perf_counter() - start:.1f} s: {paths["train"]}, '
          f'{paths["sets"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

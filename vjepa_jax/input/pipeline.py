"""Grain pretraining pipeline: index rows -> decoded, augmented uint8 clips -> batches + masks.

Stages (a ``grain.MapDataset`` until the prefetch):

1. epochs of global row ids (``MixedIndex.epoch_order``), shuffled per epoch
   with ``seed``, repeated forever;
2. ``random_map`` (lazy: runs only for this process's elements): decode
   ``frames_per_clip`` frames every ``frame_step`` (official rule) and apply the
   official crop / resize / flip in uint8, with a generator derived from
   ``(seed, global element index)`` so the result depends neither on the
   number of workers nor on the number of hosts; an unreadable file is replaced by another
   row drawn from that same generator, and reported with the batch;
3. this process's slice (``process_index::process_count``): each host reads
   only its share;
4. batches of ``batch_size`` clips ``uint8 [B, T, H, W, 3]``;
5. masks for every mask set, drawn for batch number ``step`` of this process
   (``draw_mask_sets(seed, step, shard=process_index)``);
6. an ``IterDataset`` with multiprocessing prefetch (``num_workers``), whose
   iterator state can be saved and restored.

Each batch is ``{'video', 'label', 'row', 'masks', 'data_attempts', 'data_bad'}``
(``row``: global index rows actually used, after replacements);
``split_batch`` separates what goes to the device from the bad-file reports.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np
from absl import flags

from vjepa_jax.config_sections import ConfigSection
from vjepa_jax.input import transforms
from vjepa_jax.input.bad_input import read_or_replace
from vjepa_jax.input.index import MixedIndex, mix_indices
from vjepa_jax.input.video import decode_clips
from vjepa_jax.masks import draw_mask_sets
from vjepa_jax.masks.mask_sets import MaskSampler

logger = logging.getLogger(__name__)

DEVICE_KEYS = ('video', 'masks')


@dataclasses.dataclass(frozen=True)
class ClipConfig(ConfigSection):
    """What the pretraining data is: which files, how a clip is cut and augmented, how it is read.

    The ``data`` section of a pretraining config is this dataclass's keyword
    arguments except ``frames_per_clip`` and ``crop_size``, which are the
    model's input (``model.num_frames``, ``model.crop_size``):
    ``ClipConfig(frames_per_clip=..., crop_size=..., **config.data)``.
    Defaults: the official 16 frames every 4, crop 224, random resized crop
    (0.3-1.0 area, 0.75-1.35 aspect) and flip. ``index_files``: official
    ``"/path/video.mp4 label"`` lists; ``weights`` None concatenates them;
    ``read_threads`` None: 1 per worker process, else 2.
    """

    frames_per_clip: int = 16
    frame_step: int = 4
    crop_size: int = 224
    random_resize_scale: tuple[float, float] = transforms.PRETRAIN_SCALE
    random_resize_aspect_ratio: tuple[float, float] = transforms.PRETRAIN_RATIO
    flip_prob: float = 0.5
    filter_short_videos: bool = False
    max_replacements: int = 20
    index_files: tuple[str, ...] | None = None
    weights: tuple[float, ...] | None = None
    num_workers: int = 0
    read_threads: int | None = None
    bad_fraction_threshold: float = 0.05

    def problems(self) -> list[str]:
        problems = []
        if self.frame_step < 1 or self.frames_per_clip < 1:
            problems.append(f'data.frame_step ({self.frame_step}) and the clip length '
                            f'({self.frames_per_clip} frames) must be positive.')
        for name in ('random_resize_scale', 'random_resize_aspect_ratio'):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                problems.append(f'data.{name} {(lo, hi)!r}: give (low, high) with 0 < low <= high.')
        if self.random_resize_scale[1] > 1:
            problems.append(f'data.random_resize_scale {self.random_resize_scale!r}: areas are '
                            'fractions of the frame (<= 1).')
        if not 0.0 <= self.flip_prob <= 1.0:
            problems.append(f'data.flip_prob {self.flip_prob} must be in [0, 1].')
        if self.num_workers < 0 or (self.read_threads is not None and self.read_threads < 1):
            problems.append(f'data.num_workers ({self.num_workers}) must be >= 0 and '
                            f'data.read_threads ({self.read_threads}) >= 1 or None.')
        if not 0.0 <= self.bad_fraction_threshold <= 1.0:
            problems.append(f'data.bad_fraction_threshold {self.bad_fraction_threshold} must be '
                            'in [0, 1].')
        files = self.index_files or ()
        problems += [f'data.index_files: {f!r} is not a path (give strings, e.g. '
                     "--config.data.index_files=\"('/d/a.csv', '/d/b.csv')\")."
                     for f in files if not isinstance(f, str)]
        if self.weights is not None and len(self.weights) != len(files):
            problems.append(f'data.weights has {len(self.weights)} entries for {len(files)} '
                            'index files (or set it to None to concatenate them).')
        return problems


class EpochRows:
    """``(global position, shuffled position in its epoch) -> row id``.

    Weighted mixes draw new rows every epoch (``MixedIndex.epoch_order``);
    the last two epochs' orders are cached per worker.
    """

    def __init__(self, index: MixedIndex, seed: int):
        self.index = index
        self.seed = seed

    @functools.lru_cache(maxsize=2)  # noqa: B019 (one instance per pipeline)
    def order(self, epoch: int) -> np.ndarray:
        return self.index.epoch_order(epoch, self.seed)

    def __call__(self, position: int, within: int) -> int:
        return int(self.order(position // len(self.index))[within])


class _LoadClip:
    """Decode + augment one row; bad files are replaced deterministically and reported."""

    def __init__(self, index: MixedIndex, clip: ClipConfig):
        self.index = index
        self.clip = clip
        self.min_frames = clip.frames_per_clip * clip.frame_step if clip.filter_short_videos else None

    def __call__(self, row: int, rng: np.random.Generator) -> dict[str, Any]:
        c = self.clip

        def read(path):
            return decode_clips(path, c.frames_per_clip, c.frame_step, 1, rng,
                                min_frames=self.min_frames)[0]

        frames, row, bad = read_or_replace(row, self.index.path, self.index.num_rows, read,
                                           rng, c.max_replacements)
        video = transforms.pretrain_transform(frames[0], rng, c.crop_size,
                                              c.random_resize_scale,
                                              c.random_resize_aspect_ratio, c.flip_prob)
        return {'video': video, 'label': self.index.label(row), 'row': row, 'bad': bad}


def _collate(elements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    bad = [report for e in elements for report in e['bad']]
    return {'video': np.stack([e['video'] for e in elements]),
            'label': np.asarray([e['label'] for e in elements], np.int64),
            'row': np.asarray([e['row'] for e in elements], np.int64),
            'data_attempts': len(elements) + len(bad),
            'data_bad': bad}


class _AddMasks:
    def __init__(self, samplers: Sequence[MaskSampler], seed: int, shard: int):
        self.samplers = tuple(samplers)
        self.seed = seed
        self.shard = shard

    def __call__(self, step: int, batch: dict[str, Any]) -> dict[str, Any]:
        batch['masks'] = draw_mask_sets(self.samplers, batch['video'].shape[0], self.seed,
                                        step, self.shard)
        return batch


def pretraining_dataset(index: MixedIndex | Sequence[str], samplers: Sequence[MaskSampler],
                        batch_size: int, *, clip: ClipConfig = ClipConfig(), seed: int = 0,
                        process_index: int = 0, process_count: int = 1,
                        num_workers: int = 0, worker_buffer_size: int = 2,
                        read_threads: int | None = None) -> grain.IterDataset:
    """The pretraining input for one process (``batch_size`` = this process's clips per step).

    ``index``: a ``MixedIndex`` or index-file paths (mixed unweighted).
    ``num_workers`` > 0 decodes in that many worker processes, ``read_threads``
    threads each (default: 1 with workers, else 2; PyAV decodes without the
    GIL). The batches are identical for every worker and thread count.
    """
    if not isinstance(index, MixedIndex):
        index = mix_indices(list(index))
    ds = _batches(index, samplers, batch_size, clip, seed, process_index, process_count)
    return prefetch(ds, num_workers, read_threads, worker_buffer_size)


@dataclasses.dataclass(frozen=True)
class FrameGroup:
    """One frames-per-clip group of a V-JEPA 2 batch: its clip, mask samplers and clips per
    step on this process."""

    clip: ClipConfig
    samplers: tuple[MaskSampler, ...]
    batch_size: int


def group_seed(seed: int, group: int) -> int:
    """Group 0 keeps the run's seed (a one-group run is the plain pipeline); the others get
    their own streams of clips, crops and masks."""
    if group == 0:
        return seed
    return int(np.random.SeedSequence([seed, group]).generate_state(1)[0])


def grouped_pretraining_dataset(index: MixedIndex | Sequence[str], groups: Sequence[FrameGroup],
                                *, seed: int = 0, process_index: int = 0,
                                process_count: int = 1, num_workers: int = 0,
                                worker_buffer_size: int = 2,
                                read_threads: int | None = None) -> grain.IterDataset:
    """V-JEPA 2 input: every step holds one batch per frames-per-clip group.

    Each group draws its own clips from the whole index mix, with its own
    frame count and batch size (static shapes per group). Elements are
    ``{'groups': (batch_0, batch_1, ...), 'data_attempts', 'data_bad'}``; one
    grain iterator, so checkpoints and resume work as for one group.
    """
    if not isinstance(index, MixedIndex):
        index = mix_indices(list(index))
    parts = [_batches(index, g.samplers, g.batch_size, g.clip, group_seed(seed, i),
                      process_index, process_count) for i, g in enumerate(groups)]
    ds = grain.experimental.ZipMapDataset(parts).map(_join_groups)
    return prefetch(ds, num_workers, read_threads, worker_buffer_size)


def _join_groups(batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {'groups': tuple(batches),
            'data_attempts': sum(b['data_attempts'] for b in batches),
            'data_bad': [report for b in batches for report in b['data_bad']]}


def _batches(index: MixedIndex, samplers: Sequence[MaskSampler], batch_size: int,
             clip: ClipConfig, seed: int, process_index: int,
             process_count: int) -> grain.MapDataset:
    """This process's batches of clips with their masks, before prefetching."""
    if batch_size < 1:
        raise ValueError(f'batch_size must be positive, got {batch_size}.')
    if not 0 <= process_index < process_count:
        raise ValueError(f'process_index {process_index} is not in [0, {process_count}).')
    ds = (grain.MapDataset.range(len(index)).shuffle(seed=seed).repeat(None)
          .map_with_index(EpochRows(index, seed)))
    # Random draws come from the *global* position (before the process split),
    # so hosts never repeat each other's crops, flips or clip starts.
    ds = ds.random_map(_LoadClip(index, clip), seed=seed)
    ds = ds[process_index::process_count]
    ds = ds.batch(batch_size, drop_remainder=True, batch_fn=_collate)
    return ds.map_with_index(_AddMasks(samplers, seed, process_index))


def prefetch(ds: grain.MapDataset, num_workers: int = 0, read_threads: int | None = None,
             worker_buffer_size: int = 2) -> grain.IterDataset:
    """Threaded reading and, with ``num_workers > 0``, multiprocessing prefetch.

    ``read_threads`` defaults to 1 with workers, else 2 (PyAV decodes without
    the GIL). The elements are identical for any worker and thread count.
    """
    if read_threads is None:
        read_threads = 1 if num_workers else 2
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=read_threads,
                                              prefetch_buffer_size=2))
    if num_workers > 0:
        # Grain reads absl flags when it starts workers; outside an absl app
        # (a notebook, a test, a plain script) they are never parsed.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(
            num_workers=num_workers, per_worker_buffer_size=worker_buffer_size))
    return it


def split_batch(batch: Mapping[str, Any]) -> tuple[dict[str, Any], int, list[tuple[str, str]]]:
    """``(device batch, videos attempted, [(path, reason), ...] bad)``; the device batch is
    ``{'video', 'masks'}``, or ``{'groups': ({'video', 'masks'}, ...)}`` for a grouped one."""
    if 'groups' in batch:
        device = {'groups': tuple({k: g[k] for k in DEVICE_KEYS} for g in batch['groups'])}
    else:
        device = {k: batch[k] for k in DEVICE_KEYS}
    return (device, int(batch['data_attempts']),
            list(batch['data_bad']))

"""Labelled clip batches for frozen video probes (grain), by the official protocol.

``ProbeClipConfig`` is the ``clip`` section of a probe config (its fields are
the section's keys; ``problems()`` holds its checks).

Every video gives ``S`` segments (one clip from each of ``S`` equal partitions
of the video, ``input.video.clip_indices``; the official probe loaders allow
overlapping segments for short videos) and ``V`` spatial views of each:
``{'clips': uint8 [B, S, V, T, H, W, 3], 'label': int64 [B], 'valid': bool [B]}``
plus bookkeeping (``row``, ``data_attempts``, ``data_bad``; ``split_probe_batch``).

Training (official ``make_dataloader(training=True)``): ``S = num_segments`` when
the probe attends across segments, else 1; ``V = 1``; random temporal windows;
each segment augmented on its own (official ``VideoTransform``): RandAugment
``rand-m7-n4-mstd0.5-inc1`` on the decoded frames (the same ops for every frame
of a clip, bicubic, grey fill), random resized crop (scale 0.08-1, ratio 3/4-4/3,
bilinear), **no** flip (``random_horizontal_flip=False``), then random erasing
(p 0.25, one box for the whole clip, per-pixel normal noise). Rows are shuffled
per epoch with ``seed``, every random draw comes from a generator keyed by the
element's global position (the same batches for any worker or host count), and
an unreadable file is replaced by another random row and reported.

Evaluation: ``S = num_segments``, ``V = num_views_per_segment`` views
(``transforms.eval_transform``: short side to the crop size and views along the
long side, or for one view the 256/224 resize and centre crop), deterministic
temporal windows (centred in each partition by default). Every video appears
exactly once; the last batch is padded with ``valid=False`` entries and every
process gets the same number of batches. An unreadable file gives a zero clip
with ``valid=False`` and is reported.

Deviations from the official code, all in uint8 on the host: the random
resized crop is computed in 8-bit fixed point (within 2 grey levels); erased
pixels are quantised noise (``random_erase_clip``); the official evaluation
loader draws random temporal windows (``random_clip_sampling=True``) and drops
each rank's last incomplete batch, here the windows are deterministic (``eval_window='random'`` restores seeded
random ones) and every video is evaluated; the official training order is the
same every epoch (its sampler's ``set_epoch`` is never called), here it is
reshuffled per epoch; Python's / NumPy's global RNGs become one generator.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np

# The input helper moves these two to input/rand_augment.py and input/random_erasing.py.
from vjepa_jax.errors import ConfigError, config_problems
from vjepa_jax.input import transforms
from vjepa_jax.input.bad_input import read_or_replace
from vjepa_jax.input.index import MixedIndex, VideoIndex, mix_indices
from vjepa_jax.input.pipeline import EpochRows, prefetch
from vjepa_jax.input.rand_augment import rand_augment_clip
from vjepa_jax.input.random_erasing import random_erase_clip
from vjepa_jax.input.video import VideoError, decode_clips

DEVICE_KEYS = ('clips', 'label', 'valid')
EVAL_WINDOWS = ('centre', 'start', 'random')


@dataclasses.dataclass(frozen=True)
class ProbeClipConfig:
    """What a probed video is (defaults: official K400 16x8x3, ViT at 224).

    ``attend_across_segments``: the probe sees the tokens of all segments of a
    view at once (``evaluation.multiview``; training then reads every segment).
    ``crop_size`` is also the image probes' crop.
    """

    frames_per_clip: int = 16
    frame_step: int = 4
    num_segments: int = 8
    num_views_per_segment: int = 3
    crop_size: int = 224
    attend_across_segments: bool = True
    allow_segment_overlap: bool = True
    random_resize_scale: tuple[float, float] = (0.08, 1.0)
    random_resize_aspect_ratio: tuple[float, float] = (0.75, 4 / 3)
    flip_prob: float = 0.0
    auto_augment: bool = True     # RandAugment m7-n4 (videos)
    reprob: float = 0.25          # random erasing
    eval_window: str = 'centre'   # temporal windows of the evaluation clips
    max_replacements: int = 20    # unreadable training videos replaced per element

    @property
    def train_segments(self) -> int:
        """Official: all segments when attending across them, else one clip per video."""
        return self.num_segments if self.attend_across_segments else 1

    def problems(self) -> list[str]:
        """What cannot work, each message starting with the field's name."""
        out = [f'{key} must be >= 1, got {getattr(self, key)}.'
               for key in ('frames_per_clip', 'frame_step', 'num_segments',
                           'num_views_per_segment', 'crop_size')
               if getattr(self, key) < 1]
        if self.eval_window not in EVAL_WINDOWS:
            out.append(f'eval_window {self.eval_window!r} is not one of {list(EVAL_WINDOWS)}.')
        for key in ('random_resize_scale', 'random_resize_aspect_ratio'):
            lo_hi = getattr(self, key)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                out.append(f'{key} {lo_hi!r}: give (low, high) with 0 < low <= high.')
        for key in ('flip_prob', 'reprob'):
            if not 0 <= getattr(self, key) <= 1:
                out.append(f'{key} must be in [0, 1], got {getattr(self, key)}.')
        return out


def train_transform(clip: np.ndarray, rng: np.random.Generator,
                    config: ProbeClipConfig) -> np.ndarray:
    """Official probe training augmentation of one clip: uint8 ``[T, H, W, 3] -> [T, c, c, 3]``."""
    if config.auto_augment:
        clip = rand_augment_clip(clip, rng)
    clip = transforms.pretrain_transform(clip, rng, config.crop_size, config.random_resize_scale,
                                         config.random_resize_aspect_ratio, config.flip_prob)
    if config.reprob > 0:
        clip = random_erase_clip(clip, rng, config.reprob)
    return clip


class _CentredWindow:
    """Stands in for the generator of ``clip_indices``: the window end in the middle of its range."""

    @staticmethod
    def integers(low: int, high: int) -> int:
        return low + (high - low) // 2


class _LoadTrain:
    def __init__(self, index: MixedIndex, config: ProbeClipConfig):
        self.index, self.config = index, config

    def __call__(self, row: int, rng: np.random.Generator) -> dict[str, Any]:
        c = self.config

        def read(path):
            return decode_clips(path, c.frames_per_clip, c.frame_step, c.train_segments, rng,
                                allow_clip_overlap=c.allow_segment_overlap)[0]

        segments, row, bad = read_or_replace(row, self.index.path, self.index.num_rows, read,
                                             rng, c.max_replacements)
        clips = np.stack([train_transform(s, rng, c) for s in segments])[:, None]
        return {'clips': clips, 'label': self.index.label(row), 'valid': True, 'row': row,
                'attempts': len(bad) + 1, 'bad': bad}


class _LoadEval:
    def __init__(self, index: MixedIndex, config: ProbeClipConfig):
        self.index, self.config = index, config
        c = config
        self.shape = (c.num_segments, c.num_views_per_segment, c.frames_per_clip,
                      c.crop_size, c.crop_size, 3)

    def __call__(self, row: int, rng: np.random.Generator) -> dict[str, Any]:
        c = self.config
        if row >= self.index.num_rows:  # padding up to whole batches on every process
            return {'clips': np.zeros(self.shape, np.uint8), 'label': 0, 'valid': False,
                    'row': -1, 'attempts': 0, 'bad': []}
        path = self.index.path(row)
        window = {'centre': _CentredWindow(), 'start': None, 'random': rng}[c.eval_window]
        try:
            segments, _ = decode_clips(path, c.frames_per_clip, c.frame_step, c.num_segments,
                                       window, allow_clip_overlap=c.allow_segment_overlap)
        except VideoError as err:
            return {'clips': np.zeros(self.shape, np.uint8), 'label': self.index.label(row),
                    'valid': False, 'row': row, 'attempts': 1, 'bad': [(path, err.reason)]}
        clips = np.stack([transforms.eval_transform(s, c.crop_size, c.num_views_per_segment)
                          for s in segments])
        return {'clips': clips, 'label': self.index.label(row), 'valid': True, 'row': row,
                'attempts': 1, 'bad': []}


def _collate(elements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {'clips': np.stack([e['clips'] for e in elements]),
            'label': np.asarray([e['label'] for e in elements], np.int64),
            'valid': np.asarray([e['valid'] for e in elements], bool),
            'row': np.asarray([e['row'] for e in elements], np.int64),
            'data_attempts': sum(e['attempts'] for e in elements),
            'data_bad': [report for e in elements for report in e['bad']]}


def _as_index(index: MixedIndex | VideoIndex | str | os.PathLike | Sequence) -> MixedIndex:
    if isinstance(index, MixedIndex):
        return index
    if isinstance(index, (VideoIndex, str, os.PathLike)):
        return mix_indices([index])
    return mix_indices(list(index))


def _check(config: ProbeClipConfig, batch_size: int, process_index: int,
           process_count: int) -> None:
    config_problems(config.problems(), 'Invalid ProbeClipConfig')
    if batch_size < 1:
        raise ConfigError(f'batch_size must be positive, got {batch_size}.')
    if not 0 <= process_index < process_count:
        raise ConfigError(f'process_index {process_index} is not in [0, {process_count}).')


def steps_per_epoch(num_videos: int, batch_size: int, process_count: int = 1) -> int:
    """Full global batches in one pass over ``num_videos`` (the remainder is dropped)."""
    return num_videos // (batch_size * process_count)


def training_dataset(index: MixedIndex | VideoIndex | str | os.PathLike | Sequence,
                     batch_size: int, config: ProbeClipConfig = ProbeClipConfig(), *,
                     seed: int = 0, process_index: int = 0,
                     process_count: int = 1) -> grain.MapDataset:
    """Endless training batches for one process (``batch_size`` = this process's videos).

    ``clips``: uint8 ``[B, train_segments, 1, T, crop, crop, 3]``; ``valid`` all True.
    """
    _check(config, batch_size, process_index, process_count)
    index = _as_index(index)
    ds = (grain.MapDataset.range(len(index)).shuffle(seed=seed).repeat(None)
          .map_with_index(EpochRows(index, seed)))
    # Draws keyed by the global position (before the process split): hosts never
    # repeat each other's windows or augmentations.
    ds = ds.random_map(_LoadTrain(index, config), seed=seed)
    return ds[process_index::process_count].batch(batch_size, drop_remainder=True,
                                                  batch_fn=_collate)


def evaluation_dataset(index: MixedIndex | VideoIndex | str | os.PathLike | Sequence,
                       batch_size: int, config: ProbeClipConfig = ProbeClipConfig(), *,
                       seed: int = 0, process_index: int = 0,
                       process_count: int = 1) -> grain.MapDataset:
    """Every video once (in index order), padded to the same number of batches per process.

    ``clips``: uint8 ``[B, num_segments, num_views_per_segment, T, crop, crop, 3]``.
    Process ``p`` holds global positions ``p, p + process_count, ...``.
    """
    _check(config, batch_size, process_index, process_count)
    index = _as_index(index)
    per_step = batch_size * process_count
    total = -(-index.num_rows // per_step) * per_step
    ds = grain.MapDataset.range(total).random_map(_LoadEval(index, config), seed=seed)
    return ds[process_index::process_count].batch(batch_size, drop_remainder=True,
                                                  batch_fn=_collate)


def to_iterator(ds: grain.MapDataset, num_workers: int = 0, read_threads: int | None = None,
                worker_buffer_size: int = 2) -> grain.IterDataset:
    """Threaded reading and, with ``num_workers > 0``, multiprocessing prefetch
    (``pipeline.prefetch``). The batches are identical for any worker and thread count."""
    return prefetch(ds, num_workers, read_threads, worker_buffer_size)


def split_probe_batch(batch: Mapping[str, Any]) -> tuple[dict[str, Any], int, list[tuple[str, str]]]:
    """``({'clips', 'label', 'valid'}, videos attempted, [(path, reason), ...] unreadable)``."""
    return ({k: batch[k] for k in DEVICE_KEYS}, int(batch['data_attempts']),
            list(batch['data_bad']))

"""Image-probe batches: a random-access image source -> grain -> uint8 batches.

The pieces: sources in :mod:`~vjepa_jax.input.image_sources` (TFDS registry,
``probe_source``), per-image transforms in :mod:`~vjepa_jax.input.image_transforms`
(official image-probe augmentation and evaluation view); this module turns a
source into this process's examples (``image_dataset``) and batches
(``batch_images``, ``image_batches``). ``batch_images`` yields ``'image'``
``[B, H, W, 3]`` by default (the encoder repeats images along time on the
device) and ``'video'`` only with ``num_frames``.

Sharding and randomness (as ``pipeline.py``): training shuffles all examples
per epoch with ``seed``, repeats, draws each element's augmentation from a
generator seeded by ``(seed, global position)`` (``random_map`` before the
process slice, so a given position is augmented identically whatever the
process count), then process ``p`` of ``P`` takes positions ``p::P``.
Evaluation is unshuffled: process ``p`` takes examples ``p::P``, padded with
``valid=False`` elements to ``ceil(n / P)`` per process, and ``batch_images``
pads the last batch, so every process runs the same number of static-shape
batches and the valid entries cover every example exactly once.

Official sampler differences (for the record): the official loaders use a
``DistributedSampler``, which pads the evaluation set by repeating examples
(counted twice) and keeps a partial last training batch.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np

# The probe job picks a source and batches it through this module, so the
# registry and probe_source are importable from here as well.
from vjepa_jax.input.image_sources import PROBE_DATASETS, probe_source
from vjepa_jax.input.image_transforms import (
    ERASE_PROB,
    PROBE_RATIO,
    PROBE_SCALE,
    eval_transform,
    image_to_clip,
    int_at_least,
    train_transform,
)

__all__ = ['PROBE_DATASETS', 'ImageConfig', 'batch_images', 'image_batches', 'image_dataset',
           'probe_source']


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """Probe image transforms (official defaults: crop 224, eval short side 256).

    ``resize_size``: evaluation short side, default ``int(crop_size * 256 / 224)``.
    ``erase_prob``: random erasing probability (0 disables it).
    """

    crop_size: int = 224
    resize_size: int | None = None
    scale: tuple[float, float] = PROBE_SCALE
    ratio: tuple[float, float] = PROBE_RATIO
    flip_prob: float = 0.5
    erase_prob: float = ERASE_PROB


def _label(example: Mapping[str, Any], key: str) -> int:
    return int(np.asarray(example[key]))


class _TrainElement:
    """Global position -> augmented example (per-element generator from ``random_map``)."""

    def __init__(self, source: Any, config: ImageConfig, image_key: str, label_key: str):
        self.source = source
        self.config = config
        self.image_key = image_key
        self.label_key = label_key

    def __call__(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        example = self.source[int(index)]
        c = self.config
        image = train_transform(example[self.image_key], rng, c.crop_size, c.scale, c.ratio,
                                c.flip_prob, c.erase_prob)
        return {'image': image, 'label': _label(example, self.label_key), 'index': int(index)}


class _EvalElement:
    """Global index -> centre view, or a ``valid=False`` zero image past the end."""

    def __init__(self, source: Any, config: ImageConfig, image_key: str, label_key: str):
        self.source = source
        self.config = config
        self.image_key = image_key
        self.label_key = label_key
        self.num_examples = len(source)

    def __call__(self, index: int) -> dict[str, Any]:
        c = self.config
        if index >= self.num_examples:
            return {'image': np.zeros((c.crop_size, c.crop_size, 3), np.uint8), 'label': 0,
                    'index': -1, 'valid': False}
        example = self.source[int(index)]
        image = eval_transform(example[self.image_key], c.crop_size, c.resize_size)
        return {'image': image, 'label': _label(example, self.label_key), 'index': int(index),
                'valid': True}


def _check_sharding(seed: int, process_index: int, process_count: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f'seed must be an int in [0, 2**32), got {seed!r}.')
    if not (isinstance(process_count, numbers.Integral) and process_count >= 1
            and isinstance(process_index, numbers.Integral)
            and 0 <= process_index < process_count):
        raise ValueError(f'process_index {process_index!r} is not in [0, {process_count!r}).')


def image_dataset(source: Any, *, training: bool, config: ImageConfig = ImageConfig(),
                  seed: int = 0, process_index: int = 0, process_count: int = 1,
                  num_epochs: int | None = None, image_key: str = 'image',
                  label_key: str = 'label') -> grain.MapDataset:
    """This process's examples of ``source`` as a ``grain.MapDataset`` of dicts.

    ``source``: random access (``len``, ``source[i]`` -> dict with ``image_key``
    uint8 ``[H, W, 3]`` and ``label_key`` int), e.g. ``tfds_source``.
    Elements: ``'image'`` uint8 ``[crop, crop, 3]``, ``'label'`` int,
    ``'index'`` (the example's index in ``source``; -1 for padding) and, for
    evaluation, ``'valid'`` bool.

    ``training``: shuffled every epoch with ``seed``, repeated ``num_epochs``
    times (None: forever; a finite stream is cut to a multiple of
    ``process_count`` so all processes have the same length), augmented with
    ``train_transform`` (generator per global position), sliced
    ``process_index::process_count``. Otherwise: ``eval_transform`` of examples
    ``process_index::process_count`` in order, padded with ``valid=False``
    zero images to ``ceil(len(source) / process_count)`` (``num_epochs`` and
    ``seed`` unused).
    """
    _check_sharding(seed, process_index, process_count)
    n = len(source)
    if n < 1:
        raise ValueError('source is empty.')
    if training:
        if num_epochs is not None and (isinstance(num_epochs, bool) or num_epochs < 1):
            raise ValueError(f'num_epochs must be a positive int or None, got {num_epochs!r}.')
        ds = grain.MapDataset.range(n).shuffle(seed=seed).repeat(num_epochs)
        ds = ds.random_map(_TrainElement(source, config, image_key, label_key), seed=seed)
        if num_epochs is not None:
            ds = ds[:len(ds) // process_count * process_count]
    else:
        per_process = -(-n // process_count)
        ds = grain.MapDataset.range(per_process * process_count)
        ds = ds.map(_EvalElement(source, config, image_key, label_key))
    return ds[process_index::process_count]


class _Collate:
    """Stack elements; optionally pad a short batch with ``valid=False`` zeros; repeat to clips."""

    def __init__(self, batch_size: int, pad: bool, num_frames: int | None):
        self.batch_size = batch_size
        self.pad = pad
        self.num_frames = num_frames

    def __call__(self, elements: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        images = np.stack([e['image'] for e in elements])
        labels = np.asarray([e['label'] for e in elements], np.int64)
        index = np.asarray([e.get('index', -1) for e in elements], np.int64)
        valid = np.asarray([e.get('valid', True) for e in elements], bool)
        missing = self.batch_size - len(elements)
        if self.pad and missing > 0:
            images = np.concatenate([images, np.zeros((missing, *images.shape[1:]), images.dtype)])
            labels = np.concatenate([labels, np.zeros(missing, np.int64)])
            index = np.concatenate([index, np.full(missing, -1, np.int64)])
            valid = np.concatenate([valid, np.zeros(missing, bool)])
        batch = {'label': labels, 'index': index}
        if self.num_frames is None:
            batch['image'] = images
        else:
            batch['video'] = image_to_clip(images, self.num_frames)
        if self.pad:
            batch['valid'] = valid
        return batch


def batch_images(ds: grain.MapDataset, batch_size: int, *, training: bool,
                 num_frames: int | None = None) -> grain.MapDataset:
    """Batches of ``image_dataset`` elements (``batch_size`` = this process's share).

    Each batch: ``'image'`` uint8 ``[B, H, W, 3]`` (or, with ``num_frames``,
    ``'video'`` uint8 ``[B, num_frames, H, W, 3]``, repeated on the host),
    ``'label'`` int64 ``[B]``, ``'index'`` int64 ``[B]`` (-1 for padding).
    ``training``: partial batches are dropped. Otherwise the last batch is
    padded with zero images, and ``'valid'`` bool ``[B]`` marks real examples
    (padding from ``image_dataset`` included), so evaluation has static
    shapes and counts every example exactly once.
    """
    batch_size = int_at_least('batch_size', batch_size)
    if num_frames is not None:
        num_frames = int_at_least('num_frames', num_frames)
    return ds.batch(batch_size, drop_remainder=training,
                    batch_fn=_Collate(batch_size, not training, num_frames))


def image_batches(source: Any, batch_size: int, *, training: bool,
                  config: ImageConfig = ImageConfig(), seed: int = 0, process_index: int = 0,
                  process_count: int = 1, num_epochs: int | None = None,
                  num_frames: int | None = None) -> grain.MapDataset:
    """``batch_images(image_dataset(source, ...), batch_size, ...)``: one process's batches.

    Random access by step (``ds[step]``); for throughput wrap it as
    ``pipeline.py`` does (``to_iter_dataset`` + ``mp_prefetch``). With
    ``training=False`` every process gets ``ceil(ceil(n / P) / batch_size)``
    batches.
    """
    ds = image_dataset(source, training=training, config=config, seed=seed,
                       process_index=process_index, process_count=process_count,
                       num_epochs=num_epochs)
    return batch_images(ds, batch_size, training=training, num_frames=num_frames)

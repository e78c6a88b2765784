"""Where a probe job's examples come from (``config.data``) and its train / val batch streams.

Videos: index files in the official format (``"/path/video.mp4 <label>"`` per
line), read as ``input.probe_clips`` batches. Images: a TFDS dataset prepared
as ArrayRecord (``input.images.PROBE_DATASETS``; nothing is downloaded),
each image one segment and one view. ``probe_batches`` gives the endless
training iterator, a re-iterable of validation batches and the steps per
epoch; both streams are ``{'clips' uint8 [B, S, V, (T,) H, W, 3], 'label',
'valid', ...}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import grain

from vjepa_jax.errors import ConfigError
from vjepa_jax.input import images, probe_clips
from vjepa_jax.input.index import mix_indices
from vjepa_jax.input.pipeline import prefetch
from vjepa_jax.input.probe_clips import ProbeClipConfig

DATA_KINDS = ('video', 'image')


@dataclasses.dataclass(frozen=True)
class ProbeDataConfig:
    """A probe's labelled data.

    ``kind``: ``'video'`` (``train_index`` / ``val_index`` index files) or
    ``'image'`` (``dataset``, a key of ``images.PROBE_DATASETS``, read from the
    TFDS ``data_dir``; None: TFDS's default). ``num_classes`` must be given.
    ``num_workers``: decoding processes per host; ``read_threads``: reading
    threads (None: 2 in process, 1 per worker).
    """

    kind: str = 'video'
    num_classes: int | None = None
    train_index: tuple[str, ...] = ()
    val_index: tuple[str, ...] = ()
    dataset: str | None = None
    data_dir: str | None = None
    num_workers: int = 0
    read_threads: int | None = None

    def problems(self) -> list[str]:
        out = []
        if self.kind not in DATA_KINDS:
            out.append(f'kind {self.kind!r} is not one of {list(DATA_KINDS)}.')
        if self.num_classes is None or self.num_classes < 2:
            out.append(f'num_classes must be given and >= 2, got {self.num_classes}.')
        if self.kind == 'video':
            for key in ('train_index', 'val_index'):
                files = getattr(self, key)
                out += [f'{key}: {f!r} is not a path (give strings, e.g. '
                        f'--config.data.{key}="(\'/d/a.csv\', \'/d/b.csv\')").'
                        for f in files if not isinstance(f, str)]
                if not any(isinstance(f, str) and f for f in files):
                    out.append(f'{key} is empty: give index files ("/path/video.mp4 <label>" '
                               'per line).')
        elif self.kind == 'image' and self.dataset not in images.PROBE_DATASETS:
            out.append(f'dataset {self.dataset!r} is not one of '
                       f'{sorted(images.PROBE_DATASETS)}.')
        if self.num_workers < 0:
            out.append(f'num_workers must be >= 0, got {self.num_workers}.')
        if self.read_threads is not None and self.read_threads < 1:
            out.append(f'read_threads must be >= 1 (or None: the default), got '
                       f'{self.read_threads}.')
        return out


class _Reiterable:
    """Each ``iter()`` is a fresh threaded pass over a finite ``MapDataset``."""

    def __init__(self, ds: grain.MapDataset, read_threads: int | None):
        self.ds, self.read_threads = ds, read_threads

    def __iter__(self):
        return iter(prefetch(self.ds, 0, self.read_threads))


def _images_as_clips(batch: dict[str, Any]) -> dict[str, Any]:
    """Image batches ``{'image' [B, H, W, 3], ...}`` -> one segment and view per image."""
    out = {k: v for k, v in batch.items() if k != 'image'}
    out['clips'] = batch['image'][:, None, None]
    return out


def probe_batches(data: ProbeDataConfig, clip: ProbeClipConfig, *, local_batch: int,
                  local_eval_batch: int, seed: int, process_index: int, process_count: int
                  ) -> tuple[Iterator[dict[str, Any]], Iterable[dict[str, Any]], int, str]:
    """``(train iterator, re-iterable val batches, steps per epoch, description)`` of one host.

    ``local_batch`` / ``local_eval_batch``: this process's examples per step.
    Raises ``ConfigError`` when the global batch is larger than the training set.
    """
    pi, pc = process_index, process_count
    if data.kind == 'video':
        train_index = mix_indices(list(data.train_index), seed=seed)
        val_index = mix_indices(list(data.val_index), seed=seed)
        train = probe_clips.training_dataset(train_index, local_batch, clip, seed=seed,
                                             process_index=pi, process_count=pc)
        val = probe_clips.evaluation_dataset(val_index, local_eval_batch, clip, seed=seed,
                                             process_index=pi, process_count=pc)
        train_iter = iter(probe_clips.to_iterator(train, data.num_workers, data.read_threads))
        spe = probe_clips.steps_per_epoch(train_index.num_rows, local_batch, pc)
        what = f'{train_index.num_rows} train / {val_index.num_rows} val videos'
    else:
        image_config = images.ImageConfig(crop_size=clip.crop_size)
        train_source = images.probe_source(data.dataset, training=True, data_dir=data.data_dir)
        val_source = images.probe_source(data.dataset, training=False, data_dir=data.data_dir)
        train = images.image_batches(train_source, local_batch, training=True,
                                     config=image_config, seed=seed, process_index=pi,
                                     process_count=pc).map(_images_as_clips)
        val = images.image_batches(val_source, local_eval_batch, training=False,
                                   config=image_config, process_index=pi,
                                   process_count=pc).map(_images_as_clips)
        train_iter = iter(prefetch(train, data.num_workers, data.read_threads))
        spe = len(train_source) // (local_batch * pc)
        what = f'{len(train_source)} train / {len(val_source)} val images ({data.dataset})'
    if spe < 1:
        raise ConfigError(f'Invalid config: batch_size {local_batch * pc} is larger than the '
                          f'training set ({what}); lower batch_size.')
    return train_iter, _Reiterable(val, data.read_threads), spe, what

"""Shared by the probe experiment files (``experiments/probe/*.py``): argument, sizes, runlocal.

An experiment file starts from ``evaluation.config.probe_config()``, states
its recipe's values and ends with ``finish(config, arg)``, which applies the
options every probe file takes:

* ``checkpoint``: the encoder (official ``.pth.tar``, converted directory or
  pretraining workdir); ``data``: the folder with ``train.csv`` / ``val.csv``
  (videos) or the TFDS data_dir (images; empty: TFDS's default);
* ``size``: the official encoder (``OFFICIAL_CROPS``: its crop size);
* ``grid``: train the 3 x 3 grid ``GRID_LRS x (GRID_WD_FACTORS x the recipe's
  weight decay)`` on the same features instead of the single official probe;
* ``workers``: decoding processes per host;
* ``runlocal``: the same job and code path at CPU size (``runlocal``).
"""

from __future__ import annotations

from typing import Any

import ml_collections

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.errors import ConfigError

# Official encoders by size argument -> crop size (the official eval configs' resolution).
OFFICIAL_CROPS = {'L/16': 224, 'H/16': 224, 'H/16_384': 384}
# V-JEPA 2 probes (configs/eval/vitl/*.yaml of facebookresearch/vjepa2): ViT-L at 256 px.
VJEPA2_CROPS = {'L/16': 256}
# runlocal keeps a multilevel probe multilevel on a tiny encoder: its last two blocks.
RUNLOCAL_OUT_LAYERS = (-2, -1)

GRID_LRS = (3e-4, 1e-3, 3e-3)
GRID_WD_FACTORS = (0.1, 1.0, 10.0)

# runlocal: 8 examples a step, 2 epochs of 1 step on 8 training examples.
RUNLOCAL_BATCH = 8
RUNLOCAL_EPOCHS = 2.0
# Where runlocal probes look for data when no data= is given: the `make demo` videos
# (data/make_synthetic_videos.py) and stand-in image datasets (data/make_tiny_image_datasets.py).
RUNLOCAL_VIDEOS = 'data/synthetic'
RUNLOCAL_IMAGES = 'data/tiny_tfds'


def probe_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """The probe files' argument (``checkpoint, data, size, grid, workers, runlocal``)."""
    spec = {'checkpoint': '', 'data': '', 'size': 'L/16', 'grid': False, 'workers': 8,
            'runlocal': False, **defaults}
    return parse_arg(arg, **spec)


def official_crop(size: str) -> int:
    """The crop size of an official encoder size argument (``OFFICIAL_CROPS``)."""
    if size not in OFFICIAL_CROPS:
        raise ConfigError(f'size={size!r}: use one of {sorted(OFFICIAL_CROPS)}.')
    return OFFICIAL_CROPS[size]


def vjepa2_crop(size: str) -> int:
    """The crop size of a V-JEPA 2 probe recipe's encoder size argument (``VJEPA2_CROPS``)."""
    if size not in VJEPA2_CROPS:
        raise ConfigError(f'size={size!r}: the V-JEPA 2 probe recipes here are for '
                          f'{sorted(VJEPA2_CROPS)}.')
    return VJEPA2_CROPS[size]


def vjepa2_probe(c: ml_collections.ConfigDict) -> None:
    """The official V-JEPA 2 probe head and optimiser shape, in place (``evals/
    video_classification_frozen/eval.py``): 4 blocks (3 self-attention + the query's
    cross-attention), 16 heads, no gradient clipping, no horizontal flip, constant
    weight decay, lr cosine to 0 without warm-up.
    """
    c.probe.update({'kind': 'vjepa2', 'depth': 4, 'num_heads': 16})
    c.clip.update({'attend_across_segments': True, 'random_resize_scale': (0.08, 1.0),
                   'random_resize_aspect_ratio': (0.75, 4 / 3), 'flip_prob': 0.0,
                   'auto_augment': True, 'reprob': 0.25})
    c.optimizer.update({'start_lr_factor': 1.0, 'final_lr': 0.0, 'warmup_epochs': 0.0,
                        'clip_grad': None})


def video_index(a: ml_collections.ConfigDict, default: str) -> dict[str, tuple[str, ...]]:
    """``train_index`` / ``val_index``: ``train.csv`` / ``val.csv`` of the folder ``a.data``.

    Without ``data=``: ``default``, or ``RUNLOCAL_VIDEOS`` with ``runlocal``.
    """
    folder = (a.data or (RUNLOCAL_VIDEOS if a.get('runlocal') else default)).rstrip('/')
    return {'train_index': (f'{folder}/train.csv',), 'val_index': (f'{folder}/val.csv',)}


def image_data_dir(a: ml_collections.ConfigDict) -> str | None:
    """The TFDS data_dir ``a.data`` (None: TFDS's default, or ``RUNLOCAL_IMAGES`` with runlocal)."""
    return a.data or (RUNLOCAL_IMAGES if a.get('runlocal') else None)


def runlocal(c: ml_collections.ConfigDict) -> None:
    """Shrinks a probe config to a 2-core CPU run of the same code path, in place.

    Crop 32, 8 frames every 2, at most 2 segments x 2 views (the multi-view
    path stays), float32, batch 8 over the data-parallel mesh, 2 epochs with
    one step each on 8 training examples, progress every step; a multilevel
    encoder uses its last two blocks (``RUNLOCAL_OUT_LAYERS``). The encoder is
    the given checkpoint's (use a tiny one: the official test fixture or the
    ``make demo`` pretraining run); data defaults to ``RUNLOCAL_VIDEOS`` /
    ``RUNLOCAL_IMAGES``.
    """
    c.encoder.dtype = 'float32'
    c.clip.update({'frames_per_clip': 8, 'frame_step': 2, 'crop_size': 32,
                   'num_segments': min(c.clip.num_segments, 2),
                   'num_views_per_segment': min(c.clip.num_views_per_segment, 2)})
    c.batch_size = RUNLOCAL_BATCH
    c.eval_batch_size = RUNLOCAL_BATCH
    c.optimizer.num_epochs = RUNLOCAL_EPOCHS
    c.data.update({'num_workers': 0, 'read_threads': 1})
    c.log_every = 1
    if c.encoder.get('out_layers') is not None:
        c.encoder.out_layers = RUNLOCAL_OUT_LAYERS


def finish(c: ml_collections.ConfigDict, a: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Applies the argument ``a`` (``probe_arg``) to the recipe ``c`` and locks it."""
    if a.checkpoint:
        c.encoder.checkpoint = a.checkpoint
    if a.grid:
        (wd,) = c.optimizer.weight_decays
        c.optimizer.lrs = GRID_LRS
        c.optimizer.weight_decays = tuple(wd * f for f in GRID_WD_FACTORS)
    c.data.num_workers = a.workers
    if a.runlocal:
        runlocal(c)
    c.lock()
    return c

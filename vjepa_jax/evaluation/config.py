"""The probe config (``mode='probe'``): defaults, the official recipes, validation.

Experiment files (``experiments/probe/*.py``) call ``official_probe_recipe`` or
``probe_config()`` and override what they change; the result is locked, so a
misspelled field is an error. ``validate(config, ...)`` lists every problem
with what to change.

Official recipes (``configs/evals/vit*_{k400_16x8x3,ssv2_16x2x3,in1k,places,inat}.yaml``
of the V-JEPA repository):

=========  =======  ================  =========  =====  ============  ======
task       classes  clips             frame st.  batch  weight decay  epochs
=========  =======  ================  =========  =====  ============  ======
k400       400      16 x 8 seg x 3 v  4          256    0.01          20
ssv2       174      16 x 2 seg x 3 v  4          256    0.01          20
in1k       1000     image             -          1024   0.001         20
places205  205      image             -          1024   0.001         20
inat21     10000    image             -          1024   0.001         20
=========  =======  ================  =========  =====  ============  ======

All: the target encoder, depth-1 attentive probe, lr 1e-3 (start 1e-3, no
warmup) cosine to 0, weight decay cosine to 1e-6, clip 1.0, bfloat16; videos
attend across segments; batch = per-GPU batch (4 videos / 16 images) x 64 GPUs;
crop 224 (384 for the H/16-384 encoder). Images are repeated to 16 frames.
"""

from __future__ import annotations

import os

import jax
import ml_collections

from vjepa_jax import sharding
from vjepa_jax.config_lib import index_file_problems, mesh_spec_problem
from vjepa_jax.errors import config_problems
from vjepa_jax.evaluation.probe import ProbeConfig
from vjepa_jax.evaluation.video_data import EVAL_WINDOWS, ProbeClipConfig
from vjepa_jax.input.images import PROBE_DATASETS
from vjepa_jax.models.builder import DTYPES

ConfigDict = ml_collections.ConfigDict

DATA_KINDS = ('video', 'image')
ENCODER_DTYPES = ('auto', *DTYPES)

# Official encoders: (crop size, heads of the official width) by size argument.
OFFICIAL_ENCODERS = {'L/16': (224, 16), 'H/16': (224, 16), 'H/16_384': (384, 16)}

# task -> (data kind, classes, segments, views, global batch, weight decay)
OFFICIAL_TASKS = {
    'k400': ('video', 400, 8, 3, 256, 0.01),
    'ssv2': ('video', 174, 2, 3, 256, 0.01),
    'in1k': ('image', 1000, 1, 1, 1024, 0.001),
    'places205': ('image', 205, 1, 1, 1024, 0.001),
    'inat21': ('image', 10000, 1, 1, 1024, 0.001),
}


def probe_config() -> ConfigDict:
    """Defaults: the official ViT-L/16 K400 16x8x3 probe (unlocked; experiment files lock it)."""
    c = ConfigDict()
    c.mode = 'probe'
    c.seed = 0
    c.encoder = ConfigDict({
        'checkpoint': '',          # official .pth.tar, our model dir, or a pretraining workdir
        'which': 'target_encoder',  # or 'encoder' (the online encoder)
        'dtype': 'auto',           # auto: bfloat16 on accelerators, float32 on CPU
        'random_init': False,      # same architecture, freshly initialised (a baseline)
        'num_heads': 0,            # official .pth.tar only: 0 = the official value
        'num_frames': 16,          # official .pth.tar only: the clip length it was built for
    })
    c.data = ConfigDict({
        'kind': 'video',           # 'video' (index files) or 'image' (TFDS)
        'num_classes': 400,
        'train_index': ('',),      # official format: "/path/video.mp4 label" per line
        'val_index': ('',),
        'frames_per_clip': 16,
        'frame_step': 4,
        'num_segments': 8,
        'num_views_per_segment': 3,
        'crop_size': 224,
        'random_resize_scale': (0.08, 1.0),
        'auto_augment': True,      # RandAugment m7-n4 (videos)
        'reprob': 0.25,            # random erasing
        'eval_window': 'centre',   # temporal windows of the evaluation clips
        'dataset': '',             # images: in1k / places365 / inat21 (images.PROBE_DATASETS)
        'data_dir': '',            # images: TFDS data_dir ('' = TFDS default)
        'num_workers': 0,
        'read_threads': 0,         # 0 = default (2 in process, 1 per worker)
    })
    c.batch_size = 256             # global videos (or images) per step
    c.eval_batch_size = 0          # 0 = batch_size
    c.optimizer = ConfigDict({
        'num_epochs': 20.0,
        'lrs': (1e-3,),            # one probe per (lr, weight decay): the grid
        'weight_decays': (0.01,),
        'start_lr_factor': 1.0,    # start lr = factor x lr (official: start_lr == lr)
        'final_lr': 0.0,
        'final_weight_decay': 1e-6,
        'warmup_epochs': 0.0,
        'clip_grad': 1.0,
        'betas': (0.9, 0.999),
        'eps': 1e-8,
    })
    c.probe = ConfigDict({'depth': 1, 'attend_across_segments': True})
    c.mesh = (('data', -1), ('fsdp', 1), ('tensor', 1))
    c.sharding_rules = tuple(tuple(rule) for rule in sharding.DEFAULT_RULES)
    c.checkpoint = ConfigDict({'every_epochs': 1, 'keep': 2, 'async_save': True})
    c.log_every = 20
    c.eval_every_epochs = 1        # 0: evaluate after the last epoch only
    return c


# The ``grid`` option of the experiment files: lr x (official wd x factor), 9 probes.
GRID_LRS = (3e-4, 1e-3, 3e-3)
GRID_WD_FACTORS = (0.1, 1.0, 10.0)


def official_probe_recipe(task: str, encoder_size: str, checkpoint: str, data: str, *,
                          grid: bool = False, workers: int = 0) -> ConfigDict:
    """The official probe of ``task`` (``OFFICIAL_TASKS``) for an official encoder size.

    ``data``: folder with ``train.csv`` / ``val.csv`` (videos) or the TFDS
    data_dir ('' = TFDS default; images). ``grid``: train the 3 x 3 grid
    ``GRID_LRS x (GRID_WD_FACTORS x official wd)`` on the same features instead
    of the single official probe. ``workers``: decoding processes per host.
    """
    if task not in OFFICIAL_TASKS:
        raise ValueError(f'Unknown probe task {task!r}; known: {sorted(OFFICIAL_TASKS)}.')
    if encoder_size not in OFFICIAL_ENCODERS:
        raise ValueError(f'size={encoder_size!r}: use one of {sorted(OFFICIAL_ENCODERS)}.')
    kind, classes, segments, views, batch, wd = OFFICIAL_TASKS[task]
    crop, _ = OFFICIAL_ENCODERS[encoder_size]
    c = probe_config()
    c.encoder.checkpoint = checkpoint
    c.data.update({'kind': kind, 'num_classes': classes, 'num_segments': segments,
                   'num_views_per_segment': views, 'crop_size': crop})
    if kind == 'video':
        c.data.train_index = (os.path.join(data, 'train.csv'),)
        c.data.val_index = (os.path.join(data, 'val.csv'),)
    else:
        # Places205 is not in TFDS; places365_small is the nearest (images.py).
        c.data.dataset = {'places205': 'places365'}.get(task, task)
        c.data.data_dir = data
        c.data.num_classes = PROBE_DATASETS[c.data.dataset].num_classes
    c.batch_size = batch
    c.optimizer.weight_decays = (wd,)
    if grid:
        c.optimizer.lrs = GRID_LRS
        c.optimizer.weight_decays = tuple(wd * f for f in GRID_WD_FACTORS)
    c.data.num_workers = workers
    return c


def encoder_dtype(name: str) -> str:
    """``'auto'`` -> bfloat16 on accelerators, float32 on CPU; other names unchanged."""
    if name == 'auto':
        return 'float32' if jax.default_backend() == 'cpu' else 'bfloat16'
    return name


def clip_config(config: ConfigDict) -> ProbeClipConfig:
    """The video clip protocol of ``config.data`` / ``config.probe``."""
    d = config.data
    return ProbeClipConfig(
        frames_per_clip=d.frames_per_clip, frame_step=d.frame_step,
        num_segments=d.num_segments, num_views_per_segment=d.num_views_per_segment,
        crop_size=d.crop_size, attend_across_segments=config.probe.attend_across_segments,
        random_resize_scale=tuple(d.random_resize_scale), auto_augment=d.auto_augment,
        reprob=d.reprob, eval_window=d.eval_window)


def optimizer_config(config: ConfigDict) -> ProbeConfig:
    """The probe grid's training recipe (``probe.ProbeConfig``) of ``config``."""
    o = config.optimizer
    return ProbeConfig(
        num_epochs=o.num_epochs, lrs=tuple(o.lrs), weight_decays=tuple(o.weight_decays),
        start_lr_factor=o.start_lr_factor, final_lr=o.final_lr,
        final_weight_decay=o.final_weight_decay, warmup_epochs=o.warmup_epochs,
        clip_grad=o.clip_grad or None, betas=tuple(o.betas), eps=o.eps,
        attend_across_segments=config.probe.attend_across_segments,
        depth=config.probe.depth, seed=config.seed, log_every=config.log_every,
        eval_every_epochs=config.eval_every_epochs)


def validate(config: ConfigDict, num_devices: int, process_count: int = 1) -> None:
    """Raises one ``ConfigError`` with every problem found, each saying what to change."""
    problems = []
    e, d = config.encoder, config.data
    if not e.checkpoint:
        problems.append('encoder.checkpoint is empty: give an official .pth.tar, a converted '
                        'model directory or a pretraining workdir.')
    elif not os.path.exists(e.checkpoint):
        problems.append(f'encoder.checkpoint: {e.checkpoint} does not exist.')
    if e.dtype not in ENCODER_DTYPES:
        problems.append(f'encoder.dtype {e.dtype!r} is not one of {list(ENCODER_DTYPES)}.')
    if d.kind not in DATA_KINDS:
        problems.append(f'data.kind {d.kind!r} is not one of {list(DATA_KINDS)}.')
    if d.num_classes < 2:
        problems.append(f'data.num_classes must be >= 2, got {d.num_classes}.')
    if d.kind == 'video':
        for key in ('train_index', 'val_index'):
            problems += index_file_problems(f'data.{key}', d[key])
            files = [f for f in d[key] if f and isinstance(f, str)]
            if not files:
                problems.append(f'data.{key} is empty: give index files ("/path/video.mp4 '
                                '<label>" per line).')
            problems += [f'data.{key}: {f} does not exist.' for f in files
                         if not os.path.isfile(f)]
        if d.eval_window not in EVAL_WINDOWS:
            problems.append(f'data.eval_window {d.eval_window!r} is not one of '
                            f'{list(EVAL_WINDOWS)}.')
        for key in ('frames_per_clip', 'frame_step', 'num_segments', 'num_views_per_segment'):
            if d[key] < 1:
                problems.append(f'data.{key} must be >= 1, got {d[key]}.')
    elif d.kind == 'image' and d.dataset not in PROBE_DATASETS:
        problems.append(f'data.dataset {d.dataset!r} is not one of {sorted(PROBE_DATASETS)}.')
    if not config.optimizer.lrs or not config.optimizer.weight_decays:
        problems.append('optimizer.lrs and optimizer.weight_decays need at least one value '
                        'each (the probe grid is their product).')
    if config.optimizer.num_epochs <= 0:
        problems.append(f'optimizer.num_epochs must be > 0, got {config.optimizer.num_epochs}.')
    mesh_problem = mesh_spec_problem(config.mesh)
    try:
        if mesh_problem:
            raise ValueError(mesh_problem)
        ways, sizes = sharding.planned_batch_split(
            config.mesh, sharding.rules_from_config(config.sharding_rules), num_devices)
    except ValueError as err:
        problems.append(mesh_problem or f'mesh: {err}')
    else:
        for key in ('batch_size', 'eval_batch_size'):
            value = config[key] or config.batch_size
            if value < 1 or value % ways or value % process_count:
                problems.append(f'{key} {value} must be a positive multiple of the '
                                f'data-parallel size {ways} (mesh {sizes}) and of the '
                                f'{process_count} processes.')
    if config.checkpoint.every_epochs < 1:
        problems.append('checkpoint.every_epochs must be >= 1.')
    if config.log_every < 1:
        problems.append('log_every must be >= 1.')
    config_problems(problems)

"""Every experiment file builds, is locked, and describes a model and masks that build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.helpers.cli_runs import experiment_config
from vjepa_jax.checkpointing import CheckpointPolicy
from vjepa_jax.errors import ConfigError
from vjepa_jax.evaluation import config as probe_config_lib
from vjepa_jax.input.pipeline import ClipConfig
from vjepa_jax.masks import build_mask_samplers
from vjepa_jax.models.builder import ModelConfig, PredictorConfig, build_jepa_models
from vjepa_jax.train import config as config_lib
from vjepa_jax.train.losses import LossConfig
from vjepa_jax.train.optimizer import OptimizerConfig

EXPERIMENTS = Path(__file__).resolve().parents[2] / 'experiments'
FILES = sorted(EXPERIMENTS.glob('**/*.py'))
PRETRAIN_FILES = [p for p in FILES if p.parent.name == 'pretrain']
PROBE_FILES = [p for p in FILES if p.parent.name == 'probe']


load = experiment_config


def test_there_are_experiment_files():
    names = {p.relative_to(EXPERIMENTS).as_posix() for p in FILES}
    assert {'pretrain/tiny.py', 'pretrain/vitl16.py', 'pretrain/vith16.py',
            'pretrain/vith16_384.py', 'probe/k400.py', 'probe/ssv2.py', 'probe/in1k.py',
            'probe/places205.py', 'probe/inat21.py', 'probe/tiny.py'} <= names
    assert set(FILES) == set(PRETRAIN_FILES) | set(PROBE_FILES)


@pytest.mark.parametrize('path', PRETRAIN_FILES,
                         ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_experiment_builds(path):
    config = load(path)
    assert config.is_locked
    with pytest.raises(AttributeError):
        config.batch_sizee = 1  # a misspelled field is an error
    assert path.read_text().lstrip().startswith('"""')  # says what it reproduces
    encoder, predictor = build_jepa_models(config.model)
    samplers = build_mask_samplers(config.masks, num_frames=config.model.num_frames,
                                   crop_size=config.model.crop_size,
                                   patch_size=encoder.patch_size,
                                   tubelet_size=encoder.tubelet_size)
    if config.model.family == 'vjepa2':  # a mask token per (mask set, group); official:
        # per (mask set, dataset), so 2 x 3 = 6 for the released recipes
        assert predictor.num_mask_tokens >= len(samplers) * len(config_lib.frame_groups(config))
    else:
        assert len(samplers) == predictor.num_mask_tokens == 2
    # On the official job sizes (128 GPUs; 240 for 384 px) the only complaint
    # about an official recipe is the missing data (and, for a cooldown, the
    # checkpoint to start from); the CPU configs fit 1 device.
    devices = {'tiny': 1, 'physics': 1, 'vjepa2_tiny': 1, 'vith16_384': 240}.get(path.stem, 128)
    try:
        config_lib.validate(config, devices)
    except ValueError as e:
        problems = str(e).splitlines()[1:]
        expected = ('index_files', 'init_optimizer_state needs init_from')
        assert all(any(x in p for x in expected) for p in problems), problems


def test_official_recipes_match_the_official_configs():
    for name, variant, crop, batch in (('vitl16', 'L/16', 224, 3072),
                                       ('vith16', 'H/16', 224, 3072),
                                       ('vith16_384', 'H/16', 384, 2400)):
        c = load(EXPERIMENTS / 'pretrain' / f'{name}.py')
        assert (c.model.variant, c.model.crop_size, c.batch_size) == (variant, crop, batch)
        assert (c.model.predictor.embed_dim, c.model.predictor.depth) == (384, 12)
        assert config_lib.num_steps(c) == 90_000
        o = c.optimizer
        assert (o.warmup_epochs, o.start_lr, o.lr, o.final_lr) == (40, 2e-4, 6.25e-4, 1e-6)
        assert (o.weight_decay, o.final_weight_decay, tuple(o.ema)) == (0.04, 0.4, (0.998, 1.0))
        assert (o.ipe_scale, o.clip_grad, c.model.dtype) == (1.25, 10.0, 'bfloat16')
        assert c.data.frame_step == 4 and len(c.data.index_files) == 3


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize('path', PRETRAIN_FILES,
                         ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_sections_are_the_keyword_arguments_of_their_objects(path):
    c = load(path)
    assert set(c.model) == _fields(ModelConfig)
    assert set(c.model.predictor) == _fields(PredictorConfig)
    assert set(c.data) | {'frames_per_clip', 'crop_size'} == _fields(ClipConfig)
    assert set(c.optimizer) == _fields(OptimizerConfig)
    assert set(c.loss) == _fields(LossConfig)
    assert set(c.checkpoint) == _fields(CheckpointPolicy)
    sections = config_lib.build(c)
    assert sections.data.frames_per_clip == c.model.num_frames
    assert sections.data.crop_size == c.model.crop_size
    assert sections.num_steps == config_lib.num_steps(c)


def test_every_problem_of_every_section_is_reported_at_once(tmp_path):
    c = load(EXPERIMENTS / 'pretrain' / 'tiny.py', f'data={tmp_path}')
    c.unlock()
    c.model.variant = 'w30d2h4/8'  # 30 wide, 4 heads
    c.model.predictor.num_mask_tokens = 0
    c.data.flip_prob = 1.5
    c.data.weights = (0.5, 0.5)
    c.optimizer.clip_grad = -1.0
    c.optimizer.betas = (0.9, 1.5)
    c.loss.loss_exp = 0.0
    c.checkpoint.every_steps = 0
    c.init_from = str(tmp_path / 'nowhere')
    with pytest.raises(ConfigError) as err:
        config_lib.validate(c, num_devices=1)
    problems = str(err.value).splitlines()[1:]
    expected = ('model.variant', 'model.predictor.num_mask_tokens', 'data.flip_prob',
                'data.weights has 2 entries for 1', 'optimizer.clip_grad', 'optimizer.betas',
                'loss.loss_exp', 'checkpoint.every_steps', 'init_from:',
                'data.index_files: ')
    for what in expected:
        assert sum(what in p for p in problems) == 1, (what, problems)
    assert len(problems) == len(expected)


def test_a_section_object_checks_itself():
    with pytest.raises(ConfigError, match='data.flip_prob 2'):
        ClipConfig(flip_prob=2)
    with pytest.raises(ConfigError, match='is not divisible by 4 heads'):
        ModelConfig(variant='w32d2h4/8', predictor={'embed_dim': 10, 'num_heads': None})
    model = ModelConfig(variant='w32d2h4/8', predictor={'embed_dim': 16})
    assert model.predictor == PredictorConfig(embed_dim=16)
    assert model.build()[1].num_heads == 4  # None: the encoder's heads
    assert OptimizerConfig().total_steps == 90_000  # the defaults are the official recipe


def test_arguments_reach_the_config():
    c = load(EXPERIMENTS / 'pretrain' / 'vitl16.py', 'data=/x,fsdp=4,remat=full')
    assert c.data.index_files[0].startswith('/x/') and c.mesh[1] == ('fsdp', 4)
    assert c.model.remat_policy == 'full'
    with pytest.raises(ValueError, match='Unknown config argument'):
        load(EXPERIMENTS / 'pretrain' / 'vitl16.py', 'dta=/x')


def test_validation_messages_say_what_to_change(tmp_path):
    c = load(EXPERIMENTS / 'pretrain' / 'tiny.py', f'data={tmp_path}')
    c.unlock()
    c.model.crop_size = 36
    c.model.num_frames = 7
    c.batch_size = 6
    c.mesh = [('data', 4), ('fsdp', 1), ('tensor', 1)]
    with pytest.raises(ValueError) as err:
        config_lib.validate(c, num_devices=8)
    text = str(err.value)
    assert 'crop_size 36 is not divisible by the patch size 8' in text
    assert 'num_frames 7 is not divisible by model.tubelet_size 2' in text
    assert 'needs 4 devices but 8 are available' in text
    assert f'{tmp_path}/train.csv does not exist' in text
    c.mesh = [('data', -1), ('fsdp', 1), ('tensor', 1)]
    with pytest.raises(ValueError, match='batch_size 6 is not divisible by the data-parallel'):
        config_lib.validate(c, num_devices=4)


@pytest.mark.parametrize('path', PROBE_FILES, ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_probe_experiment_builds(path, tmp_path):
    config = load(path)
    assert config.is_locked and config.mode == 'probe'
    with pytest.raises(AttributeError):
        config.optimizer.lrr = 1.0
    assert path.read_text().lstrip().startswith('"""')
    # With a checkpoint and data that exist, the official recipes on 64 devices
    # and the tiny one on 1 validate.
    config.unlock()
    config.encoder.checkpoint = str(tmp_path)
    if config.data.kind == 'video':
        for key in ('train_index', 'val_index'):
            index = tmp_path / f'{key}.csv'
            index.write_text('/v.mp4 0\n')
            config.data[key] = (str(index),)
    probe_config_lib.validate(config, 1 if path.stem == 'tiny' else 64)
    if path.stem != 'tiny':  # as written, only the checkpoint and the data are missing
        with pytest.raises(ConfigError) as err:
            probe_config_lib.validate(load(path), 64)
        problems = str(err.value).splitlines()[1:]
        assert 'encoder.checkpoint is not set' in problems[0]
        assert all('_index: /data/' in p for p in problems[1:]), problems


def test_official_probe_recipes_match_the_official_configs():
    for task, classes, segments, batch, wd, kind in (('k400', 400, 8, 256, 0.01, 'video'),
                                                     ('ssv2', 174, 2, 256, 0.01, 'video'),
                                                     ('in1k', 1000, 1, 1024, 0.001, 'image'),
                                                     ('inat21', 10000, 1, 1024, 0.001, 'image')):
        c = load(EXPERIMENTS / 'probe' / f'{task}.py')
        assert (c.data.kind, c.data.num_classes, c.batch_size) == (kind, classes, batch)
        assert tuple(c.optimizer.weight_decays) == (wd,) and tuple(c.optimizer.lrs) == (1e-3,)
        o = c.optimizer
        assert (o.num_epochs, o.start_lr_factor, o.final_lr, o.final_weight_decay,
                o.warmup_epochs, o.clip_grad) == (20, 1.0, 0.0, 1e-6, 0.0, 1.0)
        assert (c.encoder.which, c.probe.depth, c.clip.attend_across_segments) == (
            'target_encoder', 1, True)
        assert c.clip.crop_size == 224
        if kind == 'video':
            assert (c.clip.num_segments, c.clip.num_views_per_segment, c.clip.frames_per_clip,
                    c.clip.frame_step) == (segments, 3, 16, 4)
    places = load(EXPERIMENTS / 'probe' / 'places205.py')
    assert places.data.dataset == 'places365' and places.data.num_classes == 365
    big = load(EXPERIMENTS / 'probe' / 'k400.py', 'size=H/16_384,grid,checkpoint=/c.pth.tar')
    assert big.clip.crop_size == 384 and big.encoder.checkpoint == '/c.pth.tar'
    assert len(big.optimizer.lrs) * len(big.optimizer.weight_decays) == 9
    assert big.optimizer.weight_decays == pytest.approx((0.001, 0.01, 0.1))
    with pytest.raises(ConfigError, match='size='):
        load(EXPERIMENTS / 'probe' / 'k400.py', 'size=B/16')

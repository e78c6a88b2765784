"""Every experiment file builds, is locked, and describes a model and masks that build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vjepa_jax.masks import build_mask_samplers
from vjepa_jax.models.builder import build_jepa_models
from vjepa_jax.train import config as config_lib

EXPERIMENTS = Path(__file__).resolve().parents[2] / 'experiments'
FILES = sorted(EXPERIMENTS.glob('**/*.py'))


def load(path: Path, arg: str | None = None):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def test_there_are_experiment_files():
    names = {p.relative_to(EXPERIMENTS).as_posix() for p in FILES}
    assert {'pretrain/tiny.py', 'pretrain/vitl16.py', 'pretrain/vith16.py',
            'pretrain/vith16_384.py'} <= names


@pytest.mark.parametrize('path', FILES, ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
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
    assert len(samplers) == predictor.num_mask_tokens == 2
    # On the official job sizes (128 GPUs; 240 for 384 px) the only complaint
    # about an official recipe is the missing data; the tiny config fits 1 device.
    devices = {'tiny': 1, 'vith16_384': 240}.get(path.stem, 128)
    try:
        config_lib.validate(config, devices)
    except ValueError as e:
        problems = str(e).splitlines()[1:]
        assert all('index_files' in p for p in problems), problems


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

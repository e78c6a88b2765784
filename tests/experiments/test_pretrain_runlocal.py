"""Every pretraining experiment file runs, shrunk by ``runlocal``, for 2 steps on the 8 test devices.

``runlocal`` keeps each recipe's code path (layer scan, remat policy, compute
dtype, mask sets, clipping, EMA, checkpointing) and swaps in a micro model and
the synthetic videos. The three official recipes shrink to the same run, so
the always-on test (``integration``: a whole job, left out of ``make test-fast``)
runs ViT-L/16 (about 45 s of one CPU core) and checks the other two shrink to
exactly that config; running them, and tiny.py, is ``@pytest.mark.slow``.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.helpers.cli_runs import experiment_config, write_videos
from tests.helpers.paths import REPO
from vjepa_jax.train.loop import run_pretraining

PRETRAIN = REPO / 'experiments' / 'pretrain'
OFFICIAL = ('vitl16', 'vith16', 'vith16_384')


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return write_videos(tmp_path_factory.mktemp('synthetic'), num_train=8, num_val=2)


def _runlocal(name: str, videos) -> object:
    return experiment_config(PRETRAIN / f'{name}.py', f'runlocal,data={videos}')


def _run_two_steps(name, videos, tmp_path):
    config = _runlocal(name, videos)
    assert config.is_locked
    result = run_pretraining(config, tmp_path / name)
    assert result['step'] == 2 and not result['preempted']
    assert (tmp_path / name / 'checkpoints' / '2').is_dir()
    lines = [json.loads(line) for line in
             (tmp_path / name / 'metrics.jsonl').read_text().splitlines()]
    assert [d['step'] for d in lines] == [1, 2]
    assert all(math.isfinite(d['loss']) and d['loss'] > 0 for d in lines)
    return config


# tiny.py's own path is what tests/train/test_pretrain_runs.py runs through the CLI.
@pytest.mark.integration  # a whole pretraining job
@pytest.mark.parametrize('name', ['vitl16', pytest.param('tiny', marks=pytest.mark.slow)])
def test_experiment_runs_two_steps_at_runlocal(name, videos, tmp_path):
    config = _run_two_steps(name, videos, tmp_path)
    recipe = experiment_config(PRETRAIN / f'{name}.py')
    # The same code path: what decides it is the recipe's, not the shrink's.
    for field in ('scan_layers', 'remat_policy', 'dtype', 'uniform_power', 'tubelet_size'):
        assert config.model[field] == recipe.model[field], field
    assert config.masks == recipe.masks and config.seed == recipe.seed
    assert config.optimizer.clip_grad == recipe.optimizer.clip_grad


def test_official_recipes_shrink_to_one_run(videos):
    shrunk = [_runlocal(name, videos).to_dict() for name in OFFICIAL]
    assert shrunk[1] == shrunk[0] and shrunk[2] == shrunk[0]


@pytest.mark.slow
@pytest.mark.parametrize('name', ['vith16', 'vith16_384'])
def test_large_recipes_run_two_steps_at_runlocal(name, videos, tmp_path):
    _run_two_steps(name, videos, tmp_path)


VJEPA2_PRETRAIN = ('vjepa2_vitl16', 'vjepa2_vith16', 'vjepa2_vitg16')
VJEPA2_COOLDOWN = ('vjepa2_vitl16_cooldown', 'vjepa2_vith16_cooldown', 'vjepa2_vitg16_cooldown',
                   'vjepa2_vitg16_cooldown_384')


# The cooldown's runlocal differs only by its lr schedule (test_vjepa2_recipes_shrink...);
# its init_optimizer_state path runs in tests/train/test_vjepa2_pretrain_run.py.
@pytest.mark.integration  # a whole job, like its V-JEPA 1 sibling
@pytest.mark.parametrize('name', ['vjepa2_vitl16'])
def test_vjepa2_experiment_runs_two_steps_at_runlocal(name, videos, tmp_path):
    config = _run_two_steps(name, videos, tmp_path)
    recipe = experiment_config(PRETRAIN / f'{name}.py')
    for field in ('family', 'scan_layers', 'remat_policy', 'dtype', 'tubelet_size'):
        assert config.model[field] == recipe.model[field], field
    assert config.optimizer.lr_schedule == recipe.optimizer.lr_schedule
    assert config.optimizer.clip_grad is None and config.optimizer.ema == (0.99925, 0.99925)


def test_vjepa2_recipes_shrink_to_two_runs(videos):
    runs = []
    for names in (VJEPA2_PRETRAIN, VJEPA2_COOLDOWN):
        shrunk = [_runlocal(name, videos).to_dict() for name in names]
        assert all(s == shrunk[0] for s in shrunk[1:]), names
        runs.append(shrunk[0])
    pretrain, cooldown = runs
    assert pretrain['optimizer'].pop('lr_schedule') == 'warmup_cosine'
    assert cooldown['optimizer'].pop('lr_schedule') == 'linear_decay'
    for run in runs:  # the phases' own values; the rest of the shrunk run is shared
        for key in ('warmup_epochs', 'start_lr', 'final_lr'):
            run['optimizer'].pop(key)
    assert pretrain == cooldown


def test_vjepa2_recipes_state_the_official_values():
    """The values of facebookresearch/vjepa2 configs/train/*/{pretrain,cooldown}-*.yaml."""
    expected = {  # variant, crop, frames, epochs, ipe, schedule, final lr
        'vjepa2_vitl16': ('L/16', 256, 16, 10, 300, 'warmup_cosine', 5.25e-4),
        'vjepa2_vith16': ('H/16', 256, 16, 10, 300, 'warmup_cosine', 5.25e-4),
        'vjepa2_vitg16': ('g/16', 256, 16, 800, 300, 'warmup_cosine', 5.25e-4),
        'vjepa2_vitl16_cooldown': ('L/16', 256, 64, 40, 300, 'linear_decay', 1e-6),
        'vjepa2_vith16_cooldown': ('H/16', 256, 64, 40, 300, 'linear_decay', 1e-6),
        'vjepa2_vitg16_cooldown': ('g/16', 256, 64, 4, 30, 'linear_decay', 1e-6),
        'vjepa2_vitg16_cooldown_384': ('g/16', 384, 64, 40, 300, 'linear_decay', 1e-6),
    }
    for name, (variant, crop, frames, epochs, ipe, schedule, final) in expected.items():
        c = experiment_config(PRETRAIN / f'{name}.py')
        o = c.optimizer
        assert (c.model.variant, c.model.crop_size, c.model.num_frames) == (variant, crop, frames)
        assert (o.num_epochs, o.steps_per_epoch, o.lr_schedule, o.final_lr) == \
            (epochs, ipe, schedule, final), name
        assert (c.batch_size, c.seed, o.lr, o.weight_decay, o.final_weight_decay) == \
            (3072, 239, 5.25e-4, 0.04, 0.04)
        assert c.init_optimizer_state == (schedule == 'linear_decay')
        assert c.model.predictor.num_mask_tokens == 6

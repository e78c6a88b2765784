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

"""A V-JEPA 2 pretraining run end to end: two frames-per-clip groups, resume, load, export, cooldown.

``experiments/pretrain/vjepa2_tiny.py:runlocal`` (the tiny recipe's two groups
of 4 and 2 frames, 8 clips each, micro model) trains for 2 steps; the same run stopped after
step 1 and resumed must end bitwise equal; the workdir loads through
``vjepa_jax.load`` as a V-JEPA 2 model, exports to the official ``.pt`` layout
and reads back exactly; a cooldown started from it continues its Adam moments.
"""

from __future__ import annotations

import shutil

import jax
import numpy as np
import optax
import pytest

from tests.helpers.cli_runs import experiment_config, write_videos
from tests.helpers.paths import REPO
from vjepa_jax.errors import ConfigError
from vjepa_jax.train import config as config_lib
from vjepa_jax.train.loop import run_pretraining

TINY = REPO / 'experiments' / 'pretrain' / 'vjepa2_tiny.py'
pytestmark = pytest.mark.integration  # whole training jobs


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return write_videos(tmp_path_factory.mktemp('synthetic'), num_train=8, num_val=2)


def _config(videos, **top):
    config = experiment_config(TINY, f'runlocal,data={videos}')
    if top:
        config.unlock()
        for key, value in top.items():
            if key.startswith('optimizer.'):
                config.optimizer[key.split('.', 1)[1]] = value
            else:
                config[key] = value
        config.lock()
    return config


@pytest.fixture(scope='module')
def full_run(videos, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('v2full')
    return run_pretraining(_config(videos), workdir), workdir


def _leaves(state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]


def test_two_groups_train_and_resume_bitwise(full_run, videos, tmp_path):
    result, workdir = full_run
    assert result['step'] == 2
    # The run as if killed after step 1: its workdir without the step-2 checkpoint.
    shutil.copytree(workdir, tmp_path / 'run')
    shutil.rmtree(tmp_path / 'run' / 'checkpoints' / '2')
    resumed = run_pretraining(_config(videos), tmp_path / 'run')
    assert resumed['started_from'].endswith('checkpoints/1')
    for a, b in zip(_leaves(result['state']), _leaves(resumed['state']), strict=True):
        np.testing.assert_array_equal(a, b)
    tokens = np.asarray(result['state'].params['predictor']['mask_tokens'])
    # 2 mask sets x 2 groups, mask_index = group: tokens 0 and 1 train, 2 and 3 stay zero.
    assert [bool(np.any(t != 0)) for t in tokens] == [True, True, False, False]


def test_workdir_loads_as_vjepa2_and_exports_to_the_official_layout(full_run, tmp_path):
    from vjepa_jax import load
    from vjepa_jax.convert import vjepa2_formats
    from vjepa_jax.tools import convert

    _, workdir = full_run
    model = load(workdir)
    assert model.family == 'vjepa2'
    clip = np.zeros((1, 4, 32, 32, 3), np.uint8)
    assert model.encode(clip).shape == (1, 2 * 4 * 4, 32)
    everything = load(workdir, all_params=True)
    out = tmp_path / 'vjepa2_tiny.pt'
    assert convert.main(['export', str(workdir), str(out)]) == 0
    _, back, _ = vjepa2_formats.PRETRAINING_PT.read(out, img_size=32, num_frames=4, num_heads=2,
                                                    predictor_num_heads=2)
    for name in ('encoder', 'predictor', 'target_encoder'):
        for a, b in zip(jax.tree_util.tree_leaves(everything.params[name]),
                        jax.tree_util.tree_leaves(back[name]), strict=True):
            np.testing.assert_array_equal(np.asarray(a), b)


def test_cooldown_continues_the_adam_moments(full_run, videos, tmp_path):
    _, workdir = full_run
    cooldown = experiment_config(REPO / 'experiments' / 'pretrain' / 'vjepa2_vitl16_cooldown.py',
                                 f'runlocal,data={videos}')
    assert cooldown.optimizer.lr_schedule == 'linear_decay' and cooldown.init_from is None
    config = _config(videos, init_from=str(workdir), init_optimizer_state=True)
    result = run_pretraining(config, tmp_path)
    assert 'Adam moments' in result['started_from']

    def adam(state):
        return next(s for s in state.opt_state if isinstance(s, optax.ScaleByAdamState))

    assert int(adam(result['state']).count) == 4  # 2 pretraining updates + 2
    assert int(result['state'].step) == 2         # the schedules restarted at 0


def test_frame_group_mistakes_are_config_errors(videos):
    config = _config(videos)
    config.unlock()
    config.frame_groups = ((4, 8), (2, 7))
    with pytest.raises(ConfigError, match='hold 15 clips per step but batch_size is 16'):
        config_lib.validate(config, num_devices=1)
    config.frame_groups = ((6, 16),)
    with pytest.raises(ConfigError, match='6 frames must be in'):
        config_lib.validate(config, num_devices=1)
    config.frame_groups = ((4, 8), (2, 8))
    config.model.family = 'vjepa'
    with pytest.raises(ConfigError, match='frame_groups is a V-JEPA 2 feature'):
        config_lib.validate(config, num_devices=1)

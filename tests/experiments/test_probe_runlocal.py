"""Every official probe experiment file runs its own job for 2 steps at ``:runlocal``.

Tiny synthetic data (8 train / 8 val videos; stand-in TFDS copies of the image
datasets from data/make_tiny_image_datasets.py) and the official test-fixture
encoder (width 104, depth 3) keep each run to a few seconds on CPU; the code
path is the command line's (``evaluation.job.run_probe_job``).
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers.checkpoints import official_file
from tests.helpers.cli_runs import experiment_config, write_videos
from tests.helpers.paths import REPO
from tests.helpers.vjepa2_checkpoints import write_hf_dir
from vjepa_jax.evaluation import job
from vjepa_jax.recipe_parts import probe as probe_parts

PROBES = REPO / 'experiments' / 'probe'
OFFICIAL = {'k400': 400, 'ssv2': 174, 'in1k': 1000, 'places205': 365, 'inat21': 10000}
# Always on: one video file (segments x views) and one image file (TFDS reading); the
# others differ from these only in their recipe's values (about 10 s of CPU each).
FAST = ('k400', 'in1k')
# V-JEPA 2 recipes, on a tiny V-JEPA 2 encoder written in the test (HF layout: no options).
VJEPA2 = {'vjepa2_diving48': 48, 'vjepa2_ssv2': 174}
VJEPA2_FAST = ('vjepa2_diving48',)  # multilevel features and the V-JEPA 2 probe head


def _stand_in_images(out):
    spec = importlib.util.spec_from_file_location('tiny_images', REPO / 'data' /
                                                  'make_tiny_image_datasets.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_datasets(out, num_examples=probe_parts.RUNLOCAL_BATCH)


@pytest.fixture(scope='module')
def local_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('runlocal')
    videos = write_videos(root / 'videos', num_train=probe_parts.RUNLOCAL_BATCH, num_val=8,
                          size=32, frames=16, seed=2)
    return {'video': videos, 'image': _stand_in_images(root / 'tfds')}


def _flat(config, prefix=''):
    out = {}
    for key, value in config.items():
        if hasattr(value, 'items'):
            out.update(_flat(value, f'{prefix}{key}.'))
        else:
            out[prefix + key] = value
    return out


def test_runlocal_only_shrinks_sizes():
    shrunk = {'encoder.dtype', 'clip.frames_per_clip', 'clip.frame_step', 'clip.crop_size',
              'clip.num_segments', 'clip.num_views_per_segment', 'batch_size',
              'eval_batch_size', 'optimizer.num_epochs', 'data.num_workers',
              'data.read_threads', 'log_every', 'encoder.out_layers'}
    for task in (*OFFICIAL, *VJEPA2):
        full = _flat(experiment_config(PROBES / f'{task}.py', 'data=/d'))
        local = _flat(experiment_config(PROBES / f'{task}.py', 'data=/d,runlocal'))
        assert set(full) == set(local)
        changed = {k for k in full if full[k] != local[k]}
        assert changed <= shrunk, changed - shrunk
        assert local['batch_size'] == 8 and local['clip.crop_size'] == 32
    # Without data=, runlocal finds the local synthetic data.
    k400 = experiment_config(PROBES / 'k400.py', 'runlocal')
    assert k400.data.train_index == (f'{probe_parts.RUNLOCAL_VIDEOS}/train.csv',)
    assert experiment_config(PROBES / 'in1k.py', 'runlocal').data.data_dir == (
        probe_parts.RUNLOCAL_IMAGES)


@pytest.mark.integration
@pytest.mark.parametrize('task', [t if t in FAST else pytest.param(t, marks=pytest.mark.slow)
                                  for t in OFFICIAL])
def test_official_probe_file_runs_two_steps_at_runlocal(task, local_data, tmp_path):
    kind = experiment_config(PROBES / f'{task}.py').data.kind
    config = experiment_config(PROBES / f'{task}.py',
                               f'runlocal,checkpoint={official_file()},data={local_data[kind]}')
    config.unlock()
    config.encoder.num_heads = 4  # the fixture's width (104) is no official size
    result = job.run_probe_job(config, tmp_path)
    assert result['steps'] == 2 and [h['epoch'] for h in result['history']] == [1, 2]
    assert result['num_val'] == 8 and result['num_classes'] == OFFICIAL[task]
    assert (tmp_path / 'checkpoints' / '2').is_dir()


@pytest.mark.integration  # a whole probe job, as the official files' test above
@pytest.mark.parametrize('task', [t if t in VJEPA2_FAST else pytest.param(t, marks=pytest.mark.slow)
                                  for t in VJEPA2])
def test_vjepa2_probe_file_runs_two_steps_at_runlocal(task, local_data, tmp_path):
    write_hf_dir(tmp_path / 'vjepa2_hf')
    config = experiment_config(PROBES / f'{task}.py', f'runlocal,checkpoint={tmp_path}/vjepa2_hf,'
                               f'data={local_data["video"]}')
    assert (config.probe.kind, config.probe.depth, config.probe.num_heads) == ('vjepa2', 4, 16)
    config.unlock()
    config.encoder.which = 'encoder'  # an HF directory holds one encoder
    result = job.run_probe_job(config, tmp_path / 'run')
    assert result['steps'] == 2 and [h['epoch'] for h in result['history']] == [1, 2]
    assert result['num_val'] == 8 and result['num_classes'] == VJEPA2[task]

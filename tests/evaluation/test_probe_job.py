"""The probe job (``mode='probe'``): end to end on the official fixture encoder, resume,
random init, the image path and the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from tests.helpers.checkpoints import official_file
from tests.helpers.cli_runs import cli_env, experiment_config, write_videos
from tests.helpers.paths import REPO
from vjepa_jax.encoder_loading import load_encoder
from vjepa_jax.errors import ConfigError
from vjepa_jax.evaluation import config as probe_config_lib
from vjepa_jax.evaluation import frozen_encoder, job
from vjepa_jax.input import images

TINY_PROBE = REPO / 'experiments' / 'probe' / 'tiny.py'


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> Path:
    return write_videos(tmp_path_factory.mktemp('probe_videos'), num_train=16, num_val=8,
                        size=32, frames=16, seed=1)


def tiny_config(checkpoint, data, **overrides):
    arg = f'checkpoint={checkpoint},data={data},epochs=2,batch=8'
    c = experiment_config(TINY_PROBE, arg)
    c.unlock()
    c.checkpoint.update({'every_epochs': 1, 'async_save': False})
    c.eval_every_epochs = 1
    c.log_every = 1
    c.encoder.num_heads = 4  # the fixture's width (104) is no official size
    for key, value in overrides.items():
        node = c
        *path, last = key.split('.')
        for part in path:
            node = node[part]
        node[last] = value
    return c


@pytest.mark.integration
def test_probe_job_on_the_official_encoder_runs_and_resumes_exactly(videos, tmp_path):
    fixture = official_file()
    config = tiny_config(fixture, videos)
    first = job.run_probe_job(config, tmp_path / 'a')
    assert first['num_val'] == 8 and first['num_classes'] == 8 and first['steps'] == 4
    assert [h['epoch'] for h in first['history']] == [1, 2]
    assert len(first['top1']) == 3 and all(0 <= t <= 100 for t in first['top1'])
    assert first['encoder'] == {'checkpoint': str(fixture), 'which': 'target_encoder',
                                'random_init': False}
    assert job.read_results(tmp_path / 'a') == first
    lines = [json.loads(x) for x in (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
    assert {'loss/probe2', 'train_top1/probe0'} <= set(lines[0])
    assert [x['val_top1/probe1'] for x in lines if 'val_top1/probe1' in x] == [
        h['top1'][1] for h in first['history']]

    # A job killed after epoch 1 (its last checkpoint is step 2) resumes exactly.
    shutil.copytree(tmp_path / 'a', tmp_path / 'b')
    shutil.rmtree(tmp_path / 'b' / 'checkpoints' / '4')
    (tmp_path / 'b' / 'results.json').unlink()
    resumed = job.run_probe_job(config, tmp_path / 'b')
    assert resumed['top1'] == first['top1'] and resumed['top5'] == first['top5']
    assert [h['epoch'] for h in resumed['history']] == [2]
    epochs = [x['epoch'] for x in map(json.loads, (tmp_path / 'b' / 'metrics.jsonl')
                                      .read_text().splitlines()) if 'epoch' in x]
    assert epochs == [1, 2]  # the replayed epoch's lines were dropped, not doubled

    # A finished job evaluates its final probes again instead of training.
    again = job.run_probe_job(config, tmp_path / 'a')
    assert again['top1'] == first['top1']


def test_random_init_keeps_the_architecture_and_changes_the_weights(videos):
    encoder, params = load_encoder(official_file(), num_heads=4)
    fresh = frozen_encoder.random_encoder_params(encoder, seed=0)
    assert jax.tree_util.tree_structure(fresh) == jax.tree_util.tree_structure(params)
    shapes = jax.tree_util.tree_map(np.shape, (fresh, params))
    assert shapes[0] == shapes[1]
    a, b = (jax.tree_util.tree_leaves(t) for t in (fresh, params))
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))
    again = frozen_encoder.random_encoder_params(encoder, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(a, jax.tree_util.tree_leaves(again)))


@pytest.mark.integration
def test_image_probe_job(videos, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    examples = {
        True: [{'image': rng.integers(0, 255, (40, 48, 3), np.uint8), 'label': i % 4}
               for i in range(16)],
        False: [{'image': rng.integers(0, 255, (36, 36, 3), np.uint8), 'label': i % 4}
                for i in range(6)],
    }
    monkeypatch.setattr(images, 'probe_source',
                        lambda dataset, training, data_dir=None: examples[training])
    config = tiny_config(official_file(), videos, **{
        'data.kind': 'image', 'data.dataset': 'in1k', 'data.num_classes': 4})
    result = job.run_probe_job(config, tmp_path)
    assert result['num_val'] == 6 and result['steps'] == 4  # 16 images / batch 8 x 2 epochs


def test_invalid_probe_configs_list_every_problem(videos, tmp_path):
    config = tiny_config(tmp_path / 'missing', videos, **{
        'data.kind': 'audio', 'batch_size': 6, 'optimizer.lrs': (), 'clip.eval_window': 'mid',
        'probe.depth': 0, 'checkpoint.keep': 0, 'encoder.dtype': 'f32'})
    with pytest.raises(ConfigError) as err:
        job.run_probe_job(config, tmp_path / 'w')
    text = str(err.value)
    for part in ('data.kind', 'batch_size 6', 'optimizer.lrs', 'clip.eval_window',
                 'probe.depth', 'checkpoint.keep', 'encoder.dtype'):
        assert part in text
    # The files named are checked once the sections build.
    config = tiny_config(tmp_path / 'missing', videos, **{'data.val_index': ('/no/val.csv',)})
    with pytest.raises(ConfigError) as err:
        probe_config_lib.validate(config, num_devices=8)
    assert str(err.value).splitlines()[1:] == [
        f'  - encoder.checkpoint: {tmp_path / "missing"} does not exist.',
        '  - data.val_index: /no/val.csv does not exist.']


def test_required_fields_are_placeholders():
    config = probe_config_lib.probe_config()
    with pytest.raises(ConfigError) as err:
        probe_config_lib.validate(config, num_devices=8)
    text = str(err.value)
    assert 'encoder.checkpoint is not set' in text and 'data.num_classes must be given' in text
    assert 'data.train_index is empty' in text
    # A placeholder stays typed: the command line (and Python) can set it.
    config.eval_batch_size = 16
    config.encoder.num_heads = 4
    assert config.get_ref('eval_batch_size').get_type() is int


@pytest.mark.integration
def test_probe_from_the_command_line_on_the_official_checkpoint(videos, tmp_path):
    fixture = official_file()
    base = [sys.executable, '-m', 'vjepa_jax.main', '--config',
            f'{TINY_PROBE}:checkpoint={fixture},data={videos},epochs=1,batch=8',
            '--config.encoder.num_heads=4']
    run = subprocess.run([*base, '--workdir', str(tmp_path / 'w')], capture_output=True,
                         text=True, env=cli_env(), cwd=tmp_path, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'probe finished: best top-1' in run.stdout
    assert json.loads((tmp_path / 'w' / 'results.json').read_text())['num_val'] == 8

    bad = subprocess.run([*base, '--workdir', str(tmp_path / 'x'),
                          '--config.encoder.checkpoint=/nonexistent.pth.tar'],
                         capture_output=True, text=True, env=cli_env(), cwd=tmp_path,
                         timeout=300, check=False)
    assert bad.returncode == 2
    assert 'encoder.checkpoint: /nonexistent.pth.tar does not exist' in bad.stderr
    assert 'Traceback' not in bad.stderr

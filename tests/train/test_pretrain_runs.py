"""End-to-end pretraining through the CLI: exact resume after SIGKILL, SIGTERM, NaN, init_from.

Runs ``python -m vjepa_jax.main`` in subprocesses (1 CPU device each) on a few
synthetic videos with a micro model, so that killing and restarting is real.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers.cli_runs import MICRO, TINY, cli_env, write_videos
from tests.helpers.paths import OFFICIAL_SMALL, REPO

pytestmark = pytest.mark.integration  # subprocesses / whole jobs


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> Path:
    return write_videos(tmp_path_factory.mktemp('synthetic'))


def _command(workdir: Path, videos: Path, steps: int, extra=(), micro=True) -> list[str]:
    return [sys.executable, '-m', 'vjepa_jax.main',
            f'--config={TINY}:steps={steps},data={videos}', f'--workdir={workdir}',
            *(MICRO if micro else ['--config.log_every=1']), *extra]


def _tiny_config(videos: Path):
    spec = importlib.util.spec_from_file_location('tiny', TINY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(f'data={videos}')


def _run(cmd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _losses(workdir: Path) -> list[tuple[int, float]]:
    lines = (workdir / 'metrics.jsonl').read_text().splitlines()
    return [(d['step'], d['loss']) for d in map(json.loads, lines)]


def _final_state(workdir: Path, step: int):
    return ocp.StandardCheckpointer().restore(workdir / 'checkpoints' / str(step) / 'state')


def _wait_for(predicate, proc, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f'run ended early ({proc.returncode}):\n{out}\n{err}')
        time.sleep(0.02)
    proc.kill()
    raise AssertionError('timed out')


def test_sigkill_then_restart_is_bitwise_identical(tmp_path, videos):
    steps = 40
    straight = _run(_command(tmp_path / 'straight', videos, steps))
    assert straight.returncode == 0, straight.stderr

    workdir = tmp_path / 'killed'
    proc = subprocess.Popen(_command(workdir, videos, steps), env=cli_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (workdir / 'checkpoints' / '8').is_dir(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(_losses(workdir))
    assert killed_at < steps
    # A half-written checkpoint (what a kill during a save leaves) must not matter.
    junk = workdir / 'checkpoints' / '39.orbax-checkpoint-tmp' / 'state'
    junk.mkdir(parents=True)
    (junk / 'partial').write_bytes(b'\0' * 10)

    resumed = _run(_command(workdir, videos, steps))
    assert resumed.returncode == 0, resumed.stderr
    assert 'from checkpoint' in resumed.stdout
    assert _losses(workdir) == _losses(tmp_path / 'straight')  # same loss sequence, bitwise
    assert [s for s, _ in _losses(workdir)] == list(range(1, steps + 1))
    a, b = _final_state(workdir, steps), _final_state(tmp_path / 'straight', steps)
    assert len(jax_leaves(a)) > 10
    chex.assert_trees_all_equal(a, b)  # same structure, every leaf bitwise equal


def jax_leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_sigterm_saves_and_exits_cleanly(tmp_path, videos):
    workdir = tmp_path / 'run'
    proc = subprocess.Popen(_command(workdir, videos, 400), env=cli_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = workdir / 'metrics.jsonl'
    _wait_for(lambda: metrics.is_file() and len(metrics.read_text().splitlines()) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 30
    assert 'stopped (preemption)' in out
    last = _losses(workdir)[-1][0]
    assert last < 400
    assert (workdir / 'checkpoints' / str(last)).is_dir()


def test_non_finite_loss_stops_without_a_checkpoint(tmp_path, videos):
    workdir = tmp_path / 'nan'
    result = _run(_command(workdir, videos, 30, ['--config.optimizer.lr=1e30',
                                                 '--config.optimizer.start_lr=1e30']))
    assert result.returncode == 1
    assert 'Non-finite loss at step' in result.stderr
    assert 'Traceback' not in result.stderr
    saved = [p.name for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit()]
    if 'no checkpoint was written yet' not in result.stderr:
        assert saved and 'last good checkpoint is step' in result.stderr
    for name in saved:  # every checkpoint written holds finite params only
        assert all(np.all(np.isfinite(x)) for x in jax_leaves(_final_state(workdir, name)))


def test_bad_config_is_a_message_not_a_traceback(tmp_path, videos):
    result = _run(_command(tmp_path / 'bad', videos, 5, ['--config.model.crop_size=36']))
    assert result.returncode == 2
    assert 'crop_size 36 is not divisible' in result.stderr
    assert 'Traceback' not in result.stderr
    result = _run(_command(tmp_path / 'bad', videos, 5, ['--config.batch_sise=3']))
    assert result.returncode != 0 and 'batch_sise' in result.stderr


@pytest.mark.skipif(not (OFFICIAL_SMALL / 'jepa-latest.pth.tar').is_file(),
                    reason='official fixture checkpoint not found')
def test_init_from_official_checkpoint_first_loss(tmp_path, videos):
    import jax

    from vjepa_jax import load_pretrained
    from vjepa_jax.input.index import mix_indices
    from vjepa_jax.input.pipeline import ClipConfig, pretraining_dataset
    from vjepa_jax.masks import build_mask_samplers
    from vjepa_jax.models.builder import build_jepa_models, model_config
    from vjepa_jax.train.schedules import Schedules
    from vjepa_jax.train.step import StepSetup, compute_loss

    ckpt = OFFICIAL_SMALL / 'jepa-latest.pth.tar'
    fixture_model = ['--config.model.variant=w104d3h4/16', '--config.model.crop_size=80',
                     '--config.model.num_frames=16', '--config.model.predictor.embed_dim=52',
                     '--config.model.predictor.depth=2', '--config.model.predictor.num_heads=4',
                     '--config.batch_size=2', f'--config.init_from={ckpt}']
    result = _run(_command(tmp_path / 'init', videos, 1, fixture_model, micro=False))
    assert result.returncode == 0, result.stderr
    assert f'init_from {ckpt}' in result.stdout
    logged = _losses(tmp_path / 'init')[0][1]

    # The same first batch and the imported weights, computed here.
    cfg = model_config(variant='w104d3h4/16', crop_size=80, num_frames=16)
    cfg.predictor.update({'embed_dim': 52, 'depth': 2, 'num_heads': 4})
    encoder, predictor = build_jepa_models(cfg)
    c = _tiny_config(videos)
    samplers = build_mask_samplers(c.masks, num_frames=16, crop_size=80, patch_size=16,
                                   tubelet_size=2)
    clip = ClipConfig(16, c.data.frame_step, 80)
    batch = next(iter(pretraining_dataset(mix_indices(list(c.data.index_files)), samplers, 2,
                                          clip=clip, seed=c.seed, read_threads=1)))
    model = load_pretrained(ckpt, num_heads=4)
    setup = StepSetup(encoder, predictor, Schedules(50, 1, 1, 1e-3, 1e-3, 1e-6, 0.04, 0.4))
    params = {'encoder': model.params['encoder'], 'predictor': model.params['predictor']}
    expected = jax.jit(lambda p, t, b: compute_loss(setup, p, t, b))(
        params, model.params['target_encoder'], {'video': batch['video'], 'masks': batch['masks']})
    assert abs(logged - float(jax.device_get(expected['loss']))) <= 1e-5

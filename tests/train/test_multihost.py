"""Two real processes (2 CPU devices each, gloo) train over one global mesh, checkpoint, resume."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.helpers.cli_runs import MICRO, TINY, cli_env, write_videos
from tests.helpers.paths import REPO

pytestmark = pytest.mark.integration  # subprocesses / whole jobs


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return write_videos(tmp_path_factory.mktemp('synthetic'))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('localhost', 0))
        return s.getsockname()[1]


def _train(workdir, videos, steps) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs = [subprocess.Popen(
        [sys.executable, '-m', 'vjepa_jax.main', f'--config={TINY}:steps={steps},data={videos}',
         f'--workdir={workdir}', *MICRO, '--config.checkpoint.every_steps=3',
         f'--coordinator_address=localhost:{port}', '--num_processes=2', f'--process_id={i}',
         '--num_cpu_devices=2'],
        env=cli_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def test_two_processes_train_checkpoint_and_resume(tmp_path, videos):
    workdir = tmp_path / 'run'
    first = _train(workdir, videos, 6)
    for r in first:
        assert r.returncode == 0, r.stderr[-3000:]
    assert 'devices: 4 x cpu' in first[0].stdout and '2 process(es)' in first[0].stdout
    # Only process 0 logs (process 1 may still show gloo's connection notes).
    assert 'step 6/6' in first[0].stdout
    assert 'step ' not in first[1].stdout and 'vjepa_jax' not in first[1].stdout
    data_states = sorted(p.name for p in (workdir / 'checkpoints' / '6' / 'data').iterdir())
    assert data_states == ['process_0-of-2.json', 'process_1-of-2.json']

    second = _train(workdir, videos, 9)
    for r in second:
        assert r.returncode == 0, r.stderr[-3000:]
    assert 'start: step 6 from checkpoint' in second[0].stdout
    steps = [json.loads(line)['step'] for line in
             (workdir / 'metrics.jsonl').read_text().splitlines()]
    assert steps == list(range(1, 10))
    assert (workdir / 'checkpoints' / '9').is_dir()

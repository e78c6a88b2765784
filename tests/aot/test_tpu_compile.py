"""Real TPU compiles on compile-only devices (needs the libtpu wheel: ``pip install '.[tpu]'``).

``.ci/run`` installs it; without it these skip with the reason. Tiny configs
only: a full ViT-L compile takes minutes (``docs/scaling.md``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli_runs import experiment_config
from vjepa_jax.aot import targets
from vjepa_jax.train.program import pretrain_program

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'experiments' / 'pretrain' / 'tiny.py'

needs_libtpu = pytest.mark.skipif(importlib.util.find_spec('libtpu') is None,
                                  reason="libtpu is not installed (pip install 'vjepa_jax[tpu]')")


def _check(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, 'ALLOW_MULTIPLE_LIBTPU_LOAD': '1'}
    env.pop('JAX_PLATFORMS', None)  # the tool sets its own
    return subprocess.run([sys.executable, '-m', 'vjepa_jax.compile_check', *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                          check=False)


def test_target_names_follow_cloud_tpu_and_gpu_hosts():
    v5p = targets.get_target('v5p-256')
    assert (v5p.devices_per_slice, v5p.topology, v5p.chip_config) == (128, 'v5:4x4x8', 'megacore')
    v5e = targets.get_target('v5litepod-256')
    assert (v5e.name, v5e.devices_per_slice, v5e.topology) == ('v5e-256', 256, 'v5e:16x16')
    assert targets.get_target('v4-128').devices_per_slice == 64
    assert targets.get_target('v6e-256', num_slices=2).num_devices == 512
    h200 = targets.get_target('h200-64')
    assert (h200.platform, h200.topology, h200.num_devices) == ('cuda', '1x8x8', 64)
    assert not h200.compiler_checks_memory and targets.get_target('v5e-4').compiler_checks_memory
    with pytest.raises(targets.TargetError, match='--num-slices is for TPU slices'):
        targets.get_target('h100-8', num_slices=2)


@pytest.mark.integration
def test_unknown_topology_lists_the_known_ones_and_exits_2():
    # No libtpu needed: the name is checked before any device is made.
    out = _check('--config', str(TINY), '--topology', 'v5p-300')
    assert out.returncode == 2, out.stderr
    assert "error: Unknown topology 'v5p-300'. Known: v4-8," in out.stderr
    assert 'v5e-256' in out.stderr and 'Traceback' not in out.stderr


@pytest.mark.integration
@needs_libtpu
def test_tiny_step_compiles_for_two_small_slices_on_a_hybrid_mesh(tmp_path):
    # One CLI run (a real TPU compile takes ~20 s here): 2 slices of v5e-4, data over DCN.
    out = _check('--config', str(TINY), '--topology', 'v5e-4', '--num-slices', '2',
                 '--mesh', 'data=2,fsdp=4,tensor=1', '--json', str(tmp_path / 'fit.json'))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'target v5e-4 x 2 slices: 8 x TPU v5 lite' in out.stdout
    report = json.loads((tmp_path / 'fit.json').read_text())
    assert report['chips'] == 8 and report['num_slices'] == 2 and report['fits']
    assert report['device_kind'] == 'TPU v5 lite' and report['mesh'] == {
        'data': 2, 'fsdp': 4, 'tensor': 1}
    (step,) = report['programs']
    assert step['per_device_batch'] == 1 and step['global_batch'] == 8
    assert 0 < step['argument_bytes'] < 2**30 and step['temp_bytes'] > 0
    # The state is donated: all of the output but the metrics reuses the input buffers.
    assert 0.9 * step['output_bytes'] < step['alias_bytes'] <= step['output_bytes']
    assert step['headroom_bytes'] > 15 * 2**30
    per_clip = pretrain_program(experiment_config(TINY)).flops_per_clip()
    assert step['flops'] == pytest.approx(8 * per_clip)
    assert step['flops_per_device'] == pytest.approx(per_clip)
    # fsdp=4 shards the params: the program gathers or reduces across chips.
    assert sum(step['collectives'].values()) > 0


@pytest.mark.integration
@needs_libtpu
def test_oversized_config_ends_with_the_does_not_fit_line(tmp_path):
    out = _check('--config', str(TINY), '--topology', 'v5e-4', '--config.model.crop_size=224',
                 '--config.model.num_frames=16', '--config.batch_size=2048')
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('error: pretrain step does not fit on v5e-4: needs ')
    assert 'of 15.75 GiB per chip; try --config.model.remat_policy=full' in last
    assert 'Traceback' not in out.stderr


@pytest.mark.integration
def test_mesh_that_does_not_split_the_batch_is_a_one_line_error():
    out = _check('--config', str(TINY), '--topology', 'v5e-4', '--mesh', 'data=1,fsdp=1,tensor=1')
    assert out.returncode == 2
    assert 'needs 1 devices but 4 are available' in out.stderr
    assert 'Traceback' not in out.stderr


@pytest.mark.integration
@pytest.mark.skipif(not targets.cuda_plugin_available(),
                    reason='the CUDA plugin (jax-cuda12-plugin / -pjrt of this jax) is not installed')
def test_gpu_host_target_reports_memory_and_says_it_is_not_checked():
    from vjepa_jax import compile_check

    config = experiment_config(TINY)
    lines = []
    report = compile_check.run_check(config, 'h100-8', say=lambda *a, **k: lines.append(a[0]))
    (step,) = report['programs']
    assert report['platform'] == 'cuda' and not report['memory_checked_by_compiler']
    assert report['device_kind'] == 'NVIDIA H100 80GB HBM3' and report['chips'] == 8
    assert step['fits'] and step['argument_bytes'] > 0 and step['per_device_batch'] == 1
    assert any('GPU memory is reported by the compiler, not checked by it' in x for x in lines)


@pytest.mark.integration
def test_misspelt_override_is_a_one_line_error():
    out = _check('--config', str(TINY), '--topology', 'v5e-4', '--config.model.varient=L/16')
    assert out.returncode == 2
    assert 'error: no field model.varient; did you mean model.variant?' in out.stderr
    assert 'Traceback' not in out.stderr

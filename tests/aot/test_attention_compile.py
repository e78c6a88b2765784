"""The fused attention paths compile for the accelerators they are for (compile-only devices).

Splash (Pallas TPU) needs the libtpu wheel, cuDNN the CUDA plugin; each test
skips with the reason without it. One subprocess per platform compiles the
attention forward + backward at an encoder-like shape with padded keys, under
a data x tensor mesh (the kernel runs per device through shard_map), once
with the fused implementation and once with XLA's, and reports the compiled
program's peak memory per device and whether the fused kernel is in it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DRIVER = r'''
import json, sys
from vjepa_jax.aot import targets
targets.prepare_environment()
import flax.linen as nn
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
from vjepa_jax import sharding
from vjepa_jax.models.attention import attention

target = targets.get_target(sys.argv[1])
devices = targets.compile_only_devices(target)
mesh = sharding.make_mesh([('data', -1), ('fsdp', 1), ('tensor', int(sys.argv[2]))],
                          devices=devices)
b, length, heads, head_dim = 2 * mesh.shape['data'], int(sys.argv[3]), 4, 64
dtype = jnp.bfloat16
x_sharding = NamedSharding(mesh, P(('data', 'fsdp'), None, 'tensor', None))
x = jax.ShapeDtypeStruct((b, length, heads, head_dim), dtype, sharding=x_sharding)
valid = jax.ShapeDtypeStruct((b, length), jnp.bool_,
                             sharding=NamedSharding(mesh, P(('data', 'fsdp'), None)))
out = {}
for impl in sys.argv[4:]:
    def loss(q, k, v, valid):
        o = attention(q, k, v, valid[:, None, None, :], impl)
        return jnp.sum(o.astype(jnp.float32) ** 2)
    step = jax.jit(jax.value_and_grad(loss, (0, 1, 2)))
    with nn.logical_axis_rules(sharding.DEFAULT_RULES), jax.set_mesh(mesh):
        try:
            compiled = step.lower(x, x, x, valid).compile()
        except RuntimeError as e:   # cuDNN's lowering asks the library for its version
            if 'cuDNN not found' not in str(e):
                raise
            print(json.dumps({'skip': 'the cuDNN library is not installed (nvidia-cudnn-cu12)'}))
            sys.exit(0)
    text = compiled.as_text()
    mem = compiled.memory_analysis()
    out[impl] = {'peak_bytes': mem.peak_memory_in_bytes,
                 'tpu_kernel': 'tpu_custom_call' in text,
                 'cudnn_kernel': '__cudnn$fmha' in text}
print(json.dumps(out))
'''


def _compile(topology: str, tensor: int, length: int, *impls: str) -> dict:
    # Compile-only devices beside a CPU default backend; not conftest's 8 fake CPUs.
    env = {**os.environ, 'ALLOW_MULTIPLE_LIBTPU_LOAD': '1', 'JAX_PLATFORMS': 'cpu'}
    env.pop('XLA_FLAGS', None)
    out = subprocess.run([sys.executable, '-c', DRIVER, topology, str(tensor), str(length), *impls],
                         capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if 'skip' in report:
        pytest.skip(report['skip'])
    return report


@pytest.mark.skipif(importlib.util.find_spec('libtpu') is None,
                    reason="libtpu is not installed (pip install 'vjepa_jax[tpu]')")
def test_splash_compiles_for_tpu_sharded_and_needs_less_memory_than_xla():
    # 1568 tokens: a 16 x 224 clip's encoder sequence (padded to 1664 for splash).
    report = _compile('v5e-4', 2, 1568, 'splash', 'xla')
    assert report['splash']['tpu_kernel'] and not report['xla']['tpu_kernel']
    # Measured: 20.8 MB against 70.4 MB peak per chip (the [L, L] scores never reach HBM).
    assert report['splash']['peak_bytes'] < 0.5 * report['xla']['peak_bytes']


@pytest.mark.skipif(importlib.util.find_spec('jax_cuda12_plugin') is None,
                    reason='the CUDA plugin is not installed (pip install jax-cuda12-plugin)')
def test_cudnn_compiles_for_gpu_in_bfloat16():
    report = _compile('h100-1', 1, 400, 'cudnn', 'xla')
    assert report['cudnn']['cudnn_kernel'] and not report['xla']['cudnn_kernel']

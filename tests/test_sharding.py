"""Mesh construction, rules from config, and host -> global batches."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from vjepa_jax import sharding


def test_mesh_fills_minus_one_and_uses_auto_axes():
    mesh = sharding.make_mesh([('data', -1), ('fsdp', 2), ('tensor', 1)])
    assert dict(mesh.shape) == {'data': 4, 'fsdp': 2, 'tensor': 1}
    assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)
    one = sharding.make_mesh(devices=jax.devices()[:1])
    assert dict(one.shape) == {'data': 1, 'fsdp': 1, 'tensor': 1}


@pytest.mark.parametrize('spec, match', [
    ([('data', 3), ('fsdp', 1), ('tensor', 1)], 'needs 3 devices but 8'),
    ([('data', -1), ('fsdp', 3), ('tensor', 1)], 'does not divide the 8 devices'),
    ([('data', -1), ('fsdp', -1), ('tensor', 1)], 'at most one axis'),
    ([('data', 0), ('fsdp', 1), ('tensor', 8)], 'positive'),
    ([('data', 8), ('data', 1)], 'repeat'),
])
def test_bad_mesh_says_what_to_change(spec, match):
    with pytest.raises(ValueError, match=match):
        sharding.make_mesh(spec)


def test_rules_from_config():
    assert sharding.rules_from_config(None) == sharding.DEFAULT_RULES
    rules = sharding.rules_from_config([['batch', ['data']], ['embed', None]])
    assert rules == (('batch', ('data',)), ('embed', None))
    with pytest.raises(ValueError, match='logical_name, mesh_axes'):
        sharding.rules_from_config([['batch']])


def test_host_to_global_splits_the_batch_axis():
    mesh = sharding.make_mesh([('data', 2), ('fsdp', 2), ('tensor', 2)])
    rules = sharding.DEFAULT_RULES
    assert sharding.data_parallel_size(mesh, rules) == 4
    batch = {'video': np.arange(8 * 3, dtype=np.uint8).reshape(8, 3),
             'masks': ({'context_idx': np.arange(8 * 2, dtype=np.int32).reshape(8, 2)},)}
    out = sharding.host_to_global(batch, mesh, rules)
    np.testing.assert_array_equal(np.asarray(out['video']), batch['video'])
    assert out['video'].sharding.spec[0] == ('data', 'fsdp')
    # Each of the 4 batch shards holds 2 rows, replicated over `tensor`.
    shard_rows = {s.data.shape[0] for s in out['masks'][0]['context_idx'].addressable_shards}
    assert shard_rows == {2}
    with pytest.raises(ValueError, match='not divisible by the data-parallel size 4'):
        sharding.host_to_global({'video': np.zeros((6, 3))}, mesh, rules)

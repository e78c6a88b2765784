"""Param layouts by rule on meshes whose axes do not divide every dim."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from vjepa_jax import sharding, sharding_plan

RULES = sharding.DEFAULT_RULES


def test_dims_that_divide_keep_the_rule():
    spec, taken = sharding_plan.fit_spec((1024, 4096), ('embed', 'mlp'),
                                         {'data': 1, 'fsdp': 64, 'tensor': 4}, RULES)
    assert spec == P('fsdp', 'tensor') and taken == []


def test_leftover_axis_moves_to_another_dim():
    # Predictor fc1 [layers 12, embed 384, mlp 1536] on fsdp=256: 384 does not divide,
    # 1536 = 6 x 256 takes fsdp next to tensor.
    spec, taken = sharding_plan.fit_spec((12, 384, 1536), ('layers', 'embed', 'mlp'),
                                         {'data': 1, 'fsdp': 256, 'tensor': 1}, RULES)
    assert spec == P(None, None, ('tensor', 'fsdp'))
    assert taken == [(1, ('fsdp',), 2)]


def test_never_moves_onto_the_scanned_layers_dim_and_replicates_instead():
    spec, taken = sharding_plan.fit_spec((256, 384), ('layers', 'embed'),
                                         {'data': 1, 'fsdp': 256, 'tensor': 1}, RULES)
    assert spec == P(None, None)
    assert taken == [(1, ('fsdp',), None)]


def test_longest_dividing_prefix_of_a_multi_axis_rule_is_kept():
    rules = (('embed', ('fsdp', 'tensor')),)
    spec, taken = sharding_plan.fit_spec((96,), ('embed',), {'fsdp': 32, 'tensor': 4}, rules)
    assert spec == P('fsdp') and taken == [(0, ('tensor',), None)]


def test_every_spec_divides_and_the_banner_line_counts_the_cost():
    boxed = {'w': nn.LogicallyPartitioned(jax.ShapeDtypeStruct((384, 1536), jnp.float32),
                                          ('embed', 'mlp')),
             'b': nn.LogicallyPartitioned(jax.ShapeDtypeStruct((384,), jnp.float32), ('embed',)),
             'step': jax.ShapeDtypeStruct((), jnp.int32)}
    sizes = {'data': 1, 'fsdp': 256, 'tensor': 1}
    specs, fallbacks = sharding_plan.plan_specs(boxed, sizes, RULES)
    assert specs['w'] == P(None, ('tensor', 'fsdp')) and specs['b'] == P(None)
    assert specs['step'] == P()
    note = sharding_plan.describe_fallbacks(fallbacks)
    assert note.startswith('sharding fallbacks: embed 384 not divisible by fsdp (2 arrays: '
                           '1 sharded along another dim, 1 replicated over fsdp)')
    # The bias is whole on every chip: 384 * 4 bytes - its 1/256 share (1536 // 256 = 6).
    assert [f.extra_bytes for f in fallbacks if f.path == 'b'] == [384 * 4 - 6]
    assert sharding_plan.describe_fallbacks([]) == ''

"""The real steps of every official recipe lower on abstract meshes of pod shapes (no libtpu).

``jax.sharding.AbstractMesh`` needs no devices: tracing and lowering for TPU
catch every sharding error (``IndivisibleError``, a batch that does not
split) in seconds. Always on: every official pretraining recipe's param
layout on the whole grid (64 ... 1024 chips x fsdp only, data only, data x
fsdp, tensor 2 and 4, 2 slices, batch-limited), and the real step lowered on
a covering subset of it; ``pytest -m slow`` lowers the whole grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import pytest

from tests.helpers.cli_runs import experiment_config
from vjepa_jax import sharding, sharding_plan
from vjepa_jax.aot import programs
from vjepa_jax.train.program import boxed_abstract_state, pretrain_program

REPO = Path(__file__).resolve().parents[2]
PRETRAIN = ('vitl16', 'vith16', 'vith16_384')
PROBES = ('k400', 'ssv2')
CHIPS = (64, 128, 256, 512, 1024)
KINDS = ('fsdp', 'data', 'data_fsdp', 'tensor2', 'tensor4', 'slices2', 'batch_limited')


def grid_mesh(kind: str, chips: int, batch: int) -> list[tuple[str, int]] | None:
    """One pod shape of the test grid, or None when its batch axes do not divide ``batch``.

    ``slices2``: two slices, the data axis spanning them (on an abstract mesh this is
    data=2 x fsdp; the compile-only devices test the real hybrid mesh).
    ``batch_limited``: the batch split as far as it divides, the rest tensor-parallel.
    """
    ways = math.gcd(chips, batch)
    shapes = {
        'fsdp': (1, chips, 1), 'data': (chips, 1, 1), 'data_fsdp': (4, chips // 4, 1),
        'tensor2': (1, chips // 2, 2), 'tensor4': (2, chips // 8, 4),
        'slices2': (2, chips // 2, 1), 'batch_limited': (1, ways, chips // ways),
    }
    d, f, t = shapes[kind]
    if batch % (d * f):
        return None
    return [('data', d), ('fsdp', f), ('tensor', t)]


def _config(name: str):
    if name in PRETRAIN:
        return experiment_config(REPO / 'experiments' / 'pretrain' / f'{name}.py')
    return experiment_config(REPO / 'experiments' / 'probe' / f'{name}.py')


@pytest.fixture(scope='module')
def boxed_states():
    return {n: (_config(n), boxed_abstract_state(pretrain_program(_config(n)))) for n in PRETRAIN}


def test_every_param_layout_divides_on_the_whole_grid(boxed_states):
    checked = 0
    for name, (config, boxed) in boxed_states.items():
        for chips in CHIPS:
            for kind in KINDS:
                spec = grid_mesh(kind, chips, config.batch_size)
                if spec is None:
                    continue
                sizes = dict(zip(('data', 'fsdp', 'tensor'), (s for _, s in spec)))
                specs, _ = sharding_plan.plan_specs(boxed, sizes, sharding.DEFAULT_RULES)
                leaves = jax.tree_util.tree_leaves(
                    jax.tree_util.tree_map(lambda b, s: (b, s), boxed, specs,
                                           is_leaf=lambda x: hasattr(x, 'names')),
                    is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2)
                for box, part in leaves:
                    shape = getattr(box, 'value', box).shape
                    for dim, entry in zip(shape, tuple(part) + (None,) * len(shape)):
                        axes = (entry,) if isinstance(entry, str) else (entry or ())
                        assert dim % math.prod(sizes[a] for a in axes) == 0, (name, spec, shape)
                checked += 1
    assert checked >= 3 * 5 * 5


def _lower_all(name: str, spec) -> None:
    config = _config(name)
    chips = math.prod(s for _, s in spec)
    mesh = sharding.abstract_mesh(spec, chips)
    for program in programs.config_programs(config, mesh, encoder_variant='L/16'):
        assert program.lower('tpu').as_text()  # raises on any sharding error


def _covering_cases():
    """One case per shape kind, rotating the recipe and chip count, so that every kind, every
    recipe and every chip count appears (the whole grid is ``-m slow``)."""
    names = PRETRAIN + PROBES
    cases = []
    for i, kind in enumerate(KINDS):
        for shift in range(len(names) * len(CHIPS)):
            name = names[(i + shift) % len(names)]
            chips = CHIPS[(i + shift // len(names)) % len(CHIPS)]
            spec = grid_mesh(kind, chips, _config(name).batch_size)
            if spec is not None:
                cases.append(pytest.param(name, spec, id=f'{name}-{chips}-{kind}'))
                break
    covered = {c.values[0] for c in cases}
    for name in names:  # e.g. vith16_384's 2400 clips split only on batch-limited shapes
        if name not in covered:
            spec = grid_mesh('batch_limited', 256, _config(name).batch_size)
            cases.append(pytest.param(name, spec, id=f'{name}-256-batch_limited'))
    return cases


def _all_cases():
    cases = []
    for name in PRETRAIN + PROBES:
        batch = _config(name).batch_size
        for chips in CHIPS:
            for kind in KINDS:
                spec = grid_mesh(kind, chips, batch)
                if spec is not None:
                    cases.append(pytest.param(name, spec, id=f'{name}-{chips}-{kind}'))
    return cases


COVERING = _covering_cases()


@pytest.mark.integration  # lowers whole recipe steps
@pytest.mark.parametrize(('name', 'spec'), COVERING)
def test_real_step_lowers_on_pod_shapes(name, spec):
    _lower_all(name, spec)


@pytest.mark.slow
@pytest.mark.parametrize(('name', 'spec'), _all_cases())
def test_real_step_lowers_on_the_whole_grid(name, spec):
    _lower_all(name, spec)


def test_covering_subset_uses_every_shape_kind_recipe_and_chip_count():
    ids = [c.id.split('-') for c in COVERING]
    assert {i[-1] for i in ids} == set(KINDS)
    assert {i[0] for i in ids} == set(PRETRAIN + PROBES)
    assert {int(i[-2]) for i in ids} == set(CHIPS)


@pytest.mark.integration  # lowers whole recipe steps
def test_pure_fsdp_over_256_chips_lowers_and_says_what_it_replicated():
    config = _config('vitl16')
    spec = [('data', 1), ('fsdp', 256), ('tensor', 1)]
    mesh = sharding.abstract_mesh(spec, 256)
    (program,) = programs.config_programs(config, mesh)
    program.lower('tpu')
    note = sharding.fallback_note(boxed_abstract_state(pretrain_program(config)), mesh,
                                  sharding.DEFAULT_RULES)
    assert 'embed 384 not divisible by fsdp' in note and 'MiB per chip' in note
    assert program.per_device_batch == 12


def test_batch_that_does_not_split_is_a_clear_error():
    config = _config('vith16_384')  # 2400 clips do not split 64 ways
    mesh = sharding.abstract_mesh([('data', 1), ('fsdp', 64), ('tensor', 1)], 64)
    with pytest.raises(programs.BatchSplitError, match='global batch 2400 does not split'):
        programs.config_programs(config, mesh)


def test_tensor_parallel_over_heads_divides_for_the_official_sizes():
    for name in PRETRAIN:
        setup = pretrain_program(_config(name)).setup
        for t in (2, 4, 8, 16):
            for module in (setup.encoder, setup.predictor):
                assert module.num_heads % t == 0, (name, type(module).__name__, t)
            assert setup.encoder.mlp_dim % t == 0

"""Mesh, logical-axis rules, shardings, and host-local -> global batches.

The models name every param and key activation with logical axes (``batch``,
``tokens``, ``embed``, ``mlp``, ``heads``, ``head_dim``, ``layers``,
``classes``); one rules table maps them to the mesh axes ``data``, ``fsdp``
and ``tensor``. Changing the parallelism is a config edit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from vjepa_jax import sharding_plan

PyTree = Any
Rules = sharding_plan.Rules

MESH_AXES = ('data', 'fsdp', 'tensor')

# Batch over data x fsdp; params fully sharded over fsdp along their width
# (ZeRO-3 style) and over tensor along MLP hidden units and heads. A mesh axis
# is used at most once per array: flax skips a rule whose mesh axis is taken,
# so activations ``[batch, tokens, embed]`` keep ``embed`` whole.
DEFAULT_RULES: Rules = (
    ('batch', ('data', 'fsdp')),
    ('embed', 'fsdp'),
    ('mlp', 'tensor'),
    ('heads', 'tensor'),
    ('head_dim', None),
    ('tokens', None),
    ('layers', None),
    ('classes', None),
)


def mesh_shape(spec: Sequence[tuple[str, int]], num_devices: int) -> tuple[int, ...]:
    """Resolves ``[('data', -1), ('fsdp', 1), ('tensor', 1)]`` for ``num_devices`` devices.

    At most one size may be -1 (it takes what the others leave). Errors say
    what to change when the sizes do not multiply to the device count.
    """
    names = [name for name, _ in spec]
    sizes = [int(size) for _, size in spec]
    if len(set(names)) != len(names):
        raise ValueError(f'Mesh axes {names} repeat a name.')
    if sizes.count(-1) > 1:
        raise ValueError(f'Mesh {list(spec)}: at most one axis may be -1.')
    if any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f'Mesh {list(spec)}: sizes must be positive, or -1 to fill.')
    fixed = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % fixed:
            raise ValueError(f'Mesh {list(spec)}: the fixed sizes multiply to {fixed}, which '
                             f'does not divide the {num_devices} devices.')
        sizes[sizes.index(-1)] = num_devices // fixed
    elif fixed != num_devices:
        raise ValueError(f'Mesh {list(spec)} needs {fixed} devices but {num_devices} are '
                         'available; set one axis to -1 or change the sizes.')
    return tuple(sizes)


def make_mesh(spec: Sequence[tuple[str, int]] = (('data', -1), ('fsdp', 1), ('tensor', 1)),
              devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with Auto axis types (recent JAX defaults ``make_mesh`` to Explicit).

    Devices of several slices (multi-slice TPU: devices carry ``slice_index``)
    give a hybrid mesh: the first axis (``data``) spans the slices over DCN and
    the other axes stay inside a slice, on ICI.
    """
    devices = list(devices) if devices is not None else jax.devices()
    shape = mesh_shape(spec, len(devices))
    names = tuple(name for name, _ in spec)
    types = (AxisType.Auto,) * len(names)
    slices = num_slices(devices)
    if slices > 1:
        if shape[0] % slices:
            raise ValueError(f'Mesh {dict(zip(names, shape))} over {slices} slices: the first '
                             f'axis ({names[0]!r}) spans the slices, so its size {shape[0]} must '
                             f'be a multiple of {slices}.')
        from jax.experimental import mesh_utils

        per_slice = (shape[0] // slices, *shape[1:])
        dcn = (slices,) + (1,) * (len(shape) - 1)
        grid = mesh_utils.create_hybrid_device_mesh(per_slice, dcn, devices,
                                                    allow_split_physical_axes=True)
        return Mesh(grid, names, axis_types=types)
    try:
        return jax.make_mesh(shape, names, axis_types=types, devices=devices)
    except (ValueError, NotImplementedError):
        # Shapes that do not follow the physical torus (e.g. tensor=8 on a 4x4x8 slice).
        from jax.experimental import mesh_utils

        grid = mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
        return Mesh(grid, names, axis_types=types)


def num_slices(devices: Sequence[jax.Device]) -> int:
    """Distinct ``slice_index`` values among ``devices`` (1 off multi-slice TPU)."""
    return len({getattr(d, 'slice_index', 0) or 0 for d in devices}) or 1


def abstract_mesh(spec: Sequence[tuple[str, int]], num_devices: int) -> jax.sharding.AbstractMesh:
    """A device-free mesh of ``spec`` for ``num_devices`` (lowering checks; nothing compiles)."""
    shape = mesh_shape(spec, num_devices)
    names = tuple(name for name, _ in spec)
    return jax.sharding.AbstractMesh(shape, names, axis_types=(AxisType.Auto,) * len(names))


def rules_from_config(rules: Sequence[Sequence[Any]] | None) -> Rules:
    """Config rules (lists from a ConfigDict, or None for the defaults) -> a hashable tuple."""
    if rules is None:
        return DEFAULT_RULES
    out = []
    for rule in rules:
        if len(rule) != 2:
            raise ValueError(f'Sharding rule {rule!r} must be (logical_name, mesh_axes).')
        name, axes = rule
        if isinstance(axes, list | tuple):
            axes = tuple(axes)
        out.append((str(name), axes))
    return tuple(out)


def logical_shardings(boxed: PyTree, mesh: Mesh, rules: Rules) -> PyTree:
    """``NamedSharding`` for every leaf of a tree whose params carry logical boxes.

    Unboxed leaves (step counters, keys) are replicated. A dim that its mesh
    axes do not divide falls back by rule (``sharding_plan``): another dim of
    the array, else replication; ``fallback_note`` says which.
    """
    specs, _ = sharding_plan.plan_specs(boxed, dict(mesh.shape), rules)
    return jax.tree_util.tree_map(lambda s: NamedSharding(mesh, s), specs,
                                  is_leaf=lambda x: isinstance(x, PartitionSpec))


def fallback_note(boxed: PyTree, mesh: Mesh, rules: Rules) -> str:
    """The banner line for ``logical_shardings``'s fallbacks on ``mesh`` ('' when none)."""
    _, fallbacks = sharding_plan.plan_specs(boxed, dict(mesh.shape), rules)
    return sharding_plan.describe_fallbacks(fallbacks)


def batch_axes(rules: Rules) -> Any:
    """Mesh axes the ``batch`` logical axis maps to."""
    return nn.logical_to_mesh_axes(('batch',), rules)[0]


def batch_sharding(mesh: Mesh, rules: Rules) -> NamedSharding:
    """Leading (batch) axis split over the batch mesh axes, the rest whole."""
    return NamedSharding(mesh, PartitionSpec(batch_axes(rules)))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def planned_batch_split(spec: Sequence[tuple[str, int]], rules: Rules,
                        num_devices: int) -> tuple[int, dict[str, int]]:
    """``(ways the batch is split, {axis: size})`` of a mesh spec, before any mesh exists.

    For config validation; raises ``mesh_shape``'s ``ValueError`` for a bad spec.
    """
    sizes = dict(zip([name for name, _ in spec], mesh_shape(spec, num_devices)))
    axes = batch_axes(rules)
    axes = (axes,) if isinstance(axes, str) else (axes or ())
    return math.prod(sizes.get(a, 1) for a in axes), sizes


def data_parallel_size(mesh: Mesh, rules: Rules) -> int:
    """How many ways the batch axis is split."""
    axes = batch_axes(rules)
    if axes is None:
        return 1
    axes = (axes,) if isinstance(axes, str) else axes
    return math.prod(mesh.shape[a] for a in axes)


def host_to_global(batch: PyTree, mesh: Mesh, rules: Rules) -> PyTree:
    """Process-local batch (NumPy, leading axis = this process's samples) -> global arrays.

    The one place where host data becomes sharded ``jax.Array``s: every leaf is
    split along its leading axis over the batch mesh axes. On one process this
    is a sharded ``device_put``; on many, each process passes its own slice and
    the global batch is ``num_processes`` times larger.
    """
    sharding = batch_sharding(mesh, rules)
    ways = data_parallel_size(mesh, rules)

    def put(x):
        x = np.asarray(x)
        global_rows = x.shape[0] * jax.process_count()
        if global_rows % ways:
            raise ValueError(f'Global batch {global_rows} is not divisible by the '
                             f'data-parallel size {ways} (mesh {dict(mesh.shape)}); change '
                             'the batch size or the mesh.')
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree_util.tree_map(put, batch)

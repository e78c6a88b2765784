"""Param partition specs by rule, for any mesh: dims a mesh axis does not divide fall back.

The logical rules say where each param dim *should* go (``embed -> fsdp``).
On a mesh where an axis does not divide that dim (the predictor's width 384
on ``fsdp=256``) ``jax.jit`` would refuse to lower. Instead, per array:

1. keep, of the dim's mesh axes, the longest prefix whose product divides it;
2. move the axes left over to another dim of the same array that they divide
   together with what that dim already has (the largest such dim first);
3. else replicate the array along them.

Every fallback is recorded, so the run's banner can say in one line what got
moved or replicated and what it costs per chip.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import PartitionSpec

PyTree = Any
Rules = tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class Fallback:
    """One array whose rule-given layout did not divide.

    ``axes``: mesh axes that did not fit on ``dim`` (size ``dim_size``, logical
    name ``logical``); ``moved_to``: the dim they went to, or None when the
    array is replicated along them; ``extra_bytes``: bytes per chip above the
    rule-given layout.
    """

    path: str
    shape: tuple[int, ...]
    logical: str | None
    dim_size: int
    axes: tuple[str, ...]
    moved_to: int | None
    extra_bytes: int


def _as_tuple(axes: Any) -> tuple[str, ...]:
    if axes is None:
        return ()
    return (axes,) if isinstance(axes, str) else tuple(axes)


def _spec_entry(axes: tuple[str, ...]) -> Any:
    if not axes:
        return None
    return axes[0] if len(axes) == 1 else axes


def fit_spec(shape: Sequence[int], names: Sequence[str | None], mesh_sizes: Mapping[str, int],
             rules: Rules) -> tuple[PartitionSpec, list[tuple[int, tuple[str, ...], int | None]]]:
    """The partition spec of one array on a mesh, with fallbacks for dims that do not divide.

    Args:
      shape: the array's shape.
      names: its logical dim names (``None`` for an unnamed dim).
      mesh_sizes: mesh axis name -> size.
      rules: logical rules (``sharding.DEFAULT_RULES`` style).

    Returns:
      ``(spec, fallbacks)`` with one ``(dim, leftover_axes, moved_to_dim_or_None)``
      per dim whose rule-given axes did not divide it.
    """
    wanted = nn.logical_to_mesh_axes(tuple(names), rules)
    dims = [list(_as_tuple(a)) for a in wanted]
    dims += [[] for _ in range(len(shape) - len(dims))]
    for d in dims:  # axes the mesh does not have (e.g. a rule for 'tensor' on a 2-axis mesh)
        d[:] = [a for a in d if a in mesh_sizes]

    def ways(axes: Sequence[str]) -> int:
        return math.prod(mesh_sizes[a] for a in axes)

    fallbacks = []
    for i, axes in enumerate(dims):
        if shape[i] % ways(axes) == 0:
            continue
        keep = list(axes)
        while keep and shape[i] % ways(keep):
            keep.pop()
        leftover = tuple(a for a in axes if a not in keep)
        dims[i] = keep
        # Size-1 axes never fail to divide; drop them from the leftover.
        leftover = tuple(a for a in leftover if mesh_sizes[a] > 1)
        if not leftover:
            continue
        # Never the scanned 'layers' dim: each scan iteration would gather its slice.
        candidates = [j for j in range(len(shape)) if j != i
                      and (j >= len(names) or names[j] != 'layers')
                      and shape[j] % (ways(dims[j]) * ways(leftover)) == 0]
        target = max(candidates, key=lambda j: (not dims[j], shape[j], -j), default=None)
        if target is not None:
            dims[target] = dims[target] + list(leftover)
        fallbacks.append((i, leftover, target))
    return PartitionSpec(*[_spec_entry(tuple(d)) for d in dims]), fallbacks


def _path_str(path) -> str:
    return '/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k))))
                    for k in path)


def _shards(spec: PartitionSpec, mesh_sizes: Mapping[str, int]) -> int:
    return math.prod(mesh_sizes[a] for entry in spec for a in _as_tuple(entry))


def plan_specs(boxed: PyTree, mesh_sizes: Mapping[str, int],
               rules: Rules) -> tuple[PyTree, list[Fallback]]:
    """``PartitionSpec`` per leaf of a (possibly abstract) tree whose params carry logical boxes.

    Unboxed leaves (step counters, keys) are replicated. Returns the spec tree
    (same structure as the unboxed tree) and every fallback taken.
    """
    is_box = lambda x: isinstance(x, nn.LogicallyPartitioned)
    fallbacks: list[Fallback] = []

    def one(path, leaf):
        if not is_box(leaf):
            return PartitionSpec()
        value = leaf.value
        shape = tuple(value.shape)
        names = tuple(leaf.names)
        spec, taken = fit_spec(shape, names, mesh_sizes, rules)
        if taken:
            intended = nn.logical_to_mesh_axes(names, rules)
            ideal = math.prod(mesh_sizes.get(a, 1) for e in intended for a in _as_tuple(e))
            nbytes = int(np.prod(shape)) * np.dtype(value.dtype).itemsize
            extra = nbytes // _shards(spec, mesh_sizes) - nbytes // max(ideal, 1)
            for dim, leftover, target in taken:
                fallbacks.append(Fallback(_path_str(path), shape, names[dim] if dim < len(names)
                                          else None, shape[dim], leftover, target,
                                          extra if dim == taken[0][0] else 0))
        return spec

    specs = jax.tree_util.tree_map_with_path(one, boxed, is_leaf=is_box)
    return specs, fallbacks


def describe_fallbacks(fallbacks: Sequence[Fallback]) -> str:
    """One line for the run's banner: what did not divide, what moved or got replicated, cost.

    Empty string when every param took its rule-given layout.
    """
    if not fallbacks:
        return ''
    groups: dict[tuple[str | None, int, tuple[str, ...]], list[Fallback]] = {}
    for f in fallbacks:
        groups.setdefault((f.logical, f.dim_size, f.axes), []).append(f)
    parts = []
    for (logical, size, axes), items in groups.items():
        moved = sum(f.moved_to is not None for f in items)
        replicated = len(items) - moved
        what = []
        if moved:
            what.append(f'{moved} sharded along another dim')
        if replicated:
            what.append(f'{replicated} replicated over {"x".join(axes)}')
        parts.append(f'{logical or "unnamed"} {size} not divisible by {"x".join(axes)} '
                     f'({len(items)} arrays: {", ".join(what)})')
    extra = sum(f.extra_bytes for f in fallbacks)
    return f'sharding fallbacks: {"; ".join(parts)}; +{extra / 2**20:.1f} MiB per chip'

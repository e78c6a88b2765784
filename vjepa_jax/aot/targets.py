"""Accelerator targets by the names users type (``v5p-256``), as compile-only devices.

The ``libtpu`` wheel (``pip install 'vjepa_jax[tpu]'``) gives compile-only TPU
devices for any generation and slice shape on a CPU machine
(``jax.experimental.topologies.get_topology_desc``); nothing runs on them,
but the TPU compiler lays out the real program and reports its memory. Names
follow Cloud TPU: v4 and v5p count TensorCores (2 per chip, one megacore
device per chip), v5e and v6e count chips.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re

GiB = 2**30


class TargetError(ValueError):
    """An unknown target name, or compile-only devices that cannot be had here."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One accelerator slice (or several identical slices) to compile for.

    ``hbm_bytes``: memory per device as the TPU compiler budgets it (its
    out-of-memory messages say e.g. ``95.74G`` on v5p); ``peak_bf16_flops``:
    dense bfloat16 peak per device, for step-time bounds.
    """

    name: str
    platform: str
    topology: str          # get_topology_desc's topology_name, e.g. 'v5:4x4x8'
    chip_config: str       # 'megacore' or 'default'
    devices_per_slice: int
    num_slices: int
    hbm_bytes: int
    peak_bf16_flops: float
    device_kind: str

    @property
    def num_devices(self) -> int:
        return self.devices_per_slice * self.num_slices


# generation -> (topology prefix, chip config, HBM per device in GiB as libtpu budgets it,
#                dense bf16 peak per chip, device kind, name counts cores?)
_GENERATIONS = {
    'v4': ('v4', 'megacore', 30.75, 275e12, 'TPU v4', True),
    'v5p': ('v5', 'megacore', 95.74, 459e12, 'TPU v5', True),
    'v5e': ('v5e', 'default', 15.75, 197e12, 'TPU v5 lite', False),
    'v6e': ('v6e', 'default', 31.25, 918e12, 'TPU v6 lite', False),
}

# Chips -> slice shape (Cloud TPU's published slice shapes).
_SHAPES_3D = {4: '2x2x1', 8: '2x2x2', 16: '2x2x4', 32: '2x4x4', 64: '4x4x4', 128: '4x4x8',
              256: '4x8x8', 512: '8x8x8', 1024: '8x8x16', 2048: '8x16x16'}
_SHAPES_2D = {1: '1x1', 4: '2x2', 8: '2x4', 16: '4x4', 32: '4x8', 64: '8x8', 128: '8x16',
              256: '16x16'}


def known_names() -> list[str]:
    """Every accepted target name, e.g. ``['v4-8', ..., 'v6e-256']``."""
    names = []
    for gen, (*_, counts_cores) in _GENERATIONS.items():
        shapes = _SHAPES_3D if counts_cores else _SHAPES_2D
        names += [f'{gen}-{chips * 2 if counts_cores else chips}' for chips in shapes]
    return names


def get_target(name: str, num_slices: int = 1) -> Target:
    """The target of a user-typed name (``v5p-256``, ``v5litepod-256`` = ``v5e-256``)."""
    if num_slices < 1:
        raise TargetError(f'--num-slices must be >= 1, got {num_slices}.')
    canonical = re.sub(r'^v5litepod-', 'v5e-', name.strip().lower())
    m = re.fullmatch(r'(v4|v5p|v5e|v6e)-(\d+)', canonical)
    if m is None or canonical not in known_names():
        raise TargetError(f'Unknown topology {name!r}. Known: {", ".join(known_names())}.')
    gen, count = m.group(1), int(m.group(2))
    prefix, chip_config, hbm_gib, peak, kind, counts_cores = _GENERATIONS[gen]
    chips = count // 2 if counts_cores else count
    shape = (_SHAPES_3D if counts_cores else _SHAPES_2D)[chips]
    return Target(name=canonical, platform='tpu', topology=f'{prefix}:{shape}',
                  chip_config=chip_config, devices_per_slice=chips, num_slices=num_slices,
                  hbm_bytes=int(hbm_gib * GiB), peak_bf16_flops=peak, device_kind=kind)


def libtpu_available() -> bool:
    return importlib.util.find_spec('libtpu') is not None


def prepare_environment() -> None:
    """Environment for compile-only TPU devices; call before JAX initialises a backend.

    CPU as the default platform (never look for a real TPU), no cloud metadata
    lookups, and one quiet libtpu startup; parallel processes may share libtpu.
    """
    os.environ.setdefault('JAX_PLATFORMS', 'cpu')
    os.environ.setdefault('TPU_SKIP_MDS_QUERY', '1')
    os.environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
    os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
    # libtpu logs harmless host-bound lookups at ERROR through absl / glog.
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('GLOG_minloglevel', '3')


def compile_only_devices(target: Target) -> list:
    """The target's compile-only devices (a list of ``jax.Device``), slice by slice."""
    if target.platform == 'tpu' and not libtpu_available():
        raise TargetError("Compiling for TPU needs the libtpu wheel: pip install 'vjepa_jax[tpu]' "
                          '(about 700 MB installed).')
    from jax.experimental import topologies

    kwargs = {'num_slices': target.num_slices} if target.num_slices > 1 else {}
    topo = topologies.get_topology_desc(platform=target.platform, topology_name=target.topology,
                                        chip_config_name=target.chip_config, **kwargs)
    devices = list(topo.devices)
    if len(devices) != target.num_devices:
        raise TargetError(f'{target.name}: libtpu gave {len(devices)} devices, expected '
                          f'{target.num_devices}.')
    return devices

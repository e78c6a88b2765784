"""Accelerator targets by the names users type (``v5p-256``, ``h100-8``), as compile-only devices.

The ``libtpu`` wheel (``pip install 'vjepa_jax[tpu]'``) gives compile-only TPU
devices for any generation and slice shape on a CPU machine
(``jax.experimental.topologies.get_topology_desc``); nothing runs on them,
but the TPU compiler lays out the real program and reports its memory. Names
follow Cloud TPU: v4 and v5p count TensorCores (2 per chip, one megacore
device per chip), v5e and v6e count chips.

GPU hosts (``h100-8``, ``h200-8``, ``h100-64`` = 8 hosts of 8) come from the
CUDA plugin (``jax-cuda12-plugin`` and ``jax-cuda12-pjrt`` of the installed
jax version; no driver or GPU needed) with a ``GpuTargetConfig`` of the GPU
(``gpu_specs/``). The GPU compiler does not refuse a program over the device
memory: the check compares its memory figures with the HBM itself.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from pathlib import Path

from vjepa_jax.errors import ConfigError

GiB = 2**30


class TargetError(ConfigError):
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
    chip_config: str       # TPU: 'megacore' or 'default'; GPU: its gpu_specs/ file
    devices_per_slice: int
    num_slices: int
    hbm_bytes: int
    peak_bf16_flops: float
    device_kind: str

    @property
    def num_devices(self) -> int:
        return self.devices_per_slice * self.num_slices

    @property
    def compiler_checks_memory(self) -> bool:
        """TPU compiles fail when over HBM; GPU compiles only report their memory."""
        return self.platform == 'tpu'


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


# GPU -> (target config file, device memory in bytes as CUDA reports it, dense bf16 peak, kind)
_GPUS = {
    'h100': ('h100_sxm.txtpb', 85520809984, 989e12, 'NVIDIA H100 80GB HBM3'),
    'h200': ('h200_sxm.txtpb', 150754820096, 989e12, 'NVIDIA H200'),
}
_GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
GPUS_PER_HOST = 8


def known_names() -> list[str]:
    """Every accepted target name, e.g. ``['v4-8', ..., 'v6e-256', 'h100-8', ...]``."""
    names = []
    for gen, (*_, counts_cores) in _GENERATIONS.items():
        shapes = _SHAPES_3D if counts_cores else _SHAPES_2D
        names += [f'{gen}-{chips * 2 if counts_cores else chips}' for chips in shapes]
    names += [f'{gpu}-{n}' for gpu in _GPUS for n in _GPU_COUNTS]
    return names


def _gpu_target(gpu: str, count: int, num_slices: int) -> Target:
    if num_slices != 1:
        raise TargetError(f'--num-slices is for TPU slices; for {count * num_slices} GPUs ask for '
                          f'{gpu}-{count * num_slices}.')
    spec, memory, peak, kind = _GPUS[gpu]
    hosts, per_host = max(1, count // GPUS_PER_HOST), min(count, GPUS_PER_HOST)
    return Target(name=f'{gpu}-{count}', platform='cuda', topology=f'1x{hosts}x{per_host}',
                  chip_config=spec, devices_per_slice=count, num_slices=1, hbm_bytes=memory,
                  peak_bf16_flops=peak, device_kind=kind)


def get_target(name: str, num_slices: int = 1) -> Target:
    """The target of a user-typed name (``v5p-256``, ``v5litepod-256`` = ``v5e-256``)."""
    if num_slices < 1:
        raise TargetError(f'--num-slices must be >= 1, got {num_slices}.')
    canonical = re.sub(r'^v5litepod-', 'v5e-', name.strip().lower())
    if canonical in known_names() and canonical.split('-')[0] in _GPUS:
        gpu, count = canonical.split('-')
        return _gpu_target(gpu, int(count), num_slices)
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


def cuda_plugin_available() -> bool:
    return importlib.util.find_spec('jax_cuda12_plugin') is not None


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
    from jax.experimental import topologies

    if target.platform == 'cuda':
        if not cuda_plugin_available():
            raise TargetError(
                'Compiling for GPUs needs the CUDA plugin of your jax version (no driver or GPU '
                'needed): pip install "jax-cuda12-plugin==X" "jax-cuda12-pjrt==X" with X = '
                'python -c "import jax; print(jax.__version__)".')
        config = (Path(__file__).parent / 'gpu_specs' / target.chip_config).read_text()
        topo = topologies.get_topology_desc(platform='cuda', topology=target.topology,
                                            target_config=config)
        devices = list(topo.devices)
    else:
        if not libtpu_available():
            raise TargetError("Compiling for TPU needs the libtpu wheel: pip install "
                              "'vjepa_jax[tpu]' (about 700 MB installed).")
        prepare_environment()
        kwargs = {'num_slices': target.num_slices} if target.num_slices > 1 else {}
        topo = topologies.get_topology_desc(platform=target.platform,
                                            topology_name=target.topology,
                                            chip_config_name=target.chip_config, **kwargs)
        devices = list(topo.devices)
    if len(devices) != target.num_devices:
        raise TargetError(f'{target.name}: the compiler gave {len(devices)} devices, expected '
                          f'{target.num_devices}.')
    return devices

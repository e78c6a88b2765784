"""Fit check: compile a config's real step for a TPU pod slice, ahead of time, on this machine.

  python -m vjepa_jax.compile_check --config experiments/pretrain/vitl16.py \\
      --topology v5p-256 [--num-slices 2] [--mesh data=1,fsdp=-1,tensor=1] \\
      [--config.batch_size=2048] [--max-batch] [--json fit.json]
      [--encoder L/16 --encoder-family vjepa2]   # probe configs: the checkpoint stand-in

Builds the very jitted step that ``python -m vjepa_jax.main`` would run (the
pretraining step; for probe configs the probe job's feature, update and
evaluation functions) over compile-only TPU devices from the ``libtpu`` wheel
(``pip install 'vjepa_jax[tpu]'``), compiles it with the TPU compiler and
prints, per chip: argument / output / temporary / peak bytes against the chip's
HBM, the per-chip batch, analytic FLOPs, the collectives in the compiled
program, and the compile time. ``--max-batch`` bisects for the largest
per-chip batch that fits. A program that does not fit ends with one line and
exit status 1; a user mistake (unknown topology, a mesh that does not divide
the batch) with one line and exit status 2; a compiler failure that gives no
verdict (XLA's GPU compiler without a device fails on ViT-L) with one line and
exit status 3.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import jax
from absl import app, flags
from ml_collections import config_flags

from vjepa_jax.aot import targets
from vjepa_jax.config_lib import FAMILIES
from vjepa_jax.errors import ConfigError

# CPU as the default platform, no cloud metadata lookups, quiet and shareable libtpu.
# ``python -m`` has imported JAX with the package already, so set the platform by config.
targets.prepare_environment()
jax.config.update('jax_platforms', os.environ['JAX_PLATFORMS'])

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file (path[:arg]).',
                                          lock_config=True)
_TOPOLOGY = flags.DEFINE_string('topology', None, 'Target, e.g. v5p-256, v5e-256, v6e-256, v4-128, '
                                'or a GPU host: h100-8, h200-8 (needs the CUDA plugin).')
_NUM_SLICES = flags.DEFINE_integer('num-slices', 1, 'Identical slices (multi-slice over DCN).')
_MESH = flags.DEFINE_string('mesh', '', 'Mesh override, e.g. data=2,fsdp=-1,tensor=1 '
                            '(default: the config\'s mesh).')
_JSON = flags.DEFINE_string('json', '', 'Also write the figures to this JSON file.')
_MAX_BATCH = flags.DEFINE_boolean('max-batch', False,
                                  'Bisect for the largest per-chip batch that fits.')
_EXACT = flags.DEFINE_boolean('exact', False, 'Default compiler effort (slower; exact memory) '
                              'instead of the fastest compile.')
_ENCODER = flags.DEFINE_string('encoder', 'L/16', 'Probe configs: the encoder variant of the '
                               'checkpoint (L/16, H/16, ...).')
_ENCODER_FAMILY = flags.DEFINE_enum('encoder-family', '', ['', *FAMILIES],
                                    'Probe configs: V-JEPA 1 or 2 encoder (default: the recipe\'s, '
                                    'V-JEPA 2 for probe.kind vjepa2 or encoder.out_layers).')


class UserError(ConfigError):
    """A mistake in the command line; printed as one line, exit status 2."""


def parse_mesh(text: str) -> list[tuple[str, int]]:
    """``'data=2,fsdp=-1,tensor=1'`` -> ``[('data', 2), ('fsdp', -1), ('tensor', 1)]``."""
    out = []
    for part in text.split(','):
        name, sep, size = part.strip().partition('=')
        if not sep or not name:
            raise UserError(f'--mesh {text!r}: write axis=size pairs, e.g. data=2,fsdp=-1,tensor=1.')
        try:
            out.append((name.strip(), int(size)))
        except ValueError:
            raise UserError(f'--mesh {text!r}: size {size!r} of {name!r} is not an integer.') from None
    return out


def _gib(n: float) -> str:
    return f'{n / 2**30:.2f} GiB'


def describe(result, target) -> list[str]:
    """Report lines of one compile result."""
    r = result
    lines = [(f'{r.name}: global batch {r.global_batch}, {r.per_device_batch} per chip, '
              f'compiled in {r.compile_s:.1f} s')]
    if r.argument_bytes or r.temp_bytes:
        lines.append(f'  memory per chip: args {_gib(r.argument_bytes)}, out {_gib(r.output_bytes)} '
                     f'(aliased {_gib(r.alias_bytes)}), temp {_gib(r.temp_bytes)}, '
                     f'peak {_gib(r.peak_bytes)}')
    checked = ('' if target.compiler_checks_memory else
               ' (GPU memory is reported by the compiler, not checked by it)')
    if not r.fits:
        need = f'needs {_gib(r.needed_bytes)}' if r.needed_bytes else 'does not fit'
        lines.append(f'  DOES NOT FIT: {need} of {_gib(r.hbm_bytes)} per chip{checked}')
        return lines
    c = r.collectives
    return lines + [
        (f'  bound {_gib(r.bound_bytes)} of {_gib(r.hbm_bytes)} HBM: fits, headroom '
         f'{_gib(r.headroom_bytes)} ({100 * r.headroom_bytes / r.hbm_bytes:.0f}%){checked}'),
        (f'  FLOPs (analytic): {r.flops:.3e} per step, {r.flops_per_device:.3e} per chip; at '
         f'peak {r.flops_per_device / target.peak_bf16_flops * 1e3:.1f} ms per step per chip'),
        '  collectives in the program: ' + ', '.join(f'{k} {v}' for k, v in c.items()),
    ]


def probe_encoder_line(config, variant: str, family: str = '') -> str:
    """What encoder a probe config's programs are built with (the checkpoint stands in)."""
    from vjepa_jax.aot.programs import probe_encoder_family

    fam = probe_encoder_family(config, family)
    layers = config.encoder.get('out_layers') if fam == 'vjepa2' else None
    joined = f', blocks {list(layers)} each through the norm, joined' if layers else ''
    origin = '' if family else ' (family from the recipe; --encoder-family to change)'
    return f'probe encoder: {"V-JEPA 2" if fam == "vjepa2" else "V-JEPA 1"} {variant}{joined}{origin}'


def _advice(config) -> str:
    tips = []
    if config.mode == 'pretrain' and config.model.remat_policy != 'full':
        tips.append('--config.model.remat_policy=full')
    tips.append('a smaller --config.batch_size')
    tips.append('more fsdp (e.g. --mesh data=1,fsdp=-1,tensor=1)')
    return ', '.join(tips)


def child_argv(argv: list[str], global_batch: int, json_path: str) -> list[str]:
    """The parent's flags for one batch-search try: no search, this batch, this report file."""
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ('--json', '-json'):
            skip = True  # its value is the next word
        elif not a.lstrip('-').startswith(('max-batch', 'nomax-batch', 'json=')):
            keep.append(a)
    return [*keep, f'--config.batch_size={global_batch}', '--json', json_path]


def _isolated_try(argv: list[str], index: int, global_batch: int, hbm_bytes: int):
    """One batch-search compile in a child process: a compiler crash is a result, not our end.

    libtpu 0.0.42 segfaults on some programs far above the HBM (ViT-L at 58 clips per
    v5e chip) instead of reporting the OOM; such a try counts as not fitting.
    """
    import subprocess
    import tempfile

    from vjepa_jax.aot.compile_report import CompileResult

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'try.json')
        proc = subprocess.run([sys.executable, '-m', 'vjepa_jax.compile_check',
                               *child_argv(argv, global_batch, out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode in (0, 1) and os.path.isfile(out):
            with open(out) as f:
                entry = json.load(f)['programs'][index]
            fields = {k: v for k, v in entry.items()
                      if k not in ('bound_bytes', 'headroom_bytes', 'max_per_chip_batch')}
            return CompileResult(**fields)
    crash = CompileResult('', global_batch, 0, fits=False, compile_s=0.0, hbm_bytes=hbm_bytes)
    crash.oom_message = f'the compiler crashed (exit status {proc.returncode}); counted as not fitting'
    return crash


def run_check(config, target_name: str, num_slices: int = 1, mesh_text: str = '',
              max_batch: bool = False, fast: bool = True, encoder: str = 'L/16',
              say=print, argv: list[str] | None = None,
              encoder_family: str = '') -> dict[str, Any]:
    """Compiles every program of ``config`` for the target; returns the JSON-able report.

    ``encoder`` / ``encoder_family``: the probed encoder of a probe config
    (``programs.probe_encoder_family``: the recipe's family when empty).

    ``argv``: the command line that gave ``config``; with it, each ``max_batch`` try
    runs in a child process (a compiler crash then ends only that try).
    """
    from vjepa_jax import sharding
    from vjepa_jax.aot import compile_report, programs

    target = targets.get_target(target_name, num_slices)
    spec = parse_mesh(mesh_text) if mesh_text else [tuple(a) for a in config.mesh]
    try:
        sharding.mesh_shape(spec, target.num_devices)
    except ValueError as e:
        raise UserError(f'{e} ({target.name} x {num_slices} has {target.num_devices} chips)') from None
    t0 = time.perf_counter()
    devices = targets.compile_only_devices(target)
    try:
        mesh = sharding.make_mesh(spec, devices)
    except ValueError as e:
        raise UserError(str(e)) from None
    slices = f' x {num_slices} slices' if num_slices > 1 else ''
    say(f'target {target.name}{slices}: {target.num_devices} x {target.device_kind} '
        f'({_gib(target.hbm_bytes)} HBM each); mesh {dict(mesh.shape)}; devices in '
        f'{time.perf_counter() - t0:.1f} s')

    def build(global_batch=None):
        try:
            return programs.config_programs(config, mesh, global_batch=global_batch,
                                            encoder_variant=encoder,
                                            encoder_family=encoder_family)
        except programs.BatchSplitError as e:
            raise UserError(str(e)) from None

    progs = build()
    if config.mode == 'probe':
        say(probe_encoder_line(config, encoder, encoder_family))
    for note in {p.sharding_note for p in progs if p.sharding_note}:
        say(note)
    report = {'config': config.to_dict(), 'target': target.name, 'platform': target.platform,
              'memory_checked_by_compiler': target.compiler_checks_memory,
              'num_slices': num_slices,
              'chips': target.num_devices, 'device_kind': target.device_kind,
              'hbm_bytes_per_chip': target.hbm_bytes, 'mesh': dict(mesh.shape),
              'compiler_effort': 'fast' if fast else 'default', 'programs': []}
    if config.mode == 'probe':
        report['encoder'] = {'variant': encoder,
                             'family': programs.probe_encoder_family(config, encoder_family)}
    for index, prog in enumerate(progs):
        say(f'compiling {prog.name} ...', flush=True)
        result = compile_report.compile_program(prog, target.hbm_bytes, fast=fast)
        for line in describe(result, target):
            say(line)
        entry = result.as_dict()
        if max_batch and result.per_device_batch:
            ways = prog.global_batch // prog.per_device_batch

            def compile_at(b, index=index, ways=ways):
                if argv is not None:
                    r = _isolated_try(argv, index, b * ways, target.hbm_bytes)
                else:
                    r = compile_report.compile_program(build(b * ways)[index], target.hbm_bytes,
                                                       fast=fast)
                verdict = 'fits' if r.fits else (r.oom_message if 'crashed' in r.oom_message
                                                 else 'does not fit')
                say(f'  try {b} per chip: {verdict} ({r.compile_s:.1f} s)', flush=True)
                return r

            best, tries = compile_report.largest_batch(compile_at, result)
            say(f'  largest batch that fits: {best} per chip ({best * ways} global), '
                f'{len(tries)} more compiles')
            entry['max_per_chip_batch'] = best
        report['programs'].append(entry)
    report['fits'] = all(p['fits'] for p in report['programs'])
    return report


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if _CONFIG.value is None or not _TOPOLOGY.value:
        raise app.UsageError('Give --config experiments/...py[:arg] and --topology (e.g. v5p-256).')
    report = run_check(_CONFIG.value, _TOPOLOGY.value, _NUM_SLICES.value, _MESH.value,
                       _MAX_BATCH.value, fast=not _EXACT.value, encoder=_ENCODER.value,
                       say=lambda *a, **k: print(*a, **{'flush': True, **k}),
                       argv=sys.argv[1:], encoder_family=_ENCODER_FAMILY.value)
    if _JSON.value:
        with open(_JSON.value, 'w') as f:
            json.dump(report, f, indent=2, default=repr)
            f.write('\n')
    bad = [p for p in report['programs'] if not p['fits']]
    if bad:
        p = bad[0]
        need = _gib(p['needed_bytes']) if p['needed_bytes'] else _gib(p['bound_bytes'])
        print(f'error: {p["name"]} does not fit on {report["target"]}: needs {need} of '
              f'{_gib(p["hbm_bytes"])} per chip; try {_advice(_CONFIG.value)}.', file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """Entry point: a user mistake exits 2, a compiler failure without a verdict 3 (``errors``)."""
    from vjepa_jax.config_overrides import parse_flags
    from vjepa_jax.errors import cli_exit

    cli_exit(lambda: app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags))


if __name__ == '__main__':
    run()

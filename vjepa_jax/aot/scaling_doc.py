"""Writes ``docs/scaling.md``: every official recipe compiled for the pod slices users rent.

  python -m vjepa_jax.aot.scaling_doc --out docs/scaling.md [--only vitl16] [--no-max-batch]

Each row is one ``compile_check.run_check`` (fast compiler effort); the raw
reports go to ``--json-dir`` so a row can be rechecked with the command it
prints. Long: each ViT-L / ViT-H compile takes minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from vjepa_jax.config_lib import load_experiment

RECIPES = {
    'vitl16': ('experiments/pretrain/vitl16.py', None, 'L/16'),
    'vith16': ('experiments/pretrain/vith16.py', None, 'H/16'),
    'vith16_384': ('experiments/pretrain/vith16_384.py', None, 'H/16'),
    'k400 probe (ViT-L)': ('experiments/probe/k400.py', None, 'L/16'),
    'ssv2 probe (ViT-L)': ('experiments/probe/ssv2.py', None, 'L/16'),
}
TOPOLOGIES = (('v5p-128', 1), ('v5p-256', 1), ('v5p-512', 1), ('v5e-256', 1), ('v6e-256', 1),
              ('v5p-256', 2))
# Where the largest batch is searched: on v5e-256 it is a few clips per chip and compiles in a
# few minutes; on 95 GiB v5p chips each compile near the limit takes many minutes here.
MAX_BATCH_ON = ('v5e-256',)
# Probe jobs: four programs each; compiled on the two slices the fit check must pass on.
PROBE_TOPOLOGIES = (('v5p-256', 1), ('v5e-256', 1))


# GPU hosts (CUDA plugin): the official per-GPU batch (3072 clips on 128 GPUs; 2400 on 240
# at 384 px) on one host of 8. The GPU compiler reports memory but does not refuse.
GPU_TOPOLOGIES = (('h100-8', 1), ('h200-8', 1))
OFFICIAL_GPUS = {3072: 128, 2400: 240}


def plan(names: list[str]) -> list[tuple[str, str, int]]:
    """(recipe, topology, slices) in the order to compile: v5p-256 and v5e-256 first."""
    first, rest = [], []
    for name in names:
        tops = PROBE_TOPOLOGIES if 'probe' in name else TOPOLOGIES
        for topology, slices in tops:
            key = (name, topology, slices)
            (first if (topology, slices) in PROBE_TOPOLOGIES else rest).append(key)
    gpu = [(n, t, k) for n in names if 'probe' not in n for t, k in GPU_TOPOLOGIES]
    return first + rest + gpu


def mesh_for(chips: int, global_batch: int) -> str:
    """The mesh a pod user starts from: FSDP over every chip the batch can split over, the rest
    tensor-parallel (e.g. 2400 clips on 256 chips: fsdp 32 x tensor 8)."""
    ways = math.gcd(chips, global_batch)
    return f'data=1,fsdp={ways},tensor={chips // ways}'


def _gib(n: float) -> str:
    return f'{n / 2**30:.2f}'


def run_cli(args: list[str], json_path: Path) -> dict:
    """One ``compile_check`` in a child process (a compiler crash loses only this attempt)."""
    json_path.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, '-m', 'vjepa_jax.compile_check', *args,
                           '--json', str(json_path)], capture_output=True, text=True,
                          check=False)
    for line in proc.stdout.splitlines():
        print('   ', line, flush=True)
    if proc.returncode not in (0, 1) or not json_path.is_file():
        tail = (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
        raise RuntimeError(f'compile_check {" ".join(args)} failed ({proc.returncode}): {tail}')
    return json.loads(json_path.read_text())


def _cli_args(path: str, arg: str | None, topology: str, slices: int, mesh: str, encoder: str,
              overrides: list[str], max_batch: bool) -> list[str]:
    args = ['--config', path + (f':{arg}' if arg else ''), '--topology', topology,
            '--num-slices', str(slices), '--mesh', mesh, '--encoder', encoder, *overrides]
    return args + (['--max-batch'] if max_batch else [])


def _check(config, path: str, arg: str | None, topology: str, slices: int, mesh: str,
           max_batch: bool, encoder: str, overrides: list[str], scratch: Path) -> dict:
    may_fall_back = config.mode == 'pretrain' and config.model.remat_policy != 'full'
    # No batch search at a remat that may not fit: it would bisect a setting we then drop.
    report = run_cli(_cli_args(path, arg, topology, slices, mesh, encoder, overrides,
                               max_batch and not may_fall_back), scratch)
    report['experiment_arg'] = arg
    if report['fits'] and max_batch and may_fall_back:
        report = run_cli(_cli_args(path, arg, topology, slices, mesh, encoder, overrides, True),
                         scratch)
        report['experiment_arg'] = arg
    if not report['fits'] and may_fall_back:
        # The recipe's own remat does not fit: record that, then the fallback a user would take.
        needs = [p['needed_bytes'] for p in report['programs']]
        arg = f'{arg + "," if arg else ""}remat=full'
        report = run_cli(_cli_args(path, arg, topology, slices, mesh, encoder, overrides,
                                   max_batch), scratch)
        report.update(experiment_arg=arg, recipe_remat_needs=needs)
    return report


def rows_for(name: str, topology: str, slices: int, max_batch: bool, json_dir: Path,
             reuse: bool = True, compile_missing: bool = True) -> dict | None:
    """One recipe on one target: its report (reused from ``json_dir`` when there) and command."""
    from vjepa_jax.aot import targets

    path, arg, encoder = RECIPES[name]
    config = load_experiment(path, arg)
    target = targets.get_target(topology, slices)
    overrides = []
    if target.platform == 'cuda':
        per_gpu = config.batch_size // OFFICIAL_GPUS[config.batch_size]
        config.batch_size = per_gpu * target.num_devices
        overrides = [f'--config.batch_size={config.batch_size}']
    mesh = mesh_for(target.num_devices, config.batch_size)
    if slices > 1:  # the data axis spans the slices
        ways = math.gcd(target.num_devices // slices, config.batch_size // slices)
        mesh = f'data={slices},fsdp={ways},tensor={target.num_devices // slices // ways}'
    saved = json_dir / f'{name.split()[0]}_{topology}_x{slices}.json'
    if reuse and saved.is_file():
        report = json.loads(saved.read_text())
    else:
        t0 = time.perf_counter()
        if not compile_missing or (overrides and not targets.cuda_plugin_available()):
            return None
        report = _check(config, path, arg, topology, slices, mesh, max_batch, encoder,
                        overrides, json_dir / 'attempt.json')
        report['wall_s'] = time.perf_counter() - t0
        saved.write_text(json.dumps(report, indent=2, default=repr) + '\n')
    arg = report.get('experiment_arg', arg)
    command = (f'python -m vjepa_jax.compile_check --config {path}{":" + arg if arg else ""} '
               f'--topology {topology}' + (f' --num-slices {slices}' if slices > 1 else '')
               + f' --mesh {mesh}' + (f' --encoder {encoder}' if 'probe' in name else '')
               + ''.join(' ' + o for o in overrides) + (' --max-batch' if max_batch else ''))
    return {'name': name, 'topology': topology, 'slices': slices, 'mesh': mesh,
            'report': report, 'command': command}


def render(rows: list[dict], started: str, elapsed: float) -> str:
    lines = [
        '# Scaling: every official recipe compiled for TPU pod slices',
        '',
        (f'Generated by `python -m vjepa_jax.aot.scaling_doc` on {started} '
        f'({platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'{elapsed / 60:.0f} min), with compile-only TPU devices from libtpu '
        '(`pip install \'vjepa_jax[tpu]\'`) and the fastest compiler effort '
        '(`exec_time_optimization_effort=-1`; memory reads a few percent high, the safe side).'),
        '',
        'Before launching on a pod, run the same check for your config:',
        '',
        '```bash',
        ('python -m vjepa_jax.compile_check --config experiments/pretrain/vitl16.py '
         '--topology v5p-256 --mesh data=1,fsdp=-1,tensor=1 --max-batch'),
        '```',
        '',
        ('Figures are per chip; *per chip* is the batch shard, global batch / (data x fsdp) '
         '(with `tensor` > 1 the chips of one tensor group share it). *bound* = arguments + outputs - donated + temporaries (what the '
        'program can hold at once); the TPU compiler refuses a program over the HBM, so '
        '"fits" is its verdict. FLOPs are analytic (`train/flops.py`), per chip per step; '
        '*at peak* is that over the chip\'s dense bf16 peak (a lower bound on the step time). '
        'Collectives are ops in the compiled program (a scanned layer\'s count once). '
        '*max batch* is the largest per-chip batch that compiles (bisection), '
        'searched on v5e-256 (on v5p each compile near the limit takes many minutes on this '
        'machine; run `--max-batch` there yourself). Probe jobs are compiled on v5p-256 and '
        'v5e-256. GPU rows (8 x H100 / H200, one host, the official per-GPU batch) come from the '
        'CUDA plugin\'s compile-only devices (`pip install jax-cuda12-plugin==X '
        'jax-cuda12-pjrt==X`, X = your jax version); the GPU compiler reports memory but '
        'does not refuse a program over it, so "fits" there is the bound against the memory.'),
        '',
    ]
    by_recipe: dict[str, list[dict]] = {}
    for r in rows:
        by_recipe.setdefault(r['name'], []).append(r)
    for name, items in by_recipe.items():
        lines += [f'## {name}', '']
        first = items[0]['report']
        if first['config'].get('mode') == 'pretrain':
            m = first['config']['model']
            lines.append(f'{m["variant"]}, {m["num_frames"]} x {m["crop_size"]}^2, global batch '
                         f'{first["config"]["batch_size"]}, {m["dtype"]}, scan_layers '
                         f'{m["scan_layers"]}, remat `{m["remat_policy"]}`.')
        else:
            d = first['config']['clip']
            lines.append(f'{d["frames_per_clip"]} frames x {d["num_segments"]} segments x '
                         f'{d["num_views_per_segment"]} views at {d["crop_size"]}^2, global batch '
                         f'{first["config"]["batch_size"]}; one row per function of the probe job.')
        lines += ['', ('| target | mesh | program | per chip | args | temp | peak | bound | '
                       'HBM | fits (headroom) | max batch | TFLOP / chip / step | at peak ms | '
                       'AG / RS / AR / A2A / CP | compile s |'),
                  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
        for r in items:
            rep = r['report']
            target = r['topology'] + (f' x {r["slices"]}' if r['slices'] > 1 else '')
            if rep.get('recipe_remat_needs'):
                needs = max(rep['recipe_remat_needs'])
                target += (f' (recipe remat `dots` needs {_gib(needs)} GiB; row with '
                           '`remat=full`)')
            for p in rep['programs']:
                c = p['collectives'] or {}
                coll = ' / '.join(str(c.get(k, '-')) for k in
                                  ('all-gather', 'reduce-scatter', 'all-reduce', 'all-to-all',
                                   'collective-permute'))
                fits = (f'yes ({_gib(p["headroom_bytes"])})' if p['fits'] else
                        f'**no**: needs {_gib(p["needed_bytes"])}')
                if not rep.get('memory_checked_by_compiler', True):
                    fits += ' (GPU: reported, not checked)'
                peak = {'v5p': 459e12, 'v5e': 197e12, 'v6e': 918e12, 'v4': 275e12,
                        'h100': 989e12, 'h200': 989e12}[r['topology'].split('-')[0]]
                lines.append(
                    f'| {target} | {r["mesh"]} | {p["name"]} | {p["per_device_batch"]} | '
                    f'{_gib(p["argument_bytes"])} | {_gib(p["temp_bytes"])} | '
                    f'{_gib(p["peak_bytes"])} | {_gib(p["bound_bytes"])} | '
                    f'{_gib(p["hbm_bytes"])} | {fits} | {p.get("max_per_chip_batch", "")} | '
                    f'{p["flops_per_device"] / 1e12:.1f} | '
                    f'{p["flops_per_device"] / peak * 1e3:.0f} | {coll} | {p["compile_s"]:.0f} |')
        lines += ['', 'Commands:', '']
        lines += [f'- `{r["command"]}`' for r in items]
        lines.append('')
    lines += _summary(rows) + FINDINGS.splitlines()
    return '\n'.join(lines)


def _summary(rows: list[dict]) -> list[str]:
    """Which recipe needed which remat where (from the rows), as a list."""
    out = ['## Remat and scan', '']
    for r in rows:
        rep = r['report']
        if rep['config'].get('mode') != 'pretrain':
            continue
        remat = rep['config']['model']['remat_policy']
        target = r['topology'] + (f' x {r["slices"]}' if r['slices'] > 1 else '')
        fits = all(p['fits'] for p in rep['programs'])
        if rep.get('recipe_remat_needs'):
            need = max(rep['recipe_remat_needs'])
            out.append(f'- {r["name"]} on {target}: the recipe\'s `remat=dots` needs '
                       f'{_gib(need)} GiB per chip; `remat=full` '
                       + ('fits.' if fits else 'does not fit either.'))
        else:
            out.append(f'- {r["name"]} on {target}: `remat={remat}` '
                       + ('fits.' if fits else 'does not fit.'))
    out += ['', ('Every official recipe scans its layers (`scan_layers=True`); the rows above '
                 'were not compiled without scan.'), '']
    return out


FINDINGS = '''## Findings (measured 2026-12-02, libtpu 0.0.42.1, jax 0.10.2)

- **Any mesh lowers.** On `fsdp=256` the predictor's width 384 does not divide: its
  arrays take `fsdp` on another dim (the MLP's 1536) or stay whole, by rule
  (`vjepa_jax/sharding_plan.py`), and the banner says so (+81 MiB per chip for ViT-L's
  state on v5e-256). The always-on tests lower every recipe on abstract meshes of
  64 ... 1024 chips (`tests/aot/test_pod_lowering.py`; the whole grid with `pytest -m slow`).
- **The official batch of the 384 px recipe (2400) does not split over a power-of-two
  pod**: 2400 = 2^5 x 75, so the batch axes can take at most 32 ways and the rest of a
  256-chip slice goes to `tensor` (here `fsdp=32, tensor=8`). A batch of 2048 or 2560
  splits fully.
- **vith16_384 does not fit on v5e-256**, at any batch near the official one. At 2400 the
  mesh is `fsdp=32, tensor=8`: 75 clips per batch shard need 27.06 GiB with `remat=full`
  (29 per shard, 928 clips, is the most that fits). A batch that splits over all 256
  chips (`--config.batch_size=2560`, 10 per chip, `fsdp=256`) still needs 26.05 GiB: XLA's
  unfused attention holds the `[clips, 16 heads, 4608, 4608]` float32 scores of a layer
  (1.3 GiB per clip). A fused (flash) attention kernel is what would make it fit (the
  attention issue); sequence parallelism by rule (`('tokens', 'tensor')` after
  `('heads', 'tensor')`) did not help (29.79 GiB). It fits on v5p-256.
- **libtpu 0.0.42.1 segfaults on large batches** (a stack overflow in
  `FusedSpatialMajorConvolution::MakeConvWindows`, the patch-embedding convolution):
  ViT-L and ViT-H on v5e-256 both compile at 38 clips per chip and crash from 39 on,
  although memory grows about linearly (3.3-3.6 GiB at 12 per chip) and 39 would stay
  well under the 15.75 GiB. The
  batch search counts a crash as "does not fit", so *max batch* is the largest batch
  that compiles with this libtpu, not an HBM limit.
- **Collectives.** In the scanned ViT-L step the TPU compiler expresses FSDP's
  parameter gathers and gradient reductions as `all-reduce` ops (27-31 ops in the
  program, each once although the scan body runs per layer); the tiny unscanned step on
  `fsdp=4` shows `all-gather` ops instead.
- **GPU hosts**: the CUDA plugin's compile-only H100 / H200 devices compile the tiny step
  (`tests/aot/test_tpu_compile.py`), but XLA's GPU compiler fails on the ViT-L step
  without a device (`INTERNAL: Couldn't find output tile sizes that satisfy hlo: %dot ...
  bf16[8760,1024]`, in the attention projection; also with Triton GEMMs and autotuning
  off), so there are no GPU rows; `compile_check` ends such a run with one line and
  exit status 3.
- **Compile time**: 1.5-5 min per ViT-L or ViT-H step at the fast effort on this machine (with
  other jobs running); an out-of-memory verdict comes back in 10-95 s.
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='docs/scaling.md')
    parser.add_argument('--json-dir', default='runs/scaling')
    parser.add_argument('--only', action='append', default=[],
                        help='recipe name prefix (repeatable); default: all')
    parser.add_argument('--no-max-batch', action='store_true')
    parser.add_argument('--render-only', action='store_true',
                        help='write the page from the reports in --json-dir; compile nothing')
    parser.add_argument('--fresh', action='store_true',
                        help='recompile rows whose report is already in --json-dir')
    args = parser.parse_args(argv)
    json_dir = Path(args.json_dir)
    json_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.date.today().isoformat()
    t0 = time.perf_counter()
    rows = []
    names = [n for n in RECIPES if not args.only or any(n.startswith(o) for o in args.only)]
    for name, topology, slices in plan(names):
        search = not args.no_max_batch and slices == 1 and topology in MAX_BATCH_ON \
            and 'probe' not in name
        print(f'{name} on {topology} x {slices} ...', flush=True)
        try:
            row = rows_for(name, topology, slices, search, json_dir, reuse=not args.fresh,
                           compile_missing=not args.render_only)
        except RuntimeError as e:  # the compiler failed without a verdict: no row
            print(f'  no row: {e}', flush=True)
            continue
        if row is None:
            print('  skipped: no report (--render-only) or no CUDA plugin', flush=True)
            continue
        fits = all(p['fits'] for p in row['report']['programs'])
        print(f'  {"fits" if fits else "DOES NOT FIT"} ({row["report"].get("wall_s", 0):.0f} s)',
              flush=True)
        rows.append(row)
        order = {key: i for i, key in enumerate(
            (n, t, k) for n in names for t, k in TOPOLOGIES + GPU_TOPOLOGIES)}
        rows.sort(key=lambda r: order[(r['name'], r['topology'], r['slices'])])
        Path(args.out).write_text(render(rows, started, time.perf_counter() - t0) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

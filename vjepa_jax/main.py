"""Command line: ``python -m vjepa_jax.main --config experiments/pretrain/tiny.py[:arg] --workdir DIR``.

Every field of the (locked) config can be overridden with ``--config.field=value``,
e.g. ``--config.batch_size=64 --config.data.num_workers=2``, tuples as Python
literals (``--config.mesh="(('data',2),('fsdp',-1),('tensor',1))"``) or one
flag per element (docs/running.md). A misspelt field or a value of the wrong
type prints one line and exits 2 (``config_overrides``). ``config.mode`` picks
what runs: ``pretrain`` (``experiments/pretrain/``) or ``probe`` (frozen-encoder
attentive probes, ``experiments/probe/``).

Multi-host: ``jax.distributed.initialize`` runs first when the environment
describes several processes (TPU pod slices and SLURM are detected by JAX), or
from ``--coordinator_address --num_processes --process_id``.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file (path[:arg]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (checkpoints, logs).')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None,
                                   'host:port of process 0 (explicit multi-host setup).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes in the job.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process (0-based).')
_NUM_CPU_DEVICES = flags.DEFINE_integer('num_cpu_devices', None,
                                        'Fake CPU devices per process (testing).')


def _initialize_distributed() -> None:
    import jax

    if _NUM_CPU_DEVICES.value:
        jax.config.update('jax_num_cpu_devices', _NUM_CPU_DEVICES.value)
    explicit = _COORDINATOR.value is not None
    if explicit:
        # CPU collectives across processes (only the CPU backend reads this).
        jax.config.update('jax_cpu_collectives_implementation', 'gloo')
        jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                                   num_processes=_NUM_PROCESSES.value,
                                   process_id=_PROCESS_ID.value)
    elif (int(os.environ.get('SLURM_NTASKS', '1')) > 1
          or ',' in os.environ.get('TPU_WORKER_HOSTNAMES', '')):
        # SLURM jobs and multi-worker TPU slices: JAX reads the cluster from the environment.
        jax.distributed.initialize()

def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if _CONFIG.value is None or _WORKDIR.value is None:
        raise app.UsageError('Give --config experiments/...py[:arg] and --workdir DIR.')
    logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)
    # Orbax and grain log every checkpoint step at INFO; keep the console to our lines.
    absl_logging.set_verbosity(absl_logging.WARNING)
    _initialize_distributed()
    config = _CONFIG.value
    if config.mode == 'pretrain':
        from vjepa_jax.train.loop import run_pretraining

        result = run_pretraining(config, _WORKDIR.value)
    elif config.mode == 'probe':
        import jax

        from vjepa_jax.evaluation.job import RESULTS_FILE, run_probe_job

        result = run_probe_job(config, _WORKDIR.value)
        best = result['best']
        if jax.process_index() == 0:
                print(f'probe finished: best top-1 {best["top1"]:.2f} (top-5 {best["top5"]:.2f}) '
                  f'with lr {best["lr"]:g}, weight decay {best["weight_decay"]:g} on '
                  f'{result["num_val"]} validation examples; results in '
                  f'{os.path.join(os.path.abspath(_WORKDIR.value), RESULTS_FILE)}')
        return 0
    else:
        raise app.UsageError(f'config.mode {config.mode!r} is not supported (use "pretrain" '
                             'or "probe").')
    import jax

    if jax.process_index() == 0:
        what = 'stopped (preemption) at' if result['preempted'] else 'finished at'
        print(f'{what} step {result["step"]}; checkpoints in {result["checkpoints"]}, '
              f'metrics in {result["workdir"]}/metrics.jsonl and '
              f'{result["workdir"]}/tensorboard/')
    return 0


def run() -> None:
    """Entry point: user mistakes and clean stops print one line (``errors.cli_exit``), no traceback."""
    from vjepa_jax.config_overrides import parse_flags
    from vjepa_jax.errors import cli_exit

    cli_exit(lambda: app.run(main, flags_parser=parse_flags))


if __name__ == '__main__':
    run()

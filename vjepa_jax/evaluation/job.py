"""The probe job of ``python -m vjepa_jax.main`` (``config.mode == 'probe'``).

``run_probe_job(config, workdir)``: the config built (``evaluation.config.build``),
a frozen encoder from any checkpoint kind (``frozen_encoder``, or the same
architecture at random init), the probe grid of ``config.optimizer`` trained on
its features (``probe_loop.train_probes``) and evaluated on the validation split every
``eval_every_epochs`` epochs. As pretraining (milestone 4): the workdir holds
``checkpoints/<step>`` (probe state, data iterator state, config; one per
``checkpoint.every_epochs`` epochs, so a killed job resumes at its last
epoch), ``metrics.jsonl``, TensorBoard events and ``config.json``; the result
goes to ``WORKDIR/results.json`` (``read_results``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vjepa_jax import checkpointing, metrics, sharding
from vjepa_jax.errors import DataError
from vjepa_jax.evaluation import config as probe_config_lib
from vjepa_jax.evaluation import probe_loop, probe_state, probe_steps
from vjepa_jax.evaluation.frozen_encoder import load_frozen_encoder
from vjepa_jax.evaluation.probe_data import probe_batches
from vjepa_jax.input.bad_input import BadInputMonitor
from vjepa_jax.models.param_count import param_count

RESULTS_FILE = 'results.json'


class ResultsMissingError(DataError, FileNotFoundError):
    """A workdir without the ``results.json`` of a finished probe job."""


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_results(workdir: str | os.PathLike) -> dict[str, Any]:
    """``WORKDIR/results.json`` of a finished probe job."""
    path = Path(workdir) / RESULTS_FILE
    if not path.is_file():
        raise ResultsMissingError(f'{path} does not exist: the probe job in {workdir} has not '
                                'finished (run it, or resume it with the same command).')
    return json.loads(path.read_text())


def _grid_metrics(prefix: str, values: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    return {f'{prefix}/probe{i}': float(v) * scale for i, v in enumerate(np.ravel(values))}


def run_probe_job(config, workdir: str | os.PathLike) -> dict[str, Any]:
    """Runs (or resumes) the probe job of ``config`` in ``workdir``; returns ``read_results``'s dict."""
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    job = probe_config_lib.build(config, jax.device_count(), jax.process_count())
    e = job.encoder
    encoder, params = load_frozen_encoder(e, job.seed)
    mesh = sharding.make_mesh(config.mesh)
    rules = sharding.rules_from_config(config.sharding_rules)
    pc = jax.process_count()
    train_iter, val_batches, spe, data_desc = probe_batches(
        job.data, job.clip, local_batch=job.batch_size // pc,
        local_eval_batch=job.eval_batch_size // pc, seed=job.seed,
        process_index=jax.process_index(), process_count=pc)

    recipe = job.optimizer
    setup, state = probe_state.probe_setup(
        encoder, job.data.num_classes, recipe, job.probe, spe, mesh,
        attend_across_segments=job.clip.attend_across_segments, seed=job.seed)
    params = jax.device_put(params, sharding.replicated(mesh))
    total = setup.schedules[0].total_steps
    hparams = [{'lr': lr, 'weight_decay': wd} for lr, wd in recipe.grid]

    ckpt = checkpointing.TrainCheckpointer(workdir, every_steps=spe * job.checkpoint.every_epochs,
                                           keep=job.checkpoint.keep,
                                           async_save=job.checkpoint.async_save)
    start = ckpt.latest_step() or 0
    if start:
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
        state = ckpt.restore(start, abstract, train_iter)
    writer = metrics.MetricsWriter(workdir, total_steps=total, clips_per_step=config.batch_size)
    writer.truncate_after(start + 1)
    probe_params = param_count(state.params)
    writer.banner(config=config, mesh=mesh, global_batch=config.batch_size,
                  param_counts={'frozen encoder': param_count(params),
                                f'{len(hparams)} probes': probe_params})
    say = print if jax.process_index() == 0 else (lambda *_, **__: None)
    origin = 'random init' if e.random_init else f'{e.which} of {e.checkpoint}'
    say(f'probe: encoder {origin}; {data_desc}; {spe} steps/epoch x '
        f'{recipe.num_epochs:g} epochs = {total} steps; start at step {start}', flush=True)

    monitor = BadInputMonitor()

    def on_log(step, m):
        host = {'loss': float(np.min(m['loss'])), 'lr': float(m['lr'][0]),
                'weight_decay': float(m['wd'][0]),
                **_grid_metrics('loss', m['loss']), **_grid_metrics('train_top1', m['top1'], 100),
                **monitor.metrics()}
        writer.write(step, host)
        writer.log_progress(step, host)

    def on_eval(step, result):
        writer.write(step, {'epoch': result['epoch'],
                            'val_top1_best': float(np.max(result['top1'])),
                            **_grid_metrics('val_top1', result['top1']),
                            **_grid_metrics('val_top5', result['top5'])})
        say(probe_loop.eval_line(result, hparams), flush=True)

    def on_epoch_end(step, state):
        if ckpt.due(step) or step == total:
            ckpt.save(step, state, train_iter, config.to_dict())

    fns = probe_steps.jit_probe_fns(encoder, setup, mesh, rules)
    state, history = probe_loop.train_probes(
        state, params, train_iter, val_batches, total_steps=total, steps_per_epoch=spe,
        fns=fns, mesh=mesh, rules=rules, start_step=start, log_every=job.log_every,
        eval_every_epochs=job.eval_every_epochs, on_log=on_log, on_eval=on_eval,
        on_epoch_end=on_epoch_end, monitor=monitor)
    if not history:  # resumed after the last step: evaluate the finished probes again
        with jax.set_mesh(mesh):
            result = probe_loop.evaluate_probes(state, params, val_batches, fns[0], fns[2], mesh,
                                           rules)
        history = [{'epoch': math.ceil(total / spe), 'step': total, **result}]
        on_eval(total, history[0])
    ckpt.close()
    writer.close()
    results = _plain({**probe_loop.summarize(history, hparams),
                      'encoder': {'checkpoint': os.path.abspath(e.checkpoint), 'which': e.which,
                                  'random_init': bool(e.random_init)},
                      'num_classes': job.data.num_classes, 'steps': total,
                      'history': history})
    if jax.process_index() == 0:
        (workdir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + '\n')
    return results

"""The pretraining loop: data -> step -> log -> checkpoint, with resume and preemption.

Resume order: the workdir's latest checkpoint (state and every process's data
iterator), else ``config.init_from`` (our checkpoint directory or an official
``.pth.tar``), else a fresh init. Schedules and masks are functions of the
step, so a resumed run continues the exact sequence of an uninterrupted one.
SIGTERM (a preemption notice) makes the loop save after the current step
(with several processes: at the next log or checkpoint step, where they agree)
and return. The host syncs with the device only at log and checkpoint steps.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax import checkpointing, metrics, sharding
from vjepa_jax.errors import RunStopped
from vjepa_jax.input.bad_input import BadInputMonitor
from vjepa_jax.input.index import mix_indices
from vjepa_jax.input.pipeline import (
    FrameGroup,
    grouped_pretraining_dataset,
    pretraining_dataset,
    split_batch,
)
from vjepa_jax.masks import mask_set_counts
from vjepa_jax.models.param_count import param_count
from vjepa_jax.train import config as config_lib
from vjepa_jax.train.init_from import load_init_params
from vjepa_jax.train.program import boxed_abstract_state, pretrain_program
from vjepa_jax.train.state import create_train_state
from vjepa_jax.train.step import jit_train_step

logger = logging.getLogger(__name__)


class NonFiniteLossError(RunStopped, FloatingPointError):
    """The loss became NaN or infinite."""


class _Preemption:
    """SIGTERM sets a flag; the loop saves and returns at the next step boundary."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no signal handling
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True
        logger.warning('SIGTERM received: saving a checkpoint after this step, then exiting.')

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def agreed(self) -> bool:
        """True when any process was asked to stop (all processes agree)."""
        if jax.process_count() == 1:
            return self.requested
        from jax.experimental import multihost_utils
        flags = multihost_utils.process_allgather(np.asarray([self.requested]))
        return bool(np.any(flags))


@jax.jit
def _first_bad(first_bad, step, loss):
    """Step of the first non-finite loss so far (-1 if none), kept on device."""
    return jnp.where((first_bad < 0) & ~jnp.isfinite(loss), step, first_bad)


def run_pretraining(config, workdir: str | Path) -> dict[str, Any]:
    """Pretrains as ``config`` says, in ``workdir``; returns a small summary."""
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    sections = config_lib.validate(config, jax.device_count(), jax.process_count())
    program = pretrain_program(config, sections)
    setup, samplers, rules = program.setup, list(program.samplers), program.rules
    encoder, predictor = setup.encoder, setup.predictor
    mesh = sharding.make_mesh(config.mesh)
    boxed = boxed_abstract_state(program, config.seed)
    state, shardings = create_train_state(encoder, predictor, config.seed, mesh, rules,
                                          sections.optimizer, abstract=boxed)
    total = sections.num_steps

    clip = sections.data
    index = mix_indices(list(clip.index_files), weights=clip.weights and list(clip.weights),
                        seed=config.seed)
    procs = {'process_index': jax.process_index(), 'process_count': jax.process_count(),
             'num_workers': clip.num_workers, 'read_threads': clip.read_threads}
    groups = [FrameGroup(dataclasses.replace(clip, frames_per_clip=frames), tuple(s),
                         clips // jax.process_count())
              for (frames, clips), s in zip(program.groups, program.group_samplers)]
    if len(groups) == 1:
        dataset = pretraining_dataset(index, samplers, groups[0].batch_size, clip=groups[0].clip,
                                      seed=config.seed, **procs)
    else:
        dataset = grouped_pretraining_dataset(index, groups, seed=config.seed, **procs)
    data_iter = iter(dataset)

    ckpt = checkpointing.TrainCheckpointer(workdir, **dataclasses.asdict(sections.checkpoint))
    start = ckpt.latest_step()
    source = 'scratch'
    if start is not None:
        abstract = jax.tree_util.tree_map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
        state = ckpt.restore(start, abstract, data_iter)
        source = f'checkpoint {ckpt.directory / str(start)}'
    else:
        start = 0
        if config.init_from:
            with_opt = bool(config.get('init_optimizer_state'))
            # A V-JEPA 2 file has no position table to tell its crop.
            crop = ({'img_size': encoder.img_size} if sections.model.family == 'vjepa2'
                    else {})
            state = load_init_params(config.init_from, state, shardings,
                                     optimizer_state=with_opt,
                                     num_heads=encoder.num_heads,
                                     num_frames=encoder.num_frames,
                                     predictor_num_heads=predictor.num_heads, **crop)
            source = f'init_from {config.init_from}' + (' with its Adam moments' if with_opt
                                                        else '')
    last_good = start if source.startswith('checkpoint') else None

    counts = mask_set_counts(samplers)
    if len(groups) > 1:
        counts = {f'{frames} frames': mask_set_counts(s)
                  for (frames, _), s in zip(program.groups, program.group_samplers)}
    step_flops = program.flops_per_step()
    peak = (config.peak_tflops_per_device * 1e12 * jax.device_count()
            if config.peak_tflops_per_device else None)
    writer = metrics.MetricsWriter(workdir, total_steps=total, peak_flops_per_s=peak,
                                   flops_per_step=step_flops, clips_per_step=config.batch_size)
    writer.truncate_after(start + 1)  # lines of steps after the checkpoint are replayed
    writer.banner(config=config, mesh=mesh, global_batch=config.batch_size,
                  param_counts={'encoder': param_count(state.params['encoder']),
                                'predictor': param_count(state.params['predictor'])},
                  sharding_note=sharding.fallback_note(boxed, mesh, rules))
    if jax.process_index() == 0:
        print(f'start: step {start} from {source}; mask counts (context, target) {counts}',
              flush=True)

    step_fn = jit_train_step(setup, mesh, rules, shardings)
    monitor = BadInputMonitor(clip.bad_fraction_threshold)
    first_bad = jnp.asarray(-1, jnp.int32)
    step = start
    preempted = False
    with _Preemption() as preemption:
        while step < total:
            batch = next(data_iter)
            device_batch, attempts, bad = split_batch(batch)
            monitor.update(attempts, bad)
            state, step_metrics = step_fn(state, sharding.host_to_global(device_batch, mesh,
                                                                         rules))
            first_bad = _first_bad(first_bad, step, step_metrics['loss'])
            step += 1
            log_now = step % config.log_every == 0 or step == total
            # Orbax decides every step (a regular save point, or the job's
            # preemption sync point, where all processes stop together). Our
            # own SIGTERM flag is agreed across processes by a collective (a
            # host sync), so many processes only check it at log and save steps.
            due = ckpt.should_save(step)
            preempted = ckpt.reached_preemption(step)
            if not preempted and (jax.process_count() == 1 or log_now or due):
                preempted = preemption.agreed()
            save_now = due or step == total or preempted
            if log_now or save_now:
                bad_step = int(first_bad)
                if bad_step >= 0:
                    ckpt.wait()
                    where = (f'the last good checkpoint is step {last_good} in {ckpt.directory}'
                             if last_good is not None else 'no checkpoint was written yet')
                    raise NonFiniteLossError(
                        f'Non-finite loss at step {bad_step} (0-based update index); '
                        f'{where}. Lower the learning rate or check the data; no checkpoint '
                        'with non-finite values was written.')
            if log_now:
                host = {k: float(v) for k, v in jax.device_get(step_metrics).items()}
                host.update(monitor.metrics())
                writer.write(step, host)
                writer.log_progress(step, host)
            if save_now:
                ckpt.save(step, state, data_iter, config.to_dict())
                last_good = step
            if preempted:
                break
    ckpt.close()
    writer.close()
    return {'step': step, 'preempted': preempted, 'state': state, 'workdir': str(workdir),
            'checkpoints': str(ckpt.directory), 'started_from': source}

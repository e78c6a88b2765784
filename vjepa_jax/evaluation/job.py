"""The probe job of ``python -m vjepa_jax.main`` (``config.mode == 'probe'``).

``run_probe_job(config, workdir)``: a frozen encoder from any checkpoint kind
(``vjepa_jax.load``, or the same architecture at random init),
the probe grid of ``config.optimizer`` trained on its features
(``probe.train_probes``) and evaluated on the validation split every
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

import flax.linen as nn
import grain
import jax
import numpy as np

from vjepa_jax import checkpointing, metrics, sharding
from vjepa_jax.evaluation import config as probe_config_lib
from vjepa_jax.evaluation import probe, video_data
from vjepa_jax.input import images
from vjepa_jax.input.bad_input import BadInputMonitor
from vjepa_jax.input.index import mix_indices
from vjepa_jax.input.pipeline import prefetch
from vjepa_jax.loading import load

RESULTS_FILE = 'results.json'


def random_encoder_params(encoder: nn.Module, seed: int) -> dict[str, Any]:
    """Freshly initialised params of ``encoder`` (its own init, as for pretraining)."""
    dummy = np.zeros((1, encoder.num_frames, encoder.img_size, encoder.img_size, 3), np.float32)
    params = jax.jit(encoder.init)(jax.random.key(seed), dummy)['params']
    return jax.tree_util.tree_map(np.asarray, nn.meta.unbox(params))


class _Reiterable:
    """Each ``iter()`` is a fresh threaded pass over a finite ``MapDataset``."""

    def __init__(self, ds: grain.MapDataset, read_threads: int | None):
        self.ds, self.read_threads = ds, read_threads

    def __iter__(self):
        return iter(prefetch(self.ds, 0, self.read_threads))


def _images_as_clips(batch: dict[str, Any]) -> dict[str, Any]:
    """Image batches ``{'image' [B, H, W, 3], ...}`` -> one segment and view per image."""
    out = {k: v for k, v in batch.items() if k != 'image'}
    out['clips'] = batch['image'][:, None, None]
    return out


def _datasets(config, local_batch: int, local_eval_batch: int):
    """``(train iterator, re-iterable val batches, steps per epoch, description)``."""
    d = config.data
    pi, pc = jax.process_index(), jax.process_count()
    threads = d.read_threads or None
    if d.kind == 'video':
        clip = probe_config_lib.clip_config(config)
        train_index = mix_indices([f for f in d.train_index if f], seed=config.seed)
        val_index = mix_indices([f for f in d.val_index if f], seed=config.seed)
        train = video_data.training_dataset(train_index, local_batch, clip, seed=config.seed,
                                            process_index=pi, process_count=pc)
        val = video_data.evaluation_dataset(val_index, local_eval_batch, clip, seed=config.seed,
                                            process_index=pi, process_count=pc)
        train_iter = iter(video_data.to_iterator(train, d.num_workers, threads))
        spe = video_data.steps_per_epoch(train_index.num_rows, local_batch, pc)
        what = f'{train_index.num_rows} train / {val_index.num_rows} val videos'
    else:
        image_config = images.ImageConfig(crop_size=d.crop_size)
        data_dir = d.data_dir or None
        train_source = images.probe_source(d.dataset, training=True, data_dir=data_dir)
        val_source = images.probe_source(d.dataset, training=False, data_dir=data_dir)
        train = images.image_batches(train_source, local_batch, training=True,
                                     config=image_config, seed=config.seed, process_index=pi,
                                     process_count=pc).map(_images_as_clips)
        val = images.image_batches(val_source, local_eval_batch, training=False,
                                   config=image_config, process_index=pi,
                                   process_count=pc).map(_images_as_clips)
        train_iter = iter(prefetch(train, d.num_workers, threads))
        spe = len(train_source) // (local_batch * pc)
        what = f'{len(train_source)} train / {len(val_source)} val images ({d.dataset})'
    if spe < 1:
        raise ValueError(f'Invalid config: batch_size {config.batch_size} is larger than the '
                         f'training set ({what}); lower batch_size.')
    return train_iter, _Reiterable(val, threads), spe, what


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
        raise FileNotFoundError(f'{path} does not exist: the probe job in {workdir} has not '
                                'finished (run it, or resume it with the same command).')
    return json.loads(path.read_text())


def _grid_metrics(prefix: str, values: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    return {f'{prefix}/probe{i}': float(v) * scale for i, v in enumerate(np.ravel(values))}


def run_probe_job(config, workdir: str | os.PathLike) -> dict[str, Any]:
    """Runs (or resumes) the probe job of ``config`` in ``workdir``; returns ``read_results``'s dict."""
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    probe_config_lib.validate(config, jax.device_count(), jax.process_count())
    e = config.encoder
    import_kwargs = {'num_frames': e.num_frames}  # the resolution comes from the table
    if e.num_heads:
        import_kwargs['num_heads'] = e.num_heads
    loaded = load(e.checkpoint, which=e.which, dtype=probe_config_lib.encoder_dtype(e.dtype),
                  **import_kwargs)
    encoder, params = loaded.encoder, loaded.encoder_params
    if e.random_init:
        params = random_encoder_params(encoder, config.seed)
    mesh = sharding.make_mesh(config.mesh)
    rules = sharding.rules_from_config(config.sharding_rules)
    pc = jax.process_count()
    local_batch = config.batch_size // pc
    local_eval_batch = (config.eval_batch_size or config.batch_size) // pc
    train_iter, val_batches, spe, data_desc = _datasets(config, local_batch, local_eval_batch)

    recipe = probe_config_lib.optimizer_config(config)
    setup, state = probe.probe_setup(encoder, config.data.num_classes, recipe, spe, mesh)
    params = jax.device_put(params, sharding.replicated(mesh))
    total = setup.schedules[0].total_steps
    hparams = [{'lr': lr, 'weight_decay': wd} for lr, wd in recipe.grid]

    ckpt = checkpointing.TrainCheckpointer(workdir, every_steps=spe * config.checkpoint.every_epochs,
                                           keep=config.checkpoint.keep,
                                           async_save=config.checkpoint.async_save)
    start = ckpt.latest_step() or 0
    if start:
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
        state = ckpt.restore(start, abstract, train_iter)
    writer = metrics.MetricsWriter(workdir, total_steps=total, clips_per_step=config.batch_size)
    writer.truncate_after(start + 1)
    probe_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
    writer.banner(config=config, mesh=mesh, global_batch=config.batch_size,
                  param_counts={'frozen encoder': sum(x.size for x in
                                                     jax.tree_util.tree_leaves(params)),
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
        say(probe.eval_line(result, hparams), flush=True)

    def on_epoch_end(step, state):
        if ckpt.due(step) or step == total:
            ckpt.save(step, state, train_iter, config.to_dict())

    fns = probe.jit_probe_fns(encoder, setup, mesh, rules)
    state, history = probe.train_probes(
        state, params, train_iter, val_batches, total_steps=total, steps_per_epoch=spe,
        fns=fns, mesh=mesh, rules=rules, start_step=start, log_every=config.log_every,
        eval_every_epochs=config.eval_every_epochs, on_log=on_log, on_eval=on_eval,
        on_epoch_end=on_epoch_end, monitor=monitor)
    if not history:  # resumed after the last step: evaluate the finished probes again
        with jax.set_mesh(mesh):
            result = probe.evaluate_probes(state, params, val_batches, fns[0], fns[2], mesh,
                                           rules)
        history = [{'epoch': math.ceil(total / spe), 'step': total, **result}]
        on_eval(total, history[0])
    ckpt.close()
    writer.close()
    results = _plain({**probe.summarize(history, hparams),
                      'encoder': {'checkpoint': os.path.abspath(e.checkpoint), 'which': e.which,
                                  'random_init': bool(e.random_init)},
                      'num_classes': config.data.num_classes, 'steps': total,
                      'history': history})
    if jax.process_index() == 0:
        (workdir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + '\n')
    return results

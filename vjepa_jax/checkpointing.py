"""Our checkpoint directories.

A *model checkpoint* directory (what ``python -m vjepa_jax.tools.convert import``
writes and ``vjepa_jax.load`` reads) holds:

  ``model_config.json``  kind, module configs (keyword arguments of our
                         modules), metadata;
  ``params/``            orbax checkpoint of the params tree
                         (``encoder`` / ``target_encoder`` / ``predictor`` or
                         ``classifier``), float32, unrolled layer layout;
  ``official_tensors.npz`` optional: official tensors that are not params of
                         ours (fixed tables, unused weights), kept so that
                         export reproduces the original file bit for bit.

Directories are written to a temporary sibling and renamed into place, so a
half-written checkpoint never shadows a good one.

A *training workdir* has ``checkpoints/<step>/`` managed by ``TrainCheckpointer``
(train state, data-iterator state of every process, config).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from vjepa_jax.config_sections import ConfigSection

CONFIG_FILE = 'model_config.json'
PARAMS_DIR = 'params'
OFFICIAL_TENSORS_FILE = 'official_tensors.npz'
FORMAT_VERSION = 1


def is_model_checkpoint(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / PARAMS_DIR).is_dir()


def save_model_checkpoint(directory: str | os.PathLike, kind: str, config: dict[str, Any],
                          params: dict[str, Any],
                          official_tensors: dict[str, np.ndarray] | None = None,
                          metadata: dict[str, Any] | None = None,
                          overwrite: bool = False) -> Path:
    """Writes a model checkpoint directory; returns its absolute path.

    Args:
      directory: destination; must not exist unless ``overwrite``.
      kind: ``"pretraining"`` or ``"classifier"``.
      config: JSON-able module configs.
      params: nested dict of arrays.
      official_tensors, metadata: see module docstring.
    """
    directory = Path(directory).absolute()
    if directory.exists() and not overwrite:
        raise FileExistsError(f'{directory} already exists; choose a new directory or pass '
                              'overwrite=True (CLI: --force).')
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{directory.name}.tmp-', dir=directory.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the checkpoint should look like a mkdir
    try:
        ckptr = ocp.StandardCheckpointer()
        ckptr.save(tmp / PARAMS_DIR, jax.device_get(params))
        ckptr.wait_until_finished()
        info = {'format_version': FORMAT_VERSION, 'kind': kind, 'config': config,
                'metadata': metadata or {}}
        (tmp / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + '\n')
        if official_tensors:
            np.savez(tmp / OFFICIAL_TENSORS_FILE, **official_tensors)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_model_checkpoint(directory: str | os.PathLike) -> dict[str, Any]:
    """Reads a model checkpoint directory.

    Returns:
      dict with ``kind``, ``config``, ``metadata``, ``params`` (NumPy arrays)
      and ``official_tensors``.
    """
    directory = Path(directory).absolute()
    if not is_model_checkpoint(directory):
        raise FileNotFoundError(
            f'{directory} is not a vjepa_jax model checkpoint (expected {CONFIG_FILE} and '
            f'{PARAMS_DIR}/ inside). Convert an official .pth.tar with '
            '`python -m vjepa_jax.tools.convert import SRC.pth.tar DIR`.')
    info = json.loads((directory / CONFIG_FILE).read_text())
    if info.get('format_version', 0) > FORMAT_VERSION:
        raise ValueError(f'{directory} was written by a newer vjepa_jax (format '
                         f'{info["format_version"]}); upgrade vjepa_jax to read it.')
    params = ocp.StandardCheckpointer().restore(directory / PARAMS_DIR)
    official_tensors = {}
    if (directory / OFFICIAL_TENSORS_FILE).is_file():
        with np.load(directory / OFFICIAL_TENSORS_FILE, allow_pickle=False) as z:
            official_tensors = {k: z[k] for k in z.files}
    return {'kind': info['kind'], 'config': info['config'],
            'metadata': info.get('metadata', {}), 'params': params,
            'official_tensors': official_tensors}


# --------------------------------------------------------------------------- training runs

STATE_ITEM, DATA_ITEM, CONFIG_ITEM = 'state', 'data', 'config'


@dataclasses.dataclass(frozen=True)
class CheckpointPolicy(ConfigSection):
    """``checkpoint``: when a training run saves and which saves it keeps.

    A save every ``every_steps`` updates (and at the end, and on preemption);
    kept: the last ``keep`` saves plus every save at a multiple of
    ``keep_period`` (None: none kept beyond the last ``keep``).
    """

    every_steps: int = 1000
    keep: int = 3
    keep_period: int | None = None
    async_save: bool = True

    def problems(self) -> list[str]:
        problems = []
        if self.every_steps < 1:
            problems.append(f'checkpoint.every_steps must be >= 1, got {self.every_steps}.')
        if self.keep < 1:
            problems.append(f'checkpoint.keep must be >= 1, got {self.keep}.')
        if self.keep_period is not None and self.keep_period < 1:
            problems.append(f'checkpoint.keep_period {self.keep_period}: give a positive '
                            'number of steps, or None.')
        return problems


def _manager_options(policy: CheckpointPolicy) -> ocp.CheckpointManagerOptions:
    """Orbax options: its save-decision and preservation policies where this orbax has them.

    Saves: every ``every_steps`` (``FixedIntervalPolicy``) or when orbax sees
    the job's preemption sync point (``PreemptionCheckpointingPolicy``; JAX's
    coordination service makes every process see it at the same step).
    Kept: ``LatestN(keep)`` plus ``EveryNSteps(keep_period)``. Older orbax
    versions get the equivalent ``save_interval_steps`` / ``max_to_keep`` /
    ``keep_period`` options.
    """
    policies = getattr(ocp, 'checkpoint_managers', None)
    fields = {f.name for f in dataclasses.fields(ocp.CheckpointManagerOptions)}
    options: dict[str, Any] = {'create': True, 'cleanup_tmp_directories': True,
                               'enable_async_checkpointing': policy.async_save}
    if policies is not None and {'save_decision_policy', 'preservation_policy'} <= fields and all(
            hasattr(policies, n) for n in ('AnySavePolicy', 'FixedIntervalPolicy',
                                           'PreemptionCheckpointingPolicy',
                                           'AnyPreservationPolicy', 'LatestN', 'EveryNSteps')):
        options['save_decision_policy'] = policies.AnySavePolicy([
            policies.FixedIntervalPolicy(policy.every_steps),
            policies.PreemptionCheckpointingPolicy()])
        keep = [policies.LatestN(policy.keep)]
        if policy.keep_period:
            keep.append(policies.EveryNSteps(policy.keep_period))
        options['preservation_policy'] = policies.AnyPreservationPolicy(keep)
    else:
        options.update(save_interval_steps=policy.every_steps, max_to_keep=policy.keep,
                       keep_period=policy.keep_period)
    if 'enable_should_save_is_saving_in_progress_check' in fields:
        # The decision must depend on the step alone, so that every process
        # (and a resumed run) saves at the same steps.
        options['enable_should_save_is_saving_in_progress_check'] = False
    return ocp.CheckpointManagerOptions(**options)


class TrainCheckpointer:
    """The one orbax ``CheckpointManager`` of a training workdir.

    Each step directory ``WORKDIR/checkpoints/<step>/`` holds the train state
    (sharded arrays, every process writes its shards), every process's data
    iterator state (``data/process_<i>-of-<n>.json``) and the config. Saves are
    asynchronous; orbax writes into a temporary directory and renames it when
    complete, so an interrupted save is never listed and never restored.
    When to save and what to keep are orbax's policies (``CheckpointPolicy``,
    whose fields are this constructor's keyword arguments).
    """

    def __init__(self, workdir: str | os.PathLike, *, every_steps: int, keep: int = 3,
                 keep_period: int | None = None, async_save: bool = True):
        self.policy = CheckpointPolicy(every_steps=every_steps, keep=keep,
                                       keep_period=keep_period or None, async_save=async_save)
        self.directory = Path(workdir).absolute() / 'checkpoints'
        self.every_steps = every_steps
        self.manager = ocp.CheckpointManager(self.directory, options=_manager_options(self.policy),
                                             item_names=(STATE_ITEM, DATA_ITEM, CONFIG_ITEM))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def due(self, step: int) -> bool:
        """Whether ``step`` (updates done) is a regular save point."""
        return step % self.every_steps == 0

    def should_save(self, step: int) -> bool:
        """Orbax's decision for ``step``: a regular save point or its preemption sync point.

        Call it at every step on every process (the preemption check is a
        sync point of the job's coordination service).
        """
        return self.manager.should_save(step)

    def reached_preemption(self, step: int) -> bool:
        """Whether the job's preemption sync point is ``step`` (False with one process)."""
        return self.manager.reached_preemption(step)

    def save(self, step: int, state: Any, data_iterator: Any, config: Mapping[str, Any]) -> None:
        """Starts an asynchronous save of ``state`` after ``step`` updates."""
        import grain  # grain's orbax handler; imported here to keep model-only users light

        self.manager.save(step, args=ocp.args.Composite(**{
            STATE_ITEM: ocp.args.StandardSave(state),
            DATA_ITEM: grain.checkpoint.CheckpointSave(data_iterator),
            CONFIG_ITEM: ocp.args.JsonSave(dict(config)),
        }), force=True)

    def restore(self, step: int, abstract_state: Any, data_iterator: Any) -> Any:
        """Restores the state (into ``abstract_state``'s shapes and shardings) and,
        in place, this process's data iterator. Returns the state."""
        import grain

        restored = self.manager.restore(step, args=ocp.args.Composite(**{
            STATE_ITEM: ocp.args.StandardRestore(abstract_state),
            DATA_ITEM: grain.checkpoint.CheckpointRestore(data_iterator),
        }))
        return restored[STATE_ITEM]

    def wait(self) -> None:
        """Blocks until the pending save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

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


class TrainCheckpointer:
    """The one orbax ``CheckpointManager`` of a training workdir.

    Each step directory ``WORKDIR/checkpoints/<step>/`` holds the train state
    (sharded arrays, every process writes its shards), every process's data
    iterator state (``data/process_<i>-of-<n>.json``) and the config. Saves are
    asynchronous; orbax writes into a temporary directory and renames it when
    complete, so an interrupted save is never listed and never restored.
    Kept: the last ``keep`` checkpoints plus every ``keep_period``-th step.
    """

    def __init__(self, workdir: str | os.PathLike, *, every_steps: int, keep: int = 3,
                 keep_period: int | None = None, async_save: bool = True):
        if every_steps < 1:
            raise ValueError(f'checkpoint.every_steps must be >= 1, got {every_steps}.')
        self.directory = Path(workdir).absolute() / 'checkpoints'
        self.every_steps = every_steps
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, keep_period=keep_period or None, create=True,
            enable_async_checkpointing=async_save, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options,
                                             item_names=(STATE_ITEM, DATA_ITEM, CONFIG_ITEM))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def due(self, step: int) -> bool:
        """Whether ``step`` (updates done) is a regular save point."""
        return step % self.every_steps == 0

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

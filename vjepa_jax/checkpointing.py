"""Our checkpoint directories.

A *model checkpoint* directory (what ``python -m vjepa_jax.convert import``
writes and ``vjepa_jax.load_pretrained`` reads) holds:

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
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
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
            '`python -m vjepa_jax.convert import SRC.pth.tar DIR`.')
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

"""A frozen encoder from any kind of checkpoint: ``load_encoder(path) -> (module, params)``.

Three kinds of ``path`` are recognised (feature extraction and the probes share this):

* an official V-JEPA ``.pth.tar`` (pretraining checkpoint), read without torch;
* our model checkpoint directory (``python -m vjepa_jax.convert import`` or
  ``checkpointing.save_model_checkpoint``);
* a training workdir of ``python -m vjepa_jax.main`` (its latest
  ``checkpoints/<step>``), or one step directory ``WORKDIR/checkpoints/<step>``
  (or its ``state`` folder). The encoder is rebuilt from the ``model`` section
  of ``WORKDIR/config.json`` (falling back to the config saved with the step),
  and only the requested encoder's arrays are read from the orbax state: the
  optimiser moments, twice the size of the params, never leave the disk.

``which`` picks ``target_encoder`` (the EMA encoder; what the official
evaluations use, and the default) or ``encoder`` (the online encoder; in a
training state ``params/encoder``). Params come back as host NumPy float32
arrays in the module's layout (stacked ``layers`` when the training config
had ``scan_layers``), ready for ``module.apply({'params': params}, video)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax import checkpointing
from vjepa_jax.errors import CheckpointError
from vjepa_jax.models.builder import build_jepa_models, compute_dtype
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.pretrained import load_pretrained

WHICH = ('target_encoder', 'encoder')
_WHICH_ALIASES = {'target_encoder': 'target_encoder', 'target': 'target_encoder',
                  'encoder': 'encoder', 'params/encoder': 'encoder'}

_WORKDIR_CONFIG = 'config.json'          # written by metrics.MetricsWriter.banner
_CHECKPOINTS_DIR = 'checkpoints'         # checkpointing.TrainCheckpointer
_STEP_CONFIG = Path(checkpointing.CONFIG_ITEM) / 'metadata'  # orbax JsonSave's file


class EncoderLoadError(CheckpointError):
    """A checkpoint that cannot give the requested encoder; the message says why."""


def _canonical_which(which: str) -> str:
    if which not in _WHICH_ALIASES:
        raise EncoderLoadError(f'which={which!r}: use one of {", ".join(WHICH)}.')
    return _WHICH_ALIASES[which]


def _step_dirs(checkpoints: Path) -> list[Path]:
    """Completed step directories, oldest first (orbax temp dirs have non-numeric names)."""
    steps = [p for p in checkpoints.iterdir()
             if p.is_dir() and p.name.isdigit() and (p / checkpointing.STATE_ITEM).is_dir()]
    return sorted(steps, key=lambda p: int(p.name))


def find_train_checkpoint(path: str | os.PathLike) -> tuple[Path, Path] | None:
    """``(workdir, step_dir)`` when ``path`` is a training workdir or one of its steps.

    Accepted: ``WORKDIR`` (latest step), ``WORKDIR/checkpoints`` (latest step),
    ``WORKDIR/checkpoints/<step>`` and ``WORKDIR/checkpoints/<step>/state``.
    Returns None when ``path`` is none of these.

    Raises:
      EncoderLoadError: a workdir whose ``checkpoints/`` holds no finished step.
    """
    path = Path(path).absolute()
    if path.name == checkpointing.STATE_ITEM and path.parent.name.isdigit():
        path = path.parent
    if path.name.isdigit() and (path / checkpointing.STATE_ITEM).is_dir():
        return path.parent.parent, path
    if path.name == _CHECKPOINTS_DIR and path.is_dir():
        path = path.parent
    checkpoints = path / _CHECKPOINTS_DIR
    if not checkpoints.is_dir():
        return None
    steps = _step_dirs(checkpoints)
    if not steps:
        raise EncoderLoadError(f'{checkpoints} holds no finished checkpoint (no '
                               f'<step>/{checkpointing.STATE_ITEM} directory); train longer '
                               'or point at another run.')
    return path, steps[-1]


def _train_model_config(workdir: Path, step_dir: Path) -> dict[str, Any]:
    """The ``model`` section of the run's config (workdir config.json, else the step's)."""
    for source in (workdir / _WORKDIR_CONFIG, step_dir / _STEP_CONFIG):
        if source.is_file():
            try:
                config = json.loads(source.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise EncoderLoadError(f'{source}: cannot read the run config ({e}).') from e
            if not isinstance(config, dict) or not isinstance(config.get('model'), dict):
                raise EncoderLoadError(f'{source}: the run config has no "model" section.')
            return config['model']
    raise EncoderLoadError(f'{workdir}: no {_WORKDIR_CONFIG} (nor {step_dir / _STEP_CONFIG}); '
                           'the encoder cannot be rebuilt without the run\'s model config.')


def _restore_subtree(state_dir: Path, key_path: tuple[str, ...]) -> dict[str, Any]:
    """Reads only ``state[key_path[0]][key_path[1]]...`` of an orbax pytree, as NumPy."""
    import orbax.checkpoint as ocp  # heavy; only training workdirs need it here

    meta = ocp.StandardCheckpointer().metadata(state_dir)
    # A StepMetadata (orbax >= 0.11.x) wraps the tree; earlier versions return it directly.
    tree = getattr(meta, 'item_metadata', meta)
    tree = getattr(tree, 'tree', tree)
    node = tree
    for key in key_path:
        if not isinstance(node, dict) or key not in node:
            raise EncoderLoadError(f'{state_dir}: the train state has no '
                                   f'{"/".join(key_path)}.')
        node = node[key]

    def wanted(path) -> bool:
        keys = tuple(getattr(k, 'key', None) for k in path[:len(key_path)])
        return keys == key_path

    placeholder = getattr(ocp, 'PLACEHOLDER', None)
    if placeholder is None:  # older orbax: read everything, keep the part we need
        restored = ocp.StandardCheckpointer().restore(state_dir)
    else:
        item = jax.tree_util.tree_map_with_path(
            lambda p, m: jax.ShapeDtypeStruct(m.shape, m.dtype) if wanted(p) else placeholder,
            tree)
        # NumPy restore: no device placement, so the saving mesh does not matter.
        args = jax.tree_util.tree_map_with_path(
            lambda p, m: ocp.RestoreArgs(restore_type=np.ndarray) if wanted(p) else placeholder,
            tree)
        restored = ocp.PyTreeCheckpointer().restore(
            state_dir, args=ocp.args.PyTreeRestore(item=item, restore_args=args))
    for key in key_path:
        restored = restored[key]
    return jax.tree_util.tree_map(np.asarray, restored)


def _load_from_train_checkpoint(workdir: Path, step_dir: Path,
                                which: str) -> tuple[VisionTransformer, dict[str, Any]]:
    model_cfg = _train_model_config(workdir, step_dir)
    encoder, _ = build_jepa_models(model_cfg)
    key_path = ('target_encoder',) if which == 'target_encoder' else ('params', 'encoder')
    params = _restore_subtree(step_dir / checkpointing.STATE_ITEM, key_path)
    return encoder, params


def load_encoder(path: str | os.PathLike, which: str = 'target_encoder', *,
                 dtype: str | Any | None = None,
                 **import_kwargs: Any) -> tuple[VisionTransformer, dict[str, Any]]:
    """The encoder module and its params from any checkpoint kind (see the module doc).

    Args:
      path: official ``.pth.tar``, our model checkpoint directory, or a training
        workdir / step directory.
      which: ``'target_encoder'`` (EMA, default) or ``'encoder'`` (online;
        ``'params/encoder'`` is accepted as an alias).
      dtype: compute dtype override (``'float32'``, ``'bfloat16'`` or a jnp
        dtype); None keeps the checkpoint's (float32 for official and
        converted checkpoints, ``model.dtype`` for training runs). Params stay
        float32 either way.
      **import_kwargs: for official files (``num_heads``, ``num_frames``,
        ``img_size``); ignored for the other kinds, whose config is stored.

    Returns:
      ``(encoder, params)``: an unbound ``VisionTransformer`` and a dict of
      NumPy arrays for ``encoder.apply({'params': params}, video)``.

    Raises:
      FileNotFoundError: nothing at ``path``.
      EncoderLoadError: a checkpoint without that encoder (e.g. a classifier),
        a directory that is no checkpoint, a run without its config.
    """
    which = _canonical_which(which)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'No checkpoint at {path}.')
    train = None if checkpointing.is_model_checkpoint(path) else find_train_checkpoint(path)
    if train is not None:
        encoder, params = _load_from_train_checkpoint(*train, which)
    else:
        if path.is_dir() and not checkpointing.is_model_checkpoint(path):
            raise EncoderLoadError(
                f'{path} is neither a model checkpoint directory (with '
                f'{checkpointing.CONFIG_FILE}) nor a training workdir (with '
                f'{_CHECKPOINTS_DIR}/<step>/); give an official .pth.tar, a directory from '
                '`python -m vjepa_jax.convert import`, or a run directory.')
        model = load_pretrained(path, **import_kwargs)
        if model.encoder is None:
            raise EncoderLoadError(f'{path} is a {model.kind} checkpoint without an encoder; '
                                   'give a pretraining checkpoint.')
        if which not in model.params:
            raise EncoderLoadError(f'{path} has no {which!r}; it has '
                                   f'{", ".join(sorted(model.params))}.')
        encoder = model.encoder
        params = jax.tree_util.tree_map(np.asarray, model.params[which])
    if dtype is not None:
        encoder = encoder.clone(dtype=compute_dtype(dtype) if isinstance(dtype, str)
                                else dtype)
    return encoder, params


def encoder_config(encoder: VisionTransformer) -> dict[str, Any]:
    """JSON-able constructor arguments of ``encoder`` (``dtype`` as its name).

    ``VisionTransformer(**{k: v for k, v in cfg.items() if k != 'dtype'},
    dtype=jnp.dtype(cfg['dtype']))`` rebuilds the module.
    """
    out = {}
    for field in dataclasses.fields(encoder):
        if field.name in ('parent', 'name'):
            continue
        value = getattr(encoder, field.name)
        if field.name == 'dtype':
            value = jnp.dtype(value).name
        out[field.name] = value
    return out

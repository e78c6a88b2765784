"""``vjepa_jax.load``: one call from any checkpoint to a ``LoadedModel``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from vjepa_jax.errors import CheckpointError
from vjepa_jax.loading import readers
from vjepa_jax.loading.loaded_model import LoadedModel
from vjepa_jax.loading.readers import CheckpointNotFoundError
from vjepa_jax.models.builder import compute_dtype

WHICH = ('target_encoder', 'encoder')
_WHICH_ALIASES = {'target_encoder': 'target_encoder', 'target': 'target_encoder',
                  'encoder': 'encoder', 'params/encoder': 'encoder'}


def canonical_which(which: str | None) -> str | None:
    """``'target_encoder'`` / ``'encoder'`` from a name or alias (None stays None)."""
    if which is None:
        return None
    if which not in _WHICH_ALIASES:
        raise CheckpointError(f'which={which!r}: use one of {", ".join(WHICH)}.')
    return _WHICH_ALIASES[which]


def load(path: str | os.PathLike, *, step: int | None = None, which: str | None = None,
         dtype: str | Any | None = None, all_params: bool = False,
         **official_import_options: Any) -> LoadedModel:
    """Loads any checkpoint: an official V-JEPA / V-JEPA 2 file, a Hugging Face V-JEPA 2
    directory, a converted directory, a training workdir.

    The format is found by the readers in ``loading.readers.READERS`` (that
    module's docstring says how a format is added).

    Args:
      path: an official ``.pth.tar`` (pretraining or attentive probe; read
        without torch), an official V-JEPA 2 ``.pt`` (pretraining such as
        ``vitl.pt``, or a probe), a Hugging Face V-JEPA 2 directory
        (``config.json`` + safetensors, read without torch), our converted model directory (``python -m
        vjepa_jax.tools.convert import``), or a training workdir
        (``WORKDIR``, ``WORKDIR/checkpoints``, ``WORKDIR/checkpoints/<step>``).
      step: training workdirs: the step to read (None: the one the path names,
        else the latest); an error lists the steps there are.
      which: the encoder ``encode`` uses: ``'target_encoder'`` (the EMA
        encoder, what the official evaluations use) or ``'encoder'`` (the
        online one; ``'params/encoder'`` is an alias). None: the target
        encoder when the checkpoint has one, else the encoder.
      dtype: compute dtype of the modules (``'float32'``, ``'bfloat16'`` or a
        jnp dtype); None keeps the checkpoint's (float32 for official and
        converted checkpoints, ``model.dtype`` for training runs). Params
        stay float32 either way.
      all_params: read every params tree (encoder, target encoder, predictor)
        from a training workdir, not only ``which`` (to start a run from it).
        Other formats always give every tree they hold.
      **official_import_options: official files only (recorded and ignored
        for the formats that store their config): ``num_heads`` (needed when
        the width is not an official size), ``num_frames`` (default 16),
        ``img_size`` (default: from the position table),
        ``predictor_num_heads``; V-JEPA 2 ``.pt``: the same (``img_size``
        default 256), probe ``.pt``: ``num_heads`` (default 16); Hugging Face
        directories: ``probe_num_heads``, ``probe_layer_norm_eps``. None
        values count as not given.

    Returns:
      ``LoadedModel``: ``encoder`` / ``predictor`` / ``classifier`` modules,
      ``params``, ``config``, ``provenance``; ``encode`` and ``preprocess``.

    Raises:
      CheckpointError (``CheckpointNotFoundError`` for a missing path): the
        path is no checkpoint of a known format, lacks the asked-for encoder
        or step, or does not match the model it describes.
    """
    path = Path(path).absolute()
    which = canonical_which(which)
    if not path.exists():
        raise CheckpointNotFoundError(f'No checkpoint at {path}: give '
                                      f'{readers.known_formats()}.')
    reader = readers.find_reader(path)
    if reader is None:
        raise CheckpointError(f'{path} is not a checkpoint this version reads; give '
                              f'{readers.known_formats()}.')
    options = {k: v for k, v in official_import_options.items() if v is not None}
    model = reader.read(readers.LoadRequest(path, step, which, all_params, options))
    if model.encoder is not None:
        if which is not None and which not in model.params:
            raise CheckpointError(f'{path} has no {which!r}; it has '
                                  f'{", ".join(sorted(model.params))}.')
        if model.which is None:
            model.provenance = _with_which(model, 'target_encoder'
                                           if 'target_encoder' in model.params else 'encoder')
        if dtype is not None:
            model.encoder = model.encoder.clone(
                dtype=compute_dtype(dtype) if isinstance(dtype, str) else dtype)
    return model


def _with_which(model: LoadedModel, which: str):
    return dataclasses.replace(model.provenance, which=which)

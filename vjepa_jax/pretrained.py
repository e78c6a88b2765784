"""``load_pretrained``: one call from a checkpoint to models ready for ``apply``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from vjepa_jax import checkpointing
from vjepa_jax.convert import official, torch_pickle
from vjepa_jax.models import AttentiveClassifier, Predictor, VisionTransformer


@dataclasses.dataclass
class Pretrained:
    """Model definitions and params from a checkpoint.

    ``params`` holds ``encoder`` / ``target_encoder`` / ``predictor`` (a
    pretraining checkpoint) or ``classifier`` trees, each ready for
    ``module.apply({'params': tree}, ...)``.
    """

    kind: str
    config: dict[str, Any]
    params: dict[str, Any]
    encoder: VisionTransformer | None = None
    predictor: Predictor | None = None
    classifier: AttentiveClassifier | None = None
    official_tensors: dict[str, Any] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def encode(self, video: jax.Array, which: str = 'target_encoder') -> jax.Array:
        """Token features ``[B, N, D]`` of normalised clips ``[B, T, H, W, 3]``.

        ``which`` picks ``target_encoder`` (the EMA encoder, what the official
        evaluations use) or ``encoder``.
        """
        if self.encoder is None:
            raise ValueError('This checkpoint has no encoder (it is a classifier checkpoint).')
        if which not in self.params:
            raise ValueError(f'This checkpoint has no {which!r}; it has {sorted(self.params)}.')
        return self.encoder.apply({'params': self.params[which]}, jnp.asarray(video))

    def to_converted(self) -> official.Converted:
        return official.Converted(self.config, self.params, self.official_tensors, self.metadata)


def _build(kind: str, config: dict[str, Any], params: dict[str, Any],
           official_tensors: dict[str, Any], metadata: dict[str, Any]) -> Pretrained:
    model = Pretrained(kind, config, params, official_tensors=official_tensors, metadata=metadata)
    if 'encoder' in config:
        model.encoder = VisionTransformer(**config['encoder'])
    if 'predictor' in config:
        model.predictor = Predictor(**config['predictor'])
    if 'classifier' in config:
        model.classifier = AttentiveClassifier(**config['classifier'])
    return model


def import_official(path: str | os.PathLike, **kwargs: Any) -> official.Converted:
    """Reads an official ``.pth.tar`` (pretraining or probe) without torch and converts it.

    ``kwargs`` go to ``official.import_pretraining`` / ``import_classifier``
    (``num_heads``, ``img_size``, ``num_frames``, ``predictor_num_heads``).
    """
    checkpoint = torch_pickle.load_torch_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise official.ConversionError(f'{path}: expected a dict checkpoint, got '
                                       f'{type(checkpoint).__name__}.')
    if checkpoint.get('classifier') is not None:
        return official.import_classifier(checkpoint, kwargs.get('num_heads'))
    return official.import_pretraining(checkpoint, **kwargs)


def load_pretrained(path: str | os.PathLike, **kwargs: Any) -> Pretrained:
    """Loads our checkpoint directory or an official ``.pth.tar``.

    Args:
      path: a directory written by ``python -m vjepa_jax.convert import`` (or
        ``checkpointing.save_model_checkpoint``), or an official pretraining /
        attentive-probe checkpoint file.
      **kwargs: for official files only: ``num_heads`` (needed when the width
        is not an official size), ``num_frames`` (default 16), ``img_size``
        (default: derived from the position table), ``predictor_num_heads``.

    Returns:
      ``Pretrained`` with module definitions and params.
    """
    path = Path(path)
    if path.is_dir():
        ckpt = checkpointing.load_model_checkpoint(path)
        return _build(ckpt['kind'], ckpt['config'], ckpt['params'], ckpt['official_tensors'],
                      ckpt['metadata'])
    if not path.exists():
        raise FileNotFoundError(f'No checkpoint at {path}.')
    converted = import_official(path, **kwargs)
    kind = 'classifier' if 'classifier' in converted.params else 'pretraining'
    return _build(kind, converted.config, converted.params, converted.official_tensors,
                  converted.metadata)

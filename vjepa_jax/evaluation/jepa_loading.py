"""Encoder, target encoder and predictor from any checkpoint kind (what the surprise test needs).

Training workdirs of ``python -m vjepa_jax.main`` (or one of their steps) give
all three trees, read as NumPy subtrees of the orbax state (the optimiser
moments stay on disk) and the modules rebuilt from the run's ``model``
config; the run's ``masks`` say which mask token predicts the future.
Official ``.pth.tar`` pretraining files and our converted checkpoint
directories give theirs through ``pretrained.load_pretrained``.
``random_init=True`` builds the same architecture with fresh weights (the
target encoder a copy of the encoder, as at step 0 of pretraining).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vjepa_jax import checkpointing
from vjepa_jax.errors import CheckpointError
from vjepa_jax.loading import load
from vjepa_jax.loading.train_workdir import find_train_checkpoint
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.train.state import init_boxed_state


@dataclasses.dataclass(frozen=True)
class JepaModels:
    """A pretrained (or random-init) JEPA: modules, params and the future mask token.

    ``params``: ``{'encoder', 'target_encoder', 'predictor'}`` NumPy trees.
    ``mask_token``: the predictor's mask-token index for future prediction
    (the run's first ``'future'`` mask set, else 0 as the official evaluation).
    """

    encoder: VisionTransformer
    predictor: Predictor
    params: dict[str, Any]
    mask_token: int = 0
    source: str = ''


def _run_config(workdir: Path, step_dir: Path) -> dict[str, Any]:
    for source in (workdir / 'config.json', step_dir / checkpointing.CONFIG_ITEM / 'metadata'):
        if source.is_file():
            try:
                config = json.loads(source.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise CheckpointError(f'{source}: cannot read the run config ({e}).') from e
            if isinstance(config, dict) and isinstance(config.get('model'), dict):
                return config
    raise CheckpointError(f'{workdir}: no config.json with a "model" section; the models '
                          'cannot be rebuilt without the run\'s config.')


def future_mask_token(masks: Any, num_mask_tokens: int) -> int:
    """Index of the first ``'future'`` mask set modulo the token count (0 when none)."""
    for i, m in enumerate(masks or ()):
        if isinstance(m, dict) and m.get('type') == 'future':
            return i % max(num_mask_tokens, 1)
    return 0


def _random_params(encoder: VisionTransformer, predictor: Predictor, seed: int
                   ) -> dict[str, Any]:
    import flax.linen as nn

    state = jax.jit(lambda: nn.meta.unbox(init_boxed_state(encoder, predictor, seed)))()
    trees = {'encoder': state.params['encoder'], 'target_encoder': state.target_encoder,
             'predictor': state.params['predictor']}
    return jax.tree_util.tree_map(np.asarray, trees)


def load_jepa(path: str | os.PathLike, *, random_init: bool = False, seed: int = 0,
              **import_kwargs: Any) -> JepaModels:
    """The three models of ``path`` (a training workdir / step, official file or converted dir).

    Read through ``vjepa_jax.load(path, all_params=True)``. ``random_init``: the
    same architecture with fresh weights from ``seed``. ``import_kwargs`` go to
    the official importer (``num_heads``, ``num_frames``, ``img_size``,
    ``predictor_num_heads``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f'no checkpoint at {path}; give a pretraining workdir, an '
                              'official .pth.tar or a converted checkpoint directory.')
    model = load(path, all_params=True, **import_kwargs)
    if model.encoder is None or model.predictor is None or 'predictor' not in model.params:
        raise CheckpointError(f'{path} is a {model.kind} checkpoint without a predictor; the '
                              'surprise test needs a pretraining checkpoint (encoder + '
                              'predictor).')
    token = 0
    train = find_train_checkpoint(path)
    if train is not None:  # our run: its config says which mask set predicts the future
        token = future_mask_token(_run_config(*train).get('masks'),
                                  model.predictor.num_mask_tokens)
    if random_init:
        params = _random_params(model.encoder, model.predictor, seed)
    else:
        params = {name: jax.tree_util.tree_map(np.asarray, model.params[key])
                  for name, key in (('encoder', 'encoder'), ('predictor', 'predictor'),
                                    ('target_encoder', 'target_encoder'
                                     if 'target_encoder' in model.params else 'encoder'))}
    return JepaModels(model.encoder, model.predictor, params, token, str(path))

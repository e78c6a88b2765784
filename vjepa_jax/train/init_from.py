"""Start a run from pretrained weights: any checkpoint ``vjepa_jax.load`` reads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vjepa_jax.errors import CheckpointError
from vjepa_jax.models.layer_layout import match_layout
from vjepa_jax.train.state import TrainState

logger = logging.getLogger(__name__)

_STACKS = ('blocks', 'predictor_blocks')


def _check_shapes(name: str, loaded: Any, template: Any) -> list[str]:
    problems = []
    got = {jax.tree_util.keystr(p): np.shape(x)
           for p, x in jax.tree_util.tree_leaves_with_path(loaded)}
    want = {jax.tree_util.keystr(p): tuple(x.shape)
            for p, x in jax.tree_util.tree_leaves_with_path(template)}
    for key in sorted(set(want) | set(got)):
        if key not in got:
            problems.append(f'{name}{key}: missing in the checkpoint')
        elif key not in want:
            problems.append(f'{name}{key}: in the checkpoint but not in the model')
        elif got[key] != want[key]:
            problems.append(f'{name}{key}: checkpoint {got[key]} vs model {want[key]}')
    return problems


def load_init_params(path: str | Path, state: TrainState, shardings: TrainState,
                     **import_kwargs: Any) -> TrainState:
    """``state`` with encoder / target encoder / predictor params from ``path``.

    The optimiser state and step stay fresh. A checkpoint without a target
    encoder gives its encoder to both; without a predictor, the predictor keeps
    its fresh init. Shapes must match the configured model exactly; errors list
    every mismatch. ``path`` is anything ``vjepa_jax.load`` reads (an official
    file, a converted directory, another run's workdir); ``import_kwargs`` go
    to the official importer (``num_heads``, ``num_frames``, ``img_size``,
    ``predictor_num_heads``).
    """
    from vjepa_jax.loading import load  # heavy import, only when needed

    model = load(path, all_params=True, **import_kwargs)
    if model.kind != 'pretraining':
        raise CheckpointError(f'init_from {path} is a {model.kind} checkpoint; pretraining needs '
                         'an encoder (an official pretraining .pth.tar, our converted one or a '
                         'training workdir).')
    loaded = model.params
    encoder = loaded.get('encoder', loaded.get('target_encoder'))
    target = loaded.get('target_encoder', encoder)
    params = dict(state.params)
    trees = {'encoder': match_layout(encoder, params['encoder'], _STACKS),
             'target_encoder': match_layout(target, state.target_encoder, _STACKS)}
    if 'predictor' in loaded:
        trees['predictor'] = match_layout(loaded['predictor'], params['predictor'], _STACKS)
    else:
        logger.warning('init_from %s has no predictor: the predictor starts from scratch.', path)
    templates = {'encoder': params['encoder'], 'target_encoder': state.target_encoder,
                 'predictor': params['predictor']}
    problems = [p for name, tree in trees.items()
                for p in _check_shapes(name, tree, templates[name])]
    if problems:
        raise CheckpointError(f'init_from {path} does not fit the configured model (check '
                         'config.model):\n  - ' + '\n  - '.join(problems[:20]))

    def place(name, tree, target_shardings):
        tree = jax.tree_util.tree_map(lambda x, t: np.asarray(x, t.dtype), tree, templates[name])
        return jax.device_put(tree, target_shardings)

    for name in ('encoder', 'predictor'):
        if name in trees:
            params[name] = place(name, trees[name], shardings.params[name])
    target_params = place('target_encoder', trees['target_encoder'], shardings.target_encoder)
    return state.replace(params=params, target_encoder=target_params)

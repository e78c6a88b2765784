"""Start a run from pretrained weights: any checkpoint ``vjepa_jax.load`` reads.

With ``optimizer_state`` the run also continues the checkpoint's Adam moments
and count, as V-JEPA 2's cooldown does (``load_checkpoint`` with
``is_anneal``: weights and ``opt`` loaded, epoch and schedules restarted).
That is read from our training workdirs and from official V-JEPA 2 ``.pt``
files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

from vjepa_jax import checkpointing
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
                     optimizer_state: bool = False, **import_kwargs: Any) -> TrainState:
    """``state`` with encoder / target encoder / predictor params from ``path``.

    The step stays 0; the optimiser state stays fresh unless ``optimizer_state``
    (then it is the checkpoint's: ``_optimizer_state``). A checkpoint without a target
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
    state = state.replace(params=params, target_encoder=target_params)
    if optimizer_state:
        state = state.replace(opt_state=_optimizer_state(path, state, shardings, import_kwargs))
    return state


def _adam_index(opt_state: Any) -> int:
    """Position of the Adam link's state in the chain's state tuple."""
    found = [i for i, s in enumerate(opt_state) if isinstance(s, optax.ScaleByAdamState)]
    if len(found) != 1:
        raise CheckpointError('The optimizer chain has no single Adam link to load into.')
    return found[0]


def _optimizer_state(path: str | Path, state: TrainState, shardings: TrainState,
                     import_kwargs: dict[str, Any]) -> Any:
    """The Adam state of the checkpoint at ``path``, placed like ``state.opt_state``."""
    from vjepa_jax.loading.train_workdir import find_train_checkpoint

    found = find_train_checkpoint(path)
    if found is not None:
        import orbax.checkpoint as ocp

        _, step_dir = found
        abstract = jax.tree_util.tree_map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
        try:
            restored = ocp.StandardCheckpointer().restore(step_dir / checkpointing.STATE_ITEM,
                                                          abstract)
        except (ValueError, KeyError) as e:
            raise CheckpointError(f'init_from {path}: its optimizer state does not fit this '
                                  f'model and optimizer ({e}).') from e
        return restored.opt_state
    if Path(path).is_file():
        from vjepa_jax.convert import vjepa2_official
        from vjepa_jax.convert.official_config import ConversionError
        from vjepa_jax.convert.torch_pickle import load_torch_checkpoint

        checkpoint = load_torch_checkpoint(path)
        try:
            config, _, _ = vjepa2_official.read_pretraining(checkpoint, **import_kwargs)
            step, moments = vjepa2_official.adamw_moments(checkpoint, config)
        except ConversionError as e:
            raise CheckpointError(f'init_from {path}: {e}') from e
        index = _adam_index(state.opt_state)
        adam = state.opt_state[index]
        mu = {k: match_layout(moments['exp_avg'][k], adam.mu[k], _STACKS) for k in adam.mu}
        nu = {k: match_layout(moments['exp_avg_sq'][k], adam.nu[k], _STACKS) for k in adam.nu}
        problems = [p for name in adam.mu for tree, what in ((mu, 'exp_avg'), (nu, 'exp_avg_sq'))
                    for p in _check_shapes(f'{what} {name}', tree[name], adam.mu[name])]
        if problems:
            raise CheckpointError(f'init_from {path}: its AdamW state does not fit the model:\n'
                                  '  - ' + '\n  - '.join(problems[:20]))
        place = shardings.opt_state[index]
        new = optax.ScaleByAdamState(
            count=jax.device_put(np.asarray(step, np.int32), place.count),
            mu=jax.device_put(jax.tree_util.tree_map(np.float32, mu), place.mu),
            nu=jax.device_put(jax.tree_util.tree_map(np.float32, nu), place.nu))
        return (*state.opt_state[:index], new, *state.opt_state[index + 1:])
    raise CheckpointError(f'init_from {path}: optimizer state is read from training workdirs '
                          'and official V-JEPA 2 .pt files only; set init_optimizer_state '
                          'False to start with fresh Adam moments.')

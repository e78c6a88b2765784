"""Reader for training workdirs of ``python -m vjepa_jax.main``: the latest step or ``step=N``.

Accepted paths: ``WORKDIR``, ``WORKDIR/checkpoints``, ``WORKDIR/checkpoints/<step>``
and ``WORKDIR/checkpoints/<step>/state``. The modules are rebuilt from the
``model`` section of ``WORKDIR/config.json`` (falling back to the config
saved with the step), and only the requested params trees are read from the
orbax state: the optimiser moments, twice the size of the params, never
leave the disk. Params come back as host NumPy arrays in the module's layout
(stacked ``layers`` when the run had ``scan_layers``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vjepa_jax import checkpointing
from vjepa_jax.errors import CheckpointError
from vjepa_jax.loading.loaded_model import LoadedModel
from vjepa_jax.loading.module_config import module_config
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.loading.readers import LoadRequest, Reader
from vjepa_jax.models.builder import build_jepa_models

NAME = 'train_workdir'
WORKDIR_CONFIG = 'config.json'          # written by metrics.MetricsWriter.banner
CHECKPOINTS_DIR = 'checkpoints'         # checkpointing.TrainCheckpointer
STEP_CONFIG = Path(checkpointing.CONFIG_ITEM) / 'metadata'  # orbax JsonSave's file
# Our params tree name -> its key path in the train state.
TREES = {'target_encoder': ('target_encoder',), 'encoder': ('params', 'encoder'),
         'predictor': ('params', 'predictor')}


def step_dirs(checkpoints: Path) -> list[Path]:
    """Completed step directories, oldest first (orbax temp dirs have non-numeric names)."""
    steps = [p for p in checkpoints.iterdir()
             if p.is_dir() and p.name.isdigit() and (p / checkpointing.STATE_ITEM).is_dir()]
    return sorted(steps, key=lambda p: int(p.name))


def _split(path: Path) -> tuple[Path, Path | None]:
    """``(workdir, step_dir or None)`` for any accepted path form (not checked to exist)."""
    path = path.absolute()
    if path.name == checkpointing.STATE_ITEM and path.parent.name.isdigit():
        path = path.parent
    if path.name.isdigit() and (path / checkpointing.STATE_ITEM).is_dir():
        return path.parent.parent, path
    if path.name == CHECKPOINTS_DIR and path.is_dir():
        path = path.parent
    return path, None


def _claims(path: Path) -> bool:
    workdir, step_dir = _split(path)
    return step_dir is not None or (workdir / CHECKPOINTS_DIR).is_dir()


def find_train_checkpoint(path: str | os.PathLike,
                          step: int | None = None) -> tuple[Path, Path] | None:
    """``(workdir, step_dir)`` when ``path`` is a training workdir or one of its steps.

    ``step`` picks a step of the workdir (None: the one ``path`` names, else
    the latest). Returns None when ``path`` is no training workdir.

    Raises:
      CheckpointError: no finished step, or ``step`` is not one of them (the
        message lists the steps there are).
    """
    workdir, step_dir = _split(Path(path))
    if step_dir is None and not (workdir / CHECKPOINTS_DIR).is_dir():
        return None
    if step_dir is not None and (step is None or int(step_dir.name) == step):
        return workdir, step_dir
    checkpoints = workdir / CHECKPOINTS_DIR
    steps = step_dirs(checkpoints)
    if not steps:
        raise CheckpointError(f'{checkpoints} holds no finished checkpoint (no '
                              f'<step>/{checkpointing.STATE_ITEM} directory); train longer '
                              'or point at another run.')
    if step is None:
        return workdir, steps[-1]
    by_step = {int(p.name): p for p in steps}
    if step not in by_step:
        raise CheckpointError(f'{checkpoints} has no finished step {step}; it has steps '
                              f'{", ".join(map(str, by_step))} (or give no step for the '
                              'latest).')
    return workdir, by_step[step]


def _train_model_config(workdir: Path, step_dir: Path) -> tuple[dict[str, Any], Path]:
    """The ``model`` section of the run's config (workdir config.json, else the step's), and its file."""
    for source in (workdir / WORKDIR_CONFIG, step_dir / STEP_CONFIG):
        if source.is_file():
            try:
                config = json.loads(source.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise CheckpointError(f'{source}: cannot read the run config ({e}).') from e
            if not isinstance(config, dict) or not isinstance(config.get('model'), dict):
                raise CheckpointError(f'{source}: the run config has no "model" section.')
            return config['model'], source
    raise CheckpointError(f'{workdir}: no {WORKDIR_CONFIG} (nor {step_dir / STEP_CONFIG}); '
                          'the model cannot be rebuilt without the run\'s model config.')


def restore_trees(state_dir: Path, key_paths: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Reads only the subtrees ``state[k0][k1]...`` of an orbax pytree, as NumPy, by name."""
    import orbax.checkpoint as ocp  # heavy; only training workdirs need it here

    meta = ocp.StandardCheckpointer().metadata(state_dir)
    # A StepMetadata (orbax >= 0.11.x) wraps the tree; earlier versions return it directly.
    tree = getattr(meta, 'item_metadata', meta)
    tree = getattr(tree, 'tree', tree)
    for key_path in key_paths.values():
        node = tree
        for key in key_path:
            if not isinstance(node, dict) or key not in node:
                raise CheckpointError(f'{state_dir}: the train state has no '
                                      f'{"/".join(key_path)}.')
            node = node[key]

    def wanted(path) -> bool:
        keys = tuple(getattr(k, 'key', None) for k in path)
        return any(keys[:len(kp)] == kp for kp in key_paths.values())

    placeholder = getattr(ocp, 'PLACEHOLDER', None)
    if placeholder is None:  # older orbax: read everything, keep the parts we need
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
    out = {}
    for name, key_path in key_paths.items():
        node = restored
        for key in key_path:
            node = node[key]
        out[name] = jax.tree_util.tree_map(np.asarray, node)
    return out


def _read(request: LoadRequest) -> LoadedModel:
    workdir, step_dir = find_train_checkpoint(request.path, request.step)
    model_cfg, source = _train_model_config(workdir, step_dir)
    encoder, predictor = build_jepa_models(model_cfg)
    which = request.which or 'target_encoder'
    names = tuple(TREES) if request.all_params else (which,)
    params = restore_trees(step_dir / checkpointing.STATE_ITEM, {n: TREES[n] for n in names})
    steps = [int(p.name) for p in step_dirs(step_dir.parent)]
    notes = [f'step {step_dir.name} of steps {", ".join(map(str, steps))}',
             f'model config: the "model" section of {source}',
             f'read from the train state: {", ".join("/".join(TREES[n]) for n in names)}']
    if request.options:
        notes.append('import options ignored (the config is stored): '
                     + ', '.join(f'{k}={v}' for k, v in sorted(request.options.items())))
    provenance = Provenance(str(step_dir), NAME, int(step_dir.name), which, tuple(notes))
    config = {'family': model_cfg.get('family', 'vjepa'), 'encoder': module_config(encoder),
              'predictor': module_config(predictor), 'model': model_cfg}
    return LoadedModel('pretraining', config, params, provenance, encoder=encoder,
                       predictor=predictor)


READER = Reader(NAME, f'a training workdir (with {CHECKPOINTS_DIR}/<step>/)', _claims,
                       _read)

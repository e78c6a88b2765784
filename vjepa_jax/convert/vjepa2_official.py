"""Official V-JEPA 2 ``.pt`` checkpoints <-> our params, without torch.

Two layouts (facebookresearch/vjepa2):
  pretraining  ``app/vjepa/train.py``'s ``latest.pt`` / released ``vitl.pt`` ...:
               ``encoder``, ``predictor``, ``target_encoder`` state dicts with
               ``module.backbone.`` keys, no position tables (RoPE), plus
               ``opt``, ``scaler``, ``epoch``, ``loss``, ``batch_size``,
               ``world_size``, ``lr``.
  probe        ``evals/video_classification_frozen/eval.py``'s ``latest.pt`` /
               released ``evals/*.pt``: ``classifiers`` (a list, one state dict
               per probe head, ``module.`` keys), ``opt`` (a list), ``scaler``,
               ``epoch``, ``batch_size``, ``world_size``.

The key tables reuse V-JEPA 1's block layout (``key_table.BLOCK_KEYS``) and its
table machinery, so import lists every unmapped / missing / mis-shaped key at
once. Ignored on import, with a note in the provenance: ``opt`` / ``scaler``
(optimizer state is not converted here), and unused ``pos_embed`` /
``predictor_pos_embed`` tables that released files may carry. Export writes
the model entries and scalar metadata back in the official key order.

Reader interface (see ``vjepa_jax/convert/vjepa2_formats.py``):
``read_*(checkpoint, **options) -> (config, params, provenance)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from vjepa_jax.convert import key_table, param_trees, state_dicts
from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.convert.vjepa2_config import (
    PROBE_HEADS,
    classifier_config,
    encoder_config,
    predictor_config,
)
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
)

FAMILY = 'vjepa2'
ENCODER_KEYS = tuple(e for e in key_table.ENCODER_KEYS if e[2] != 'table')
PREDICTOR_KEYS = tuple(e for e in key_table.PREDICTOR_KEYS if e[2] != 'table')
_X = 'pooler.cross_attention_block.'
_OX = 'pooler/cross_attention_block/'
CLASSIFIER_KEYS = (
    ('pooler.query_tokens', 'pooler/query_tokens', 'query'),
    (_X + 'norm1.weight', _OX + 'norm1/scale', 'copy'),
    (_X + 'norm1.bias', _OX + 'norm1/bias', 'copy'),
    (_X + 'xattn.q.weight', _OX + 'xattn/q/kernel', 'heads_in'),
    (_X + 'xattn.q.bias', _OX + 'xattn/q/bias', 'reshape'),
    (_X + 'xattn.kv.weight', _OX + 'xattn/kv/kernel', 'heads_in'),
    (_X + 'xattn.kv.bias', _OX + 'xattn/kv/bias', 'reshape'),
    (_X + 'norm2.weight', _OX + 'norm2/scale', 'copy'),
    (_X + 'norm2.bias', _OX + 'norm2/bias', 'copy'),
    (_X + 'mlp.fc1.weight', _OX + 'mlp/fc1/kernel', 'linear'),
    (_X + 'mlp.fc1.bias', _OX + 'mlp/fc1/bias', 'copy'),
    (_X + 'mlp.fc2.weight', _OX + 'mlp/fc2/kernel', 'linear'),
    (_X + 'mlp.fc2.bias', _OX + 'mlp/fc2/bias', 'copy'),
    ('pooler.blocks.{i}.', 'pooler/blocks_{i}/', key_table.BLOCK_KEYS),
    ('linear.weight', 'linear/kernel', 'linear'),
    ('linear.bias', 'linear/bias', 'copy'),
)
UNUSED_TABLES = ('pos_embed', 'predictor_pos_embed')
PRETRAINING_METADATA = ('epoch', 'loss', 'batch_size', 'world_size', 'lr')
PROBE_METADATA = ('epoch', 'batch_size', 'world_size')
MODEL_ENTRIES = ('encoder', 'predictor', 'target_encoder')


def _shapes(module, *args) -> dict[str, Any]:
    return param_trees.abstract_params(module, *args)


def encoder_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any],
                   what: str = 'encoder') -> dict[str, Any]:
    """Un-prefixed official encoder state dict -> our ``VJEPA2Encoder`` params (float32 NumPy)."""
    model = VJEPA2Encoder(**cfg)
    video = jax.ShapeDtypeStruct((1, model.tubelet_size, model.patch_size, model.patch_size, 3),
                                 np.float32)
    params, _ = state_dicts.params_from_state_dict(sd, ENCODER_KEYS, cfg['depth'], 0,
                                                _shapes(model, video), what)
    return params


def predictor_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any]) -> dict[str, Any]:
    model = VJEPA2Predictor(**cfg)
    ctx = jax.ShapeDtypeStruct((1, 1, cfg['embed_dim']), np.float32)
    idx = jax.ShapeDtypeStruct((1, 1), np.int32)
    params, _ = state_dicts.params_from_state_dict(sd, PREDICTOR_KEYS, cfg['depth'],
                                                cfg['num_mask_tokens'],
                                                _shapes(model, ctx, idx, idx, 0), 'predictor')
    return params


def classifier_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any], width: int,
                      what: str = 'classifier') -> dict[str, Any]:
    model = VJEPA2AttentiveClassifier(**cfg)
    tokens = jax.ShapeDtypeStruct((1, 1, width), np.float32)
    params, _ = state_dicts.params_from_state_dict(sd, CLASSIFIER_KEYS, cfg['depth'] - 1, 0,
                                                _shapes(model, tokens), what)
    return params


def _metadata(checkpoint: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: checkpoint[k] for k in keys
            if isinstance(checkpoint.get(k), (int, float)) and not isinstance(checkpoint[k], bool)}


def _ignored(checkpoint: Mapping[str, Any], models: tuple[str, ...]) -> list[str]:
    notes = []
    for key in sorted(set(checkpoint) - set(models)):
        value = checkpoint[key]
        if value is None or isinstance(value, (int, float, str)):
            continue
        notes.append(f'{key!r}: not converted (optimizer / scaler state is not read by this '
                     'importer; the models are)')
    return notes


def read_pretraining(checkpoint: Mapping[str, Any], num_heads: int | None = None,
                     img_size: int = 256, num_frames: int = 16,
                     predictor_num_heads: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Official V-JEPA 2 pretraining checkpoint dict -> ``(config, params, provenance)``.

    Args:
      checkpoint: ``load_torch_checkpoint`` of ``latest.pt`` / ``vitl.pt`` ...
        (``encoder``, ``target_encoder``, ``predictor``, each optional but at
        least one encoder).
      num_heads, predictor_num_heads: only for non-official widths.
      img_size, num_frames: the pretraining clip the predictor's RoPE grid is
        built on (not in the tensors; official L/H/g: 256 px, 16 frames for
        ``vitl.pt`` ...; 384 px for ``vitg-384.pt``; 64 frames after cool-down).

    Returns:
      config ``{'family': 'vjepa2', 'encoder': kwargs, 'predictor': kwargs}``,
      params ``{'encoder', 'target_encoder', 'predictor'}`` (those present),
      provenance ``{'format', 'metadata', 'ignored'}``.
    """
    present = [k for k in MODEL_ENTRIES if checkpoint.get(k) is not None]
    if not {'encoder', 'target_encoder'} & set(present):
        raise ConversionError('Not an official V-JEPA 2 pretraining checkpoint: no "encoder" or '
                              f'"target_encoder" entry (top-level keys: {sorted(checkpoint)}).')
    sds = {k: param_trees.strip_prefix(checkpoint[k], ('module.', 'backbone.')) for k in present}
    ignored = _ignored(checkpoint, MODEL_ENTRIES)
    for name, sd in sds.items():
        for key in UNUSED_TABLES:
            if key in sd:
                del sd[key]
                ignored.append(f'{name}.{key}: position table unused by RoPE models')
    first = 'target_encoder' if 'target_encoder' in sds else 'encoder'
    config: dict[str, Any] = {'family': FAMILY,
                              'encoder': encoder_config(sds[first], num_heads, img_size,
                                                        num_frames)}
    params, errors = {}, []
    for name in present:
        try:
            if name == 'predictor':
                config['predictor'] = predictor_config(sds[name], config['encoder'],
                                                       predictor_num_heads)
                params[name] = predictor_params(sds[name], config['predictor'])
            else:
                params[name] = encoder_params(sds[name], config['encoder'], name)
        except ConversionError as e:
            errors.append(str(e))
    if errors:
        raise ConversionError('\n'.join(errors))
    provenance = {'format': 'vjepa2_pretraining_pt', 'ignored': ignored,
                  'metadata': _metadata(checkpoint, PRETRAINING_METADATA)}
    return config, params, provenance


def _decayed(key: str, value: np.ndarray) -> bool:
    """The official weight-decay grouping of ``app/vjepa/utils.py:init_opt``."""
    return 'bias' not in key and np.ndim(value) != 1


def adamw_moments(checkpoint: Mapping[str, Any], config: Mapping[str, Any]
                  ) -> tuple[int, dict[str, dict[str, Any]]]:
    """The official AdamW state of a pretraining checkpoint in our param layout.

    ``config``: ``read_pretraining``'s. The four official param groups list
    the encoder's and the predictor's decayed weights, then their biases / 1-D
    params, each in state-dict order; that order maps the optimizer's integer
    ids to keys. Mask tokens the run never used have no state: zeros.

    Returns ``(step, {'exp_avg': {'encoder', 'predictor'}, 'exp_avg_sq': {...}})``.
    """
    opt = checkpoint.get('opt')
    if not isinstance(opt, Mapping) or 'state' not in opt or 'param_groups' not in opt:
        raise ConversionError('The checkpoint has no AdamW state ("opt" entry); it cannot '
                              'continue its optimizer (drop init_optimizer_state).')
    sds = {name: param_trees.strip_prefix(checkpoint[name], ('module.', 'backbone.'))
           for name in ('encoder', 'predictor')}
    keys = [(n, k) for decay in (True, False) for n in ('encoder', 'predictor')
            for k, v in sds[n].items() if _decayed(k, v) == decay]
    order = [i for g in opt['param_groups'] for i in g['params']]
    if len(order) != len(keys):
        raise ConversionError(f'The AdamW state lists {len(order)} params, the models have '
                              f'{len(keys)}: not the official four-group optimizer.')
    steps = {int(np.asarray(st['step'])) for st in opt['state'].values()}
    if len(steps) != 1:
        raise ConversionError(f'The AdamW state holds different step counts {sorted(steps)}.')
    out = {}
    for moment in ('exp_avg', 'exp_avg_sq'):
        trees = {n: {k: np.zeros_like(np.asarray(v)) for k, v in sd.items()}
                 for n, sd in sds.items()}
        for index, (name, key) in zip(order, keys):
            if index in opt['state']:
                trees[name][key] = np.asarray(opt['state'][index][moment])
        out[moment] = {'encoder': encoder_params(trees['encoder'], config['encoder']),
                       'predictor': predictor_params(trees['predictor'], config['predictor'])}
    return steps.pop(), out


def read_probe(checkpoint: Mapping[str, Any], num_heads: int = PROBE_HEADS
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Official V-JEPA 2 probe checkpoint dict -> ``(config, params, provenance)``.

    Every head of ``classifiers`` is converted (all share one architecture):
    params ``{'classifiers': [tree, ...]}``; config ``{'family', 'classifier':
    kwargs, 'embed_dim'}``. ``num_heads`` (attention heads of the probe) is not
    in the tensors; the official probes use 16.
    """
    heads = checkpoint.get('classifiers')
    if not isinstance(heads, (list, tuple)) or not heads:
        raise ConversionError('Not an official V-JEPA 2 probe checkpoint: no "classifiers" list '
                              f'(top-level keys: {sorted(checkpoint)}). A V-JEPA 1 probe has a '
                              'single "classifier" entry.')
    sds = [param_trees.strip_prefix(sd, ('module.',)) for sd in heads]
    cfg = classifier_config(sds[0], num_heads)
    width = int(sds[0]['pooler.query_tokens'].shape[-1])
    trees = [classifier_params(sd, cfg, width, f'classifier {i}') for i, sd in enumerate(sds)]
    config = {'family': FAMILY, 'classifier': cfg, 'embed_dim': width}
    provenance = {'format': 'vjepa2_probe_pt', 'ignored': _ignored(checkpoint, ('classifiers',)),
                  'metadata': _metadata(checkpoint, PROBE_METADATA)}
    return config, {'classifiers': trees}, provenance


def write_pretraining(config: Mapping[str, Any], params: Mapping[str, Any],
                      metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Our params -> official pretraining checkpoint dict (``module.backbone.`` keys, official
    order: ``encoder``, ``predictor``, ``target_encoder``, then scalar metadata).

    No ``opt``: the result loads with the official hub / eval loaders, not as a
    training resume point (official ``load_checkpoint`` needs ``opt``).
    """
    out: dict[str, Any] = {}
    for name in MODEL_ENTRIES:
        if name not in params:
            continue
        if name == 'predictor':
            cfg = config['predictor']
            out[name] = state_dicts.state_dict_from_params(
                params[name], PREDICTOR_KEYS, cfg['depth'], cfg['num_mask_tokens'],
                key_table.BACKBONE_PREFIX)
        else:
            out[name] = state_dicts.state_dict_from_params(
                params[name], ENCODER_KEYS, config['encoder']['depth'], 0,
                key_table.BACKBONE_PREFIX)
    out.update({k: v for k, v in (metadata or {}).items() if k in PRETRAINING_METADATA})
    return out


def write_probe(config: Mapping[str, Any], params: Mapping[str, Any],
                metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Our probe heads -> official probe checkpoint dict (``classifiers`` list, ``module.`` keys)."""
    cfg = config['classifier']
    heads = [state_dicts.state_dict_from_params(tree, CLASSIFIER_KEYS, cfg['depth'] - 1, 0,
                                             key_table.CLASSIFIER_PREFIX)
             for tree in params['classifiers']]
    return {'classifiers': heads,
            **{k: v for k, v in (metadata or {}).items() if k in PROBE_METADATA}}

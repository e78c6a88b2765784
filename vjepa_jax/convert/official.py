"""Official V-JEPA checkpoints <-> our params: import, export and the ``Converted`` result.

Every official key is listed in the key table (``convert.key_table``) with
the path of our parameter and the layout change between them
(``convert.layouts``); ``convert.state_dicts`` maps whole state dicts.
Import fails listing every unmapped, missing and mis-shaped key at once;
nothing is skipped silently. Export writes the same keys back, in the
official order, with the ``module.backbone.`` / ``module.`` prefixes of the
official DDP-wrapped ``state_dict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from vjepa_jax.convert.key_table import (
    BACKBONE_PREFIX,
    CLASSIFIER_KEYS,
    CLASSIFIER_PREFIX,
    ENCODER_KEYS,
    PREDICTOR_KEYS,
)
from vjepa_jax.convert.official_config import (
    ConversionError,
    classifier_config,
    encoder_config,
    predictor_config,
)
from vjepa_jax.convert.param_trees import abstract_params, strip_prefix
from vjepa_jax.convert.state_dicts import (
    classifier_params,
    encoder_params,
    params_from_state_dict,
    predictor_params,
    state_dict_from_params,
)
from vjepa_jax.models import pos_embed
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

_abstract_params = abstract_params  # the name tests/models/test_sizes_and_tables.py imports

__all__ = ['BACKBONE_PREFIX', 'CLASSIFIER_KEYS', 'CLASSIFIER_PREFIX', 'ENCODER_KEYS',
           'PREDICTOR_KEYS', 'ConversionError', 'Converted', 'classifier_config',
           'classifier_params', 'encoder_config', 'encoder_params', 'export_classifier',
           'export_pretraining', 'import_classifier', 'import_pretraining',
           'params_from_state_dict', 'predictor_config', 'predictor_params',
           'state_dict_from_params', 'strip_prefix']


@dataclasses.dataclass
class Converted:
    """A converted checkpoint: model configs (JSON-able), params, kept tensors, metadata.

    ``config`` has ``encoder`` / ``predictor`` (pretraining) or ``classifier``
    (+ ``embed_dim``) entries with the keyword arguments of our modules.
    ``params`` has ``encoder``, ``target_encoder``, ``predictor`` or
    ``classifier`` trees. ``official_tensors`` keeps, as ``"module/key"``,
    official tensors that are not params of ours (fixed tables, unused
    weights) so that export reproduces the original file bit for bit;
    ``metadata`` keeps scalar entries (``epoch``, ``lr``, ...).
    """

    config: dict[str, Any]
    params: dict[str, Any]
    official_tensors: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def kept(self, module: str) -> dict[str, np.ndarray]:
        prefix = module + '/'
        return {k[len(prefix):]: v for k, v in self.official_tensors.items()
                if k.startswith(prefix)}


def _metadata(checkpoint: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: checkpoint[k] for k in keys
            if isinstance(checkpoint.get(k), (int, float)) and not isinstance(checkpoint[k], bool)}


PRETRAINING_METADATA = ('epoch', 'loss', 'batch_size', 'world_size', 'lr')
CLASSIFIER_METADATA = ('epoch', 'batch_size', 'world_size', 'lr')


def import_pretraining(checkpoint: Mapping[str, Any], num_heads: int | None = None,
                       img_size: int | None = None, num_frames: int = 16,
                       predictor_num_heads: int | None = None) -> Converted:
    """Converts an official pretraining checkpoint dict (``torch.load`` of ``jepa-*.pth.tar``).

    Uses ``encoder``, ``target_encoder`` and ``predictor`` (each optional, at
    least one encoder). Widths, depths, patch/tubelet sizes, MLP sizes,
    predictor width, mask-token count and ``uniform_power`` come from the
    tensors; ``num_heads`` (when the width is not an official size),
    ``num_frames`` (default 16, the official value) and ``img_size`` (default:
    from the table's token count) from arguments.
    """
    present = [k for k in ('encoder', 'target_encoder', 'predictor')
               if checkpoint.get(k) is not None]
    if not {'encoder', 'target_encoder'} & set(present):
        raise ConversionError('Not an official V-JEPA pretraining checkpoint: no "encoder" or '
                              f'"target_encoder" entry (top-level keys: {sorted(checkpoint)}). '
                              'For an attentive-probe checkpoint use import_classifier.')
    sds = {k: strip_prefix(checkpoint[k], ('module.', 'backbone.')) for k in present}
    first = 'target_encoder' if 'target_encoder' in sds else 'encoder'
    enc_cfg = encoder_config(sds[first], num_heads, img_size, num_frames)
    result = Converted({'encoder': enc_cfg}, {},
                       metadata=_metadata(checkpoint, PRETRAINING_METADATA))
    errors = []
    for name in present:
        try:
            if name == 'predictor':
                result.config['predictor'] = predictor_config(sds[name], enc_cfg,
                                                              predictor_num_heads)
                params, kept = predictor_params(sds[name], result.config['predictor'])
            else:
                params, kept = encoder_params(sds[name], enc_cfg, name)
        except ConversionError as e:
            errors.append(str(e))
            continue
        result.params[name] = params
        result.official_tensors.update({f'{name}/{k}': v for k, v in kept.items()})
    if errors:
        raise ConversionError('\n'.join(errors))
    return result


def import_classifier(checkpoint: Mapping[str, Any], num_heads: int | None = None) -> Converted:
    """Converts an official attentive-probe checkpoint (its ``classifier`` entry)."""
    if checkpoint.get('classifier') is None:
        raise ConversionError('Not an official attentive-probe checkpoint: no "classifier" '
                              f'entry (top-level keys: {sorted(checkpoint)}). For a '
                              'pretraining checkpoint use import_pretraining.')
    sd = strip_prefix(checkpoint['classifier'], ('module.',))
    cfg = classifier_config(sd, num_heads)
    width = int(sd['pooler.query_tokens'].shape[-1])
    params, kept = classifier_params(sd, cfg, width)
    return Converted({'classifier': cfg, 'embed_dim': width}, {'classifier': params},
                     {f'classifier/{k}': v for k, v in kept.items()},
                     _metadata(checkpoint, CLASSIFIER_METADATA))


def export_pretraining(converted: Converted) -> dict[str, Any]:
    """Our encoder / target-encoder / predictor params -> official checkpoint dict.

    Entries in the official order: ``encoder``, ``predictor``,
    ``target_encoder`` state dicts (``module.backbone.`` keys, official key
    order, float32), then ``epoch``/``loss``/``batch_size``/``world_size``/``lr``
    where known. There is no ``opt`` entry: the file loads with the official
    evaluation loader and with ``load_state_dict(strict=True)``, not as a
    training resume point.
    """
    enc_cfg = converted.config['encoder']
    enc = VisionTransformer(**enc_cfg)
    enc_table = pos_embed.video_table(enc.embed_dim, enc.grid, enc.uniform_power)[None]
    out: dict[str, Any] = {}
    for name in ('encoder', 'predictor', 'target_encoder'):
        if name not in converted.params:
            continue
        kept = converted.kept(name)
        if name == 'predictor':
            cfg = converted.config['predictor']
            pred = Predictor(**cfg)
            table = pos_embed.video_table(pred.predictor_embed_dim, pred.grid,
                                          pred.uniform_power)[None]
            out[name] = state_dict_from_params(
                converted.params[name], PREDICTOR_KEYS, cfg['depth'], cfg['num_mask_tokens'],
                BACKBONE_PREFIX, kept, {'predictor_pos_embed': table})
        else:
            out[name] = state_dict_from_params(converted.params[name], ENCODER_KEYS,
                                               enc_cfg['depth'], 0, BACKBONE_PREFIX, kept,
                                               {'pos_embed': enc_table})
    out.update({k: converted.metadata[k] for k in PRETRAINING_METADATA if k in converted.metadata})
    return out


def export_classifier(converted: Converted) -> dict[str, Any]:
    """Our classifier params -> official probe checkpoint dict (``classifier`` with ``module.`` keys)."""
    cfg = converted.config['classifier']
    sd = state_dict_from_params(converted.params['classifier'], CLASSIFIER_KEYS, cfg['depth'] - 1,
                                0, CLASSIFIER_PREFIX, converted.kept('classifier'))
    return {'classifier': sd,
            **{k: converted.metadata[k] for k in CLASSIFIER_METADATA if k in converted.metadata}}

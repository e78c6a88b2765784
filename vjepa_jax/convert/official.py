"""Official V-JEPA checkpoints <-> our params, through one declarative key table.

Every official key is listed in ``ENCODER_KEYS``, ``PREDICTOR_KEYS`` or
``CLASSIFIER_KEYS`` with the path of our parameter and the layout change
between them. Import fails listing every unmapped, missing and mis-shaped key
at once; nothing is skipped silently. Export writes the same keys back, in the
official order, with the ``module.backbone.`` / ``module.`` prefixes of the
official DDP-wrapped ``state_dict``.

Layout changes (torch -> ours):
  linear     ``[out, in]`` -> ``[in, out]``
  heads_in   ``[n*H*hd, D]`` -> ``[D, n, H, hd]`` (fused qkv / kv; q is ``[D, H, hd]``)
  heads_out  ``[D, H*hd]`` -> ``[H, hd, D]`` (attention output projection)
  reshape    ``[n*H*hd]`` -> ``[n, H, hd]`` (biases of the above)
  conv3d     ``[D, C, t, p, p]`` -> ``[t, p, p, C, D]``
  row        ``[1, 1, d]`` -> row ``j`` of ``[n, d]`` (mask tokens)
  query      ``[1, Q, D]`` -> ``[Q, D]``
  table      fixed sin-cos table: not a parameter of ours; checked on import
             (it tells ``uniform_power``), kept verbatim, and recomputed on
             export when no kept copy exists (float64 ``sin`` may differ by an
             ulp between CPUs, so a kept copy makes round trips bit-exact)
  unused     held by the official module but never read by its forward
             (the classifier's ``xattn.proj``): kept verbatim, zeros on
             export when no kept copy exists
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from vjepa_jax.convert.official_config import (
    ConversionError,
    classifier_config,
    encoder_config,
    predictor_config,
)
from vjepa_jax.models import layers, pos_embed
from vjepa_jax.models.attentive_probe import AttentiveClassifier
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

BACKBONE_PREFIX = 'module.backbone.'
CLASSIFIER_PREFIX = 'module.'

# (official key, our param path, layout change). "{i}" is the block index and
# "{j}" the mask-token index; nested tuples are repeated per block.
BLOCK_KEYS = (
    ('norm1.weight', 'norm1/scale', 'copy'),
    ('norm1.bias', 'norm1/bias', 'copy'),
    ('attn.qkv.weight', 'attn/qkv/kernel', 'heads_in'),
    ('attn.qkv.bias', 'attn/qkv/bias', 'reshape'),
    ('attn.proj.weight', 'attn/proj/kernel', 'heads_out'),
    ('attn.proj.bias', 'attn/proj/bias', 'copy'),
    ('norm2.weight', 'norm2/scale', 'copy'),
    ('norm2.bias', 'norm2/bias', 'copy'),
    ('mlp.fc1.weight', 'mlp/fc1/kernel', 'linear'),
    ('mlp.fc1.bias', 'mlp/fc1/bias', 'copy'),
    ('mlp.fc2.weight', 'mlp/fc2/kernel', 'linear'),
    ('mlp.fc2.bias', 'mlp/fc2/bias', 'copy'),
)
ENCODER_KEYS = (
    ('pos_embed', None, 'table'),
    ('patch_embed.proj.weight', 'patch_embed/kernel', 'conv3d'),
    ('patch_embed.proj.bias', 'patch_embed/bias', 'copy'),
    ('blocks.{i}.', 'blocks/layer_{i}/', BLOCK_KEYS),
    ('norm.weight', 'norm/scale', 'copy'),
    ('norm.bias', 'norm/bias', 'copy'),
)
PREDICTOR_KEYS = (
    ('predictor_pos_embed', None, 'table'),
    ('predictor_embed.weight', 'predictor_embed/kernel', 'linear'),
    ('predictor_embed.bias', 'predictor_embed/bias', 'copy'),
    ('mask_tokens.{j}', 'mask_tokens', 'row'),
    ('predictor_blocks.{i}.', 'predictor_blocks/layer_{i}/', BLOCK_KEYS),
    ('predictor_norm.weight', 'predictor_norm/scale', 'copy'),
    ('predictor_norm.bias', 'predictor_norm/bias', 'copy'),
    ('predictor_proj.weight', 'predictor_proj/kernel', 'linear'),
    ('predictor_proj.bias', 'predictor_proj/bias', 'copy'),
)
_XBLOCK = 'pooler.cross_attention_block.'
_OUR_XBLOCK = 'pooler/cross_attention_block/'
CLASSIFIER_KEYS = (
    ('pooler.query_tokens', 'pooler/query_tokens', 'query'),
    (_XBLOCK + 'norm1.weight', _OUR_XBLOCK + 'norm1/scale', 'copy'),
    (_XBLOCK + 'norm1.bias', _OUR_XBLOCK + 'norm1/bias', 'copy'),
    (_XBLOCK + 'xattn.q.weight', _OUR_XBLOCK + 'xattn/q/kernel', 'heads_in'),
    (_XBLOCK + 'xattn.q.bias', _OUR_XBLOCK + 'xattn/q/bias', 'reshape'),
    (_XBLOCK + 'xattn.kv.weight', _OUR_XBLOCK + 'xattn/kv/kernel', 'heads_in'),
    (_XBLOCK + 'xattn.kv.bias', _OUR_XBLOCK + 'xattn/kv/bias', 'reshape'),
    (_XBLOCK + 'xattn.proj.weight', None, 'unused'),
    (_XBLOCK + 'xattn.proj.bias', None, 'unused'),
    (_XBLOCK + 'norm2.weight', _OUR_XBLOCK + 'norm2/scale', 'copy'),
    (_XBLOCK + 'norm2.bias', _OUR_XBLOCK + 'norm2/bias', 'copy'),
    (_XBLOCK + 'mlp.fc1.weight', _OUR_XBLOCK + 'mlp/fc1/kernel', 'linear'),
    (_XBLOCK + 'mlp.fc1.bias', _OUR_XBLOCK + 'mlp/fc1/bias', 'copy'),
    (_XBLOCK + 'mlp.fc2.weight', _OUR_XBLOCK + 'mlp/fc2/kernel', 'linear'),
    (_XBLOCK + 'mlp.fc2.bias', _OUR_XBLOCK + 'mlp/fc2/bias', 'copy'),
    ('pooler.blocks.{i}.', 'pooler/blocks_{i}/', BLOCK_KEYS),
    ('linear.weight', 'linear/kernel', 'linear'),
    ('linear.bias', 'linear/bias', 'copy'),
)


@dataclasses.dataclass(frozen=True)
class Entry:
    official: str           # key without the DDP prefix
    path: str | None        # our param path ("a/b/c"), None for table / unused
    kind: str
    row: int | None = None  # mask-token index for kind "row"


def expand(table: tuple, depth: int = 0, num_rows: int = 0) -> list[Entry]:
    """The table instantiated for ``depth`` blocks and ``num_rows`` mask tokens, in official order."""
    out = []
    for official, ours, kind in table:
        if isinstance(kind, tuple):
            for i in range(depth):
                out += [Entry(official.format(i=i) + o, ours.format(i=i) + p, k)
                        for o, p, k in kind]
        elif '{j}' in official:
            out += [Entry(official.format(j=j), ours, kind, j) for j in range(num_rows)]
        else:
            out.append(Entry(official, ours, kind))
    return out


# --------------------------------------------------------------------------- layouts


def _to_ours(kind: str, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if kind == 'copy':
        return w
    if kind == 'linear':
        return w.T
    if kind == 'heads_in':
        return np.moveaxis(w.reshape(*shape[1:], shape[0]), -1, 0)
    if kind == 'heads_out':
        return w.T.reshape(shape)
    if kind in ('reshape', 'query'):
        return w.reshape(shape)
    if kind == 'conv3d':
        return w.transpose(2, 3, 4, 1, 0)
    raise AssertionError(kind)


def _to_official(kind: str, a: np.ndarray) -> np.ndarray:
    if kind == 'copy':
        return a
    if kind == 'linear':
        return a.T
    if kind == 'heads_in':
        return np.moveaxis(a, 0, -1).reshape(-1, a.shape[0])
    if kind == 'heads_out':
        return a.reshape(-1, a.shape[-1]).T
    if kind == 'reshape':
        return a.reshape(-1)
    if kind == 'query':
        return a[None]
    if kind == 'conv3d':
        return a.transpose(4, 3, 0, 1, 2)
    raise AssertionError(kind)


def _official_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Official tensor shape for our param shape (via a zero-stride array: no memory)."""
    if kind == 'row':
        return (1, 1, shape[-1])
    return _to_official(kind, np.broadcast_to(np.float32(0), shape)).shape


# --------------------------------------------------------------------------- helpers


def _flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    flat = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f'{prefix}{k}/'))
        else:
            flat[prefix + k] = v
    return flat


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, v in flat.items():
        node = tree
        *parents, leaf = path.split('/')
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return tree


def _unroll(params: Mapping[str, Any]) -> dict[str, Any]:
    """Scanned block stacks (``layers``) -> unrolled ``layer_{i}``, recursively."""
    out = {}
    for k, v in params.items():
        if isinstance(v, Mapping):
            v = layers.unstack_layers(v) if 'layers' in v else v
            out[k] = _unroll(v)
        else:
            out[k] = v
    return out


def strip_prefix(state_dict: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Drops the DDP / wrapper prefixes (``module.``, ``backbone.``) where present."""
    out = {}
    for key, value in state_dict.items():
        for p in prefixes:
            key = key.removeprefix(p)
        out[key] = np.asarray(value)
    return out


def _abstract_params(module, *args) -> dict[str, Any]:
    """Unboxed param shapes of ``module`` (unrolled layout) without allocating."""
    module = module.clone(scan_layers=False) if hasattr(module, 'scan_layers') else module
    arrays = [a for a in args if isinstance(a, jax.ShapeDtypeStruct)]
    statics = [a for a in args if not isinstance(a, jax.ShapeDtypeStruct)]

    def init(*arrays):
        return module.init(jax.random.key(0), *arrays, *statics)

    shapes = jax.eval_shape(init, *arrays)
    return _unroll(nn.meta.unbox(shapes['params']))


# --------------------------------------------------------------------------- core


def params_from_state_dict(state_dict: Mapping[str, Any], table: tuple, depth: int,
                           num_rows: int, expected: Mapping[str, Any],
                           what: str) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                               dict[str, np.ndarray]]:
    """Maps an (un-prefixed) official state dict onto our param tree.

    Args:
      state_dict: official key -> array, prefixes already stripped.
      table: one of the ``*_KEYS`` tables; ``depth``/``num_rows`` expand it.
      expected: our param shapes (unrolled), e.g. from ``jax.eval_shape``.
      what: name used in error messages (``"encoder"``).

    Returns:
      ``(params, kept)``: our nested params (float32 NumPy) and, by official
      key, the tensors that are not params of ours (tables, unused weights).

    Raises:
      ConversionError listing every unmapped, missing and mis-shaped key.
    """
    entries = expand(table, depth, num_rows)
    flat_expected = _flatten(expected)
    known = {e.official for e in entries}
    unmapped = sorted(set(state_dict) - known)
    missing, misshaped = [], []
    flat, kept = {}, {}
    rows: dict[str, dict[int, np.ndarray]] = {}
    for e in entries:
        if e.official not in state_dict:
            missing.append(e.official)
            continue
        w = np.asarray(state_dict[e.official])
        if e.kind in ('table', 'unused'):
            kept[e.official] = w
            continue
        shape = tuple(flat_expected[e.path].shape)
        want = _official_shape(e.kind, shape)
        if tuple(w.shape) != want:
            misshaped.append(f'{e.official}: checkpoint {list(w.shape)}, model expects {list(want)}')
            continue
        w = w.astype(np.float32)
        if e.kind == 'row':
            rows.setdefault(e.path, {})[e.row] = w.reshape(-1)
        else:
            flat[e.path] = np.ascontiguousarray(_to_ours(e.kind, w, shape))
    for path, by_row in rows.items():
        if len(by_row) == flat_expected[path].shape[0]:
            flat[path] = np.stack([by_row[j] for j in range(len(by_row))])
    problems = []
    if unmapped:
        problems.append(f'{len(unmapped)} unmapped key(s) (no place in the model): {unmapped}')
    if missing:
        problems.append(f'{len(missing)} missing key(s) (the model needs them): {missing}')
    if misshaped:
        problems.append(f'{len(misshaped)} mis-shaped key(s): {misshaped}')
    if problems:
        raise ConversionError(f'The {what} state dict does not match the model:\n  - '
                              + '\n  - '.join(problems))
    not_filled = sorted(set(flat_expected) - set(flat))
    assert not not_filled, f'table does not cover {not_filled}'
    return _unflatten(flat), kept


def state_dict_from_params(params: Mapping[str, Any], table: tuple, depth: int, num_rows: int,
                           prefix: str, kept: Mapping[str, np.ndarray] | None = None,
                           tables: Mapping[str, np.ndarray] | None = None) -> OrderedDict:
    """Our params (scanned or unrolled) -> official state dict with ``prefix``, official order.

    ``kept`` gives official tensors kept at import (tables, unused weights),
    used verbatim when their shape fits; otherwise tables come from
    ``tables`` and unused weights are zeros.
    """
    flat = _flatten(_unroll(jax.device_get(dict(params))))
    out = OrderedDict()
    for e in expand(table, depth, num_rows):
        stored = (kept or {}).get(e.official)
        if e.kind == 'table':
            value = np.asarray(tables[e.official])
            if stored is not None and np.shape(stored) == value.shape:
                value = stored
        elif e.kind == 'unused':
            value = stored if stored is not None else _unused_zeros(e.official, flat)
        elif e.kind == 'row':
            value = np.asarray(flat[e.path])[e.row].reshape(1, 1, -1)
        else:
            value = _to_official(e.kind, np.asarray(flat[e.path]))
        out[prefix + e.official] = np.ascontiguousarray(value, np.float32)
    return out


def _unused_zeros(key: str, flat: Mapping[str, Any]) -> np.ndarray:
    dim = np.asarray(flat['pooler/query_tokens']).shape[-1]
    return np.zeros((dim, dim) if key.endswith('weight') else (dim,), np.float32)


# --------------------------------------------------------------------------- public API


def encoder_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any], what: str = 'encoder'):
    model = VisionTransformer(**cfg)
    t, h, w = model.grid
    video = jax.ShapeDtypeStruct((1, t * model.tubelet_size, h * model.patch_size,
                                  w * model.patch_size, 3), np.float32)
    expected = _abstract_params(model, video)
    return params_from_state_dict(sd, ENCODER_KEYS, cfg['depth'], 0, expected, what)


def predictor_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any]):
    model = Predictor(**cfg)
    ctx = jax.ShapeDtypeStruct((1, 1, cfg['embed_dim']), np.float32)
    idx = jax.ShapeDtypeStruct((1, 1), np.int32)
    expected = _abstract_params(model, ctx, idx, idx, 0)
    return params_from_state_dict(sd, PREDICTOR_KEYS, cfg['depth'], cfg['num_mask_tokens'],
                                  expected, 'predictor')


def classifier_params(sd: Mapping[str, np.ndarray], cfg: Mapping[str, Any], width: int):
    model = AttentiveClassifier(**cfg)
    tokens = jax.ShapeDtypeStruct((1, 1, width), np.float32)
    expected = _abstract_params(model, tokens)
    return params_from_state_dict(sd, CLASSIFIER_KEYS, cfg['depth'] - 1, 0, expected,
                                  'classifier')


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

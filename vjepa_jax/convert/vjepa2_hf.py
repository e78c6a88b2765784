"""Hugging Face ``transformers`` V-JEPA 2 directories (safetensors + ``config.json``), both ways.

Reads and writes the ``VJEPA2Model`` naming (``encoder.*``, ``predictor.*``)
and ``VJEPA2ForVideoClassification`` (the backbone under ``vjepa2.``, then
``pooler.*`` and ``classifier.*``) through NumPy only (``safetensors.numpy``,
no torch). The HF names are a renaming of the official ones (facts note §10):
fused ``qkv`` rows split into ``query`` / ``key`` / ``value`` (pooler:
``q_proj`` / ``k_proj`` / ``v_proj``; cross ``kv`` into ``k_proj`` /
``v_proj``), the mask tokens stacked into one ``[n, 1, 1, Dp]`` tensor. So a
directory is converted to official state dicts and then through the official
tables (``vjepa2_official``); round trips are exact.

Behaviour options where Hugging Face and the official code disagree:
  * probe attention heads: HF uses the encoder's head count
    (``num_attention_heads``), the official probes 16 (same weight shapes,
    different outputs). Reading follows HF unless ``probe_num_heads`` is given.
  * probe LayerNorm eps: HF uses ``layer_norm_eps`` (1e-6), the official probe
    1e-5. Reading follows HF unless ``probe_layer_norm_eps`` is given.
  * encoder RoPE grid: HF always uses ``crop_size // patch_size``; our encoder
    uses the actual input grid (official). Identical at the config crop.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vjepa_jax.convert import key_table, param_trees
from vjepa_jax.convert import vjepa2_official as v2
from vjepa_jax.convert.official_config import ConversionError, count_blocks

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
MODEL_ARCH = 'VJEPA2Model'
CLASSIFIER_ARCH = 'VJEPA2ForVideoClassification'
_QKV = ('query', 'key', 'value')
_POOLER_QKV = ('q_proj', 'k_proj', 'v_proj')

# (official regex, HF template) for one-to-one renames, tried in order.
_RENAMES = (
    (r'patch_embed\.proj\.(\w+)$', 'encoder.embeddings.patch_embeddings.proj.{0}'),
    (r'blocks\.(\d+)\.attn\.proj\.(\w+)$', 'encoder.layer.{0}.attention.proj.{1}'),
    (r'blocks\.(\d+)\.(norm[12]|mlp\.fc[12])\.(\w+)$', 'encoder.layer.{0}.{1}.{2}'),
    (r'norm\.(\w+)$', 'encoder.layernorm.{0}'),
    (r'predictor_embed\.(\w+)$', 'predictor.embeddings.predictor_embeddings.{0}'),
    (r'predictor_blocks\.(\d+)\.attn\.proj\.(\w+)$', 'predictor.layer.{0}.attention.proj.{1}'),
    (r'predictor_blocks\.(\d+)\.(norm[12]|mlp\.fc[12])\.(\w+)$', 'predictor.layer.{0}.{1}.{2}'),
    (r'predictor_norm\.(\w+)$', 'predictor.layernorm.{0}'),
    (r'predictor_proj\.(\w+)$', 'predictor.proj.{0}'),
    (r'pooler\.query_tokens$', 'pooler.query_tokens'),
    (r'pooler\.blocks\.(\d+)\.norm([12])\.(\w+)$', 'pooler.self_attention_layers.{0}.layer_norm{1}.{2}'),
    (r'pooler\.blocks\.(\d+)\.attn\.proj\.(\w+)$', 'pooler.self_attention_layers.{0}.self_attn.out_proj.{1}'),
    (r'pooler\.blocks\.(\d+)\.mlp\.(fc[12])\.(\w+)$', 'pooler.self_attention_layers.{0}.mlp.{1}.{2}'),
    (r'pooler\.cross_attention_block\.norm([12])\.(\w+)$', 'pooler.cross_attention_layer.layer_norm{0}.{1}'),
    (r'pooler\.cross_attention_block\.xattn\.q\.(\w+)$', 'pooler.cross_attention_layer.cross_attn.q_proj.{0}'),
    (r'pooler\.cross_attention_block\.mlp\.(fc[12])\.(\w+)$', 'pooler.cross_attention_layer.mlp.{0}.{1}'),
    (r'linear\.(\w+)$', 'classifier.{0}'),
)
# (official regex, HF template with {part}, part names) for fused projections.
_SPLITS = (
    (r'blocks\.(\d+)\.attn\.qkv\.(\w+)$', 'encoder.layer.{0}.attention.{part}.{1}', _QKV),
    (r'predictor_blocks\.(\d+)\.attn\.qkv\.(\w+)$', 'predictor.layer.{0}.attention.{part}.{1}',
     _QKV),
    (r'pooler\.blocks\.(\d+)\.attn\.qkv\.(\w+)$',
     'pooler.self_attention_layers.{0}.self_attn.{part}.{1}', _POOLER_QKV),
    (r'pooler\.cross_attention_block\.xattn\.kv\.(\w+)$',
     'pooler.cross_attention_layer.cross_attn.{part}.{0}', ('k_proj', 'v_proj')),
)
MASK_TOKENS = 'predictor.embeddings.mask_tokens'


def hf_names(key: str) -> tuple[str, ...]:
    """The HF name(s) of one un-prefixed official key (several for a fused projection, split
    along rows in that order). Mask tokens (``mask_tokens.j``) are stacked separately."""
    for pattern, template in _RENAMES:
        if m := re.fullmatch(pattern, key):
            return (template.format(*m.groups()),)
    for pattern, template, parts in _SPLITS:
        if m := re.fullmatch(pattern, key):
            return tuple(template.format(*m.groups(), part=part) for part in parts)
    raise ConversionError(f'official key {key!r} has no Hugging Face name.')


def _backbone(hf_key: str, prefix: str) -> str:
    return prefix + hf_key if hf_key.startswith(('encoder.', 'predictor.')) else hf_key


def official_to_hf(sds: Mapping[str, Mapping[str, np.ndarray]], prefix: str = '') -> OrderedDict:
    """``{'encoder', 'predictor', 'classifier'}`` un-prefixed official state dicts -> one HF state
    dict; ``prefix`` goes before the backbone keys (``'vjepa2.'`` in a classification model)."""
    out = OrderedDict()
    for module in ('encoder', 'predictor', 'classifier'):
        tokens = []
        for key, value in sds.get(module, {}).items():
            if re.fullmatch(r'mask_tokens\.\d+', key):
                tokens.append(np.asarray(value))
                continue
            names = hf_names(key)
            for name, chunk in zip(names, np.split(np.asarray(value), len(names), axis=0)):
                out[_backbone(name, prefix)] = np.ascontiguousarray(chunk)
        if tokens:
            out[prefix + MASK_TOKENS] = np.stack(tokens)
    return out


def hf_to_official(hf: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """HF state dict -> un-prefixed official ``{'encoder', 'predictor', 'classifier'}`` dicts
    (those present), in official key order. Unknown or missing HF keys raise, listed together."""
    flat = {k.removeprefix('vjepa2.'): np.asarray(v) for k, v in hf.items()}
    depth = {'encoder': count_blocks(flat, r'encoder\.layer\.(\d+)\..*'),
             'predictor': count_blocks(flat, r'predictor\.layer\.(\d+)\..*'),
             'classifier': count_blocks(flat, r'pooler\.self_attention_layers\.(\d+)\..*')}
    present = {'encoder': any(k.startswith('encoder.') for k in flat),
               'predictor': any(k.startswith('predictor.') for k in flat),
               'classifier': 'pooler.query_tokens' in flat}
    tables = {'encoder': v2.ENCODER_KEYS, 'predictor': v2.PREDICTOR_KEYS,
              'classifier': v2.CLASSIFIER_KEYS}
    out: dict[str, dict[str, np.ndarray]] = {}
    used, missing = set(), []
    for module, table in tables.items():
        if not present[module]:
            continue
        sd = {}
        tokens = flat.get(MASK_TOKENS) if module == 'predictor' else None
        rows = 0 if tokens is None else tokens.shape[0]
        for entry in key_table.expand(table, depth[module], rows):
            if entry.kind == 'row':
                sd[entry.official] = tokens[entry.row]
                used.add(MASK_TOKENS)
                continue
            names = hf_names(entry.official)
            if any(n not in flat for n in names):
                missing += [n for n in names if n not in flat]
                continue
            used.update(names)
            sd[entry.official] = np.concatenate([flat[n] for n in names], axis=0)
        out[module] = sd
    unknown = sorted(set(flat) - used)
    problems = []
    if unknown:
        problems.append(f'{len(unknown)} key(s) with no place in a V-JEPA 2 model: {unknown[:10]}')
    if missing:
        problems.append(f'{len(missing)} missing key(s): {missing[:10]}')
    if problems:
        raise ConversionError('The Hugging Face checkpoint does not match a V-JEPA 2 model:\n  - '
                              + '\n  - '.join(problems))
    return out


# --------------------------------------------------------------------------- directories

# Written next to the HF fields so that our reader restores a probe whose heads / eps differ
# from what HF would use; transformers keeps unknown config fields and ignores them.
OUR_PROBE_HEADS = 'vjepa_jax_probe_num_heads'
OUR_PROBE_EPS = 'vjepa_jax_probe_layer_norm_eps'


def is_hf_dir(path: str | Path) -> bool:
    """A directory with a ``config.json`` of ``model_type`` ``vjepa2`` and safetensors weights."""
    path = Path(path)
    if not (path.is_dir() and (path / CONFIG_FILE).is_file()):
        return False
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False
    return config.get('model_type') == 'vjepa2' and any(path.glob('*.safetensors'))


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of every ``*.safetensors`` file in a directory (sharded or not), as NumPy."""
    from safetensors import safe_open

    tensors = {}
    for file in sorted(Path(path).glob('*.safetensors')):
        with safe_open(str(file), framework='numpy') as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a Mapping)
                tensors[key] = f.get_tensor(key)
    return tensors


def read_dir(path: str | Path, probe_num_heads: int | None = None,
             probe_layer_norm_eps: float | None = None
             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """HF V-JEPA 2 directory -> ``(config, params, provenance)``.

    ``params`` has ``encoder`` (HF keeps one encoder; the hub / HF conversion
    took the official ``encoder`` entry), ``predictor`` when present and, for a
    classification model, ``classifiers`` (one head). Probe heads / eps follow
    HF unless given (module docstring).
    """
    path = Path(path)
    if not is_hf_dir(path):
        raise ConversionError(f'{path} is not a Hugging Face V-JEPA 2 directory (needs '
                              f'{CONFIG_FILE} with "model_type": "vjepa2" and *.safetensors).')
    hf_config = json.loads((path / CONFIG_FILE).read_text())
    sds = hf_to_official(read_safetensors(path))
    if 'encoder' not in sds:
        raise ConversionError(f'{path}: the safetensors hold no encoder.')
    enc = v2.encoder_config(sds['encoder'], hf_config.get('num_attention_heads'),
                            hf_config.get('crop_size', 256), hf_config.get('frames_per_clip', 64))
    config: dict[str, Any] = {'family': v2.FAMILY, 'encoder': enc}
    params: dict[str, Any] = {'encoder': v2.encoder_params(sds['encoder'], enc)}
    if 'predictor' in sds:
        config['predictor'] = v2.predictor_config(sds['predictor'], enc,
                                                  hf_config.get('pred_num_attention_heads'))
        params['predictor'] = v2.predictor_params(sds['predictor'], config['predictor'])
    if 'classifier' in sds:
        heads = (probe_num_heads or hf_config.get(OUR_PROBE_HEADS)
                 or hf_config.get('num_attention_heads'))
        cfg = v2.classifier_config(sds['classifier'], int(heads))
        cfg['layer_norm_eps'] = float(probe_layer_norm_eps or hf_config.get(OUR_PROBE_EPS)
                                      or hf_config.get('layer_norm_eps', 1e-6))
        config['classifier'], config['embed_dim'] = cfg, enc['embed_dim']
        params['classifiers'] = [v2.classifier_params(sds['classifier'], cfg, enc['embed_dim'])]
    provenance = {'format': 'vjepa2_hf_dir', 'ignored': [],
                  'metadata': {'architectures': hf_config.get('architectures', [])},
                  'hf_config': hf_config}
    return config, params, provenance


def _ratio(hidden: int, width: int) -> float:
    """An ``mlp_ratio`` with ``int(width * ratio) == hidden``, as HF sizes the MLP."""
    ratio = hidden / width
    while int(width * ratio) < hidden:
        ratio = float(np.nextafter(ratio, np.inf))
    return ratio


def hf_config_for(config: Mapping[str, Any], classifier: bool) -> dict[str, Any]:
    """The HF ``config.json`` of our model config (``VJEPA2Model`` or the classifier)."""
    enc = config['encoder']
    pred = config.get('predictor', {})
    cls = config.get('classifier') or {}
    out = {'architectures': [CLASSIFIER_ARCH if classifier else MODEL_ARCH],
           'model_type': 'vjepa2', 'patch_size': enc['patch_size'], 'crop_size': enc['img_size'],
           'frames_per_clip': enc['num_frames'], 'tubelet_size': enc['tubelet_size'],
           'hidden_size': enc['embed_dim'], 'in_chans': 3,
           'num_attention_heads': enc['num_heads'], 'num_hidden_layers': enc['depth'],
           'drop_path_rate': 0.0, 'mlp_ratio': _ratio(enc['mlp_dim'], enc['embed_dim']),
           'layer_norm_eps': enc.get('layer_norm_eps', 1e-6), 'qkv_bias': True,
           'attention_probs_dropout_prob': 0.0, 'hidden_act': 'gelu',
           'initializer_range': 0.02, 'attention_dropout': 0.0,
           'num_pooler_layers': cls.get('depth', 4) - 1, 'torch_dtype': 'float32'}
    if pred:
        out.update({'pred_hidden_size': pred['predictor_embed_dim'],
                    'pred_num_attention_heads': pred['num_heads'],
                    'pred_num_hidden_layers': pred['depth'],
                    'pred_num_mask_tokens': pred['num_mask_tokens'],
                    'pred_zero_init_mask_tokens': True,
                    'pred_mlp_ratio': _ratio(pred['mlp_dim'], pred['predictor_embed_dim'])})
    if classifier:
        labels = {str(i): f'LABEL_{i}' for i in range(cls['num_classes'])}
        out.update({'id2label': labels, 'label2id': {v: int(k) for k, v in labels.items()},
                    OUR_PROBE_HEADS: cls['num_heads'],
                    OUR_PROBE_EPS: cls.get('layer_norm_eps', 1e-5)})
    return out


def write_dir(path: str | Path, config: Mapping[str, Any], params: Mapping[str, Any],
              encoder_key: str = 'encoder', head: int = 0) -> Path:
    """Writes ``config.json`` + ``model.safetensors`` (float32) for HF ``transformers``.

    ``encoder_key`` picks which of our encoders HF's single encoder gets
    (``encoder``, as the hub / HF conversion, or ``target_encoder``); with
    ``classifiers`` in ``params`` the result is a ``VJEPA2ForVideoClassification``
    with head ``head``.
    """
    from safetensors.numpy import save_file

    if encoder_key not in params:
        raise ConversionError(f'no {encoder_key!r} params to write (have {sorted(params)}).')
    classifier = 'classifiers' in params
    enc_cfg = dict(config['encoder'])
    sds = {'encoder': v2.write_pretraining({'encoder': enc_cfg}, {'encoder': params[encoder_key]})
           ['encoder']}
    if 'predictor' in params:
        sds['predictor'] = v2.write_pretraining(config, {'predictor': params['predictor']})[
            'predictor']
    if classifier:
        sds['classifier'] = v2.write_probe(config, {'classifiers': [params['classifiers'][head]]})[
            'classifiers'][0]
    sds = {m: param_trees.strip_prefix(sd, ('module.', 'backbone.')) for m, sd in sds.items()}
    tensors = official_to_hf(sds, 'vjepa2.' if classifier else '')
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()},
              str(path / WEIGHTS_FILE), metadata={'format': 'pt'})
    (path / CONFIG_FILE).write_text(json.dumps(hf_config_for(config, classifier), indent=2) + '\n')
    return path

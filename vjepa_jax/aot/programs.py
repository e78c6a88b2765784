"""The jitted steps of a config, with abstract arguments placed on a mesh: ready to lower.

A pretraining config gives its train step (``train.step.jit_train_step``, the
function ``run_pretraining`` calls). A probe config gives the four functions
of the probe job (``evaluation.probe_steps.jit_probe_fns``): frozen features of a
training batch, the probe grid's update, features of an evaluation batch (all
segments and views) and the evaluation counts. The mesh may hold compile-only
devices or be a ``jax.sharding.AbstractMesh`` (lowering only).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax import sharding
from vjepa_jax.config_lib import FAMILIES, decode_variant
from vjepa_jax.errors import ConfigError, config_problems
from vjepa_jax.models.builder import compute_dtype
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.models.vjepa2 import VJEPA2Encoder
from vjepa_jax.models.vjepa2.encoder import out_layers_problem
from vjepa_jax.train import flops
from vjepa_jax.train.program import (
    abstract_batch,
    abstract_state,
    boxed_abstract_state,
    pretrain_program,
)
from vjepa_jax.train.step import jit_train_step


@dataclasses.dataclass(frozen=True)
class Program:
    """One jitted function and abstract arguments to lower it with.

    ``per_device_batch``: samples per batch shard (global batch / batch-axis
    ways); ``flops``: analytic FLOPs of one call over the whole mesh.
    """

    name: str
    jitted: Any
    args: tuple
    global_batch: int
    per_device_batch: int
    flops: float
    mesh: Any
    sharding_note: str = ''  # params whose rule-given layout fell back (``sharding_plan``)

    def lower(self, platform: str | None = None):
        """Lowers under the mesh (abstract meshes need ``platform``, e.g. ``'tpu'``)."""
        if isinstance(self.mesh, jax.sharding.AbstractMesh):
            with jax.sharding.use_abstract_mesh(self.mesh):
                return self.jitted.trace(*self.args).lower(lowering_platforms=(platform,))
        with jax.set_mesh(self.mesh):
            return self.jitted.lower(*self.args)


class BatchSplitError(ConfigError):
    """The global batch does not split over the mesh's batch axes."""


def _batch_ways(mesh, rules: sharding.Rules, global_batch: int) -> int:
    ways = sharding.data_parallel_size(mesh, rules)
    if global_batch % ways:
        raise BatchSplitError(
            f'global batch {global_batch} does not split over the batch axes '
            f'{sharding.batch_axes(rules)} '
            f'({ways} ways, mesh {dict(mesh.shape)}); choose a batch that is a multiple of '
            f'{ways}, or a mesh whose batch axes divide {global_batch} (the rest on tensor).')
    return ways


def pretrain_programs(config, mesh, global_batch: int | None = None) -> list[Program]:
    """The pretraining step of ``config`` on ``mesh`` (batch: ``config.batch_size``)."""
    program = pretrain_program(config)
    batch = int(global_batch or config.batch_size)
    ways = _batch_ways(mesh, program.rules, batch)
    boxed = boxed_abstract_state(program)
    state, shardings = abstract_state(program, mesh, boxed)
    step = jit_train_step(program.setup, mesh, program.rules, shardings)
    return [Program('pretrain step', step.jitted, (state, abstract_batch(program, batch, mesh)),
                    batch, batch // ways, batch * program.flops_per_clip(), mesh,
                    sharding.fallback_note(boxed, mesh, program.rules))]


ENCODER_FAMILIES = FAMILIES  # config_lib's model families


def probe_encoder_family(config, family: str = '') -> str:
    """The encoder family a probe config compiles with: ``family``, or the config's recipe.

    The probe job takes the family from its checkpoint; without one the recipe
    tells: V-JEPA 2 (``'vjepa2'``) when ``probe.kind == 'vjepa2'`` or
    ``encoder.out_layers`` is set (the V-JEPA 2 recipes), else V-JEPA 1 (``'vjepa'``).
    """
    if family:
        if family not in ENCODER_FAMILIES:
            raise ConfigError(f'encoder family {family!r} is not one of {list(ENCODER_FAMILIES)}.')
        return family
    v2 = config.probe.kind == 'vjepa2' or config.encoder.get('out_layers') is not None
    return 'vjepa2' if v2 else 'vjepa'


def _probe_encoder(config, variant: str, dtype: str, family: str
                   ) -> VisionTransformer | VJEPA2Encoder:
    """The encoder an official checkpoint of ``variant`` / ``family`` would load as."""
    out_layers = config.encoder.get('out_layers')
    try:
        v = decode_variant(variant, family)
    except ValueError as e:
        raise ConfigError(f'--encoder: {e}') from e
    if family != 'vjepa2' and out_layers is not None:
        raise ConfigError('encoder.out_layers is for V-JEPA 2 encoders; this check builds a '
                          'V-JEPA 1 encoder (compile with --encoder-family=vjepa2, or set '
                          'encoder.out_layers = None).')
    common = {'img_size': config.clip.crop_size, 'num_frames': config.encoder.num_frames,
              'patch_size': v.patch_size, 'embed_dim': v.embed_dim, 'depth': v.depth,
              'num_heads': config.encoder.get('num_heads') or v.num_heads,
              'mlp_dim': v.mlp_dim, 'dtype': compute_dtype(dtype)}
    if family == 'vjepa':
        return VisionTransformer(**common)
    if out_layers is not None:
        problem = out_layers_problem(out_layers, v.depth, 'encoder.out_layers')
        if problem:
            raise ConfigError(f'{problem} ({variant})')
        out_layers = tuple(int(i) for i in out_layers)
    return VJEPA2Encoder(**common, out_layers=out_layers)


def probe_programs(config, mesh, encoder_variant: str, global_batch: int | None = None,
                   dtype: str = 'bfloat16', encoder_family: str = '') -> list[Program]:
    """The probe job's four jitted functions for ``config`` with an encoder of ``encoder_variant``.

    The encoder is built as an official checkpoint would load, for
    ``config.encoder.num_frames`` frames at ``config.clip.crop_size``:
    ``VisionTransformer`` (V-JEPA 1) or ``VJEPA2Encoder`` (V-JEPA 2, with
    ``config.encoder.out_layers``: the features are those blocks' tokens joined),
    the family from ``probe_encoder_family``; ``dtype`` replaces
    ``config.encoder.dtype == 'auto'`` (accelerators: bfloat16).
    """
    from vjepa_jax.config_sections import build_section
    from vjepa_jax.evaluation import multiview, probe_recipe, probe_state, probe_steps
    from vjepa_jax.evaluation.config import SECTIONS

    rules = sharding.rules_from_config(config.sharding_rules)
    e_dtype = dtype if config.encoder.dtype == 'auto' else config.encoder.dtype
    family = probe_encoder_family(config, encoder_family)
    encoder = _probe_encoder(config, encoder_variant, e_dtype, family)
    batch = int(global_batch or config.batch_size)
    eval_batch = int(global_batch or config.eval_batch_size or config.batch_size)
    ways = _batch_ways(mesh, rules, batch)
    _batch_ways(mesh, rules, eval_batch)
    # The sections' own objects (no checkpoint or data files are needed to compile).
    problems: list[str] = []
    built = {}
    for name in ('optimizer', 'probe', 'clip'):
        built[name], section_problems = build_section(SECTIONS[name], name, config[name])
        problems += section_problems
    recipe, head, clip = built['optimizer'], built['probe'], built['clip']
    config_problems(problems)
    d = config.data
    module = probe_recipe.probe_for(head, d.num_classes, encoder)
    setup = probe_state.make_setup(recipe, module, steps_per_epoch=1000,
                                   attend_across_segments=clip.attend_across_segments)
    features, train, evaluate = probe_steps.jit_probe_fns(encoder, setup, mesh, rules)

    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    split = sharding.batch_sharding(mesh, rules)

    def placed(tree, where):
        return jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=where), tree)

    frame = (clip.frames_per_clip,) if d.kind == 'video' else ()  # images: repeated on device
    hw = (clip.crop_size, clip.crop_size, 3)
    train_views = (clip.train_segments, 1) if d.kind == 'video' else (1, 1)
    eval_views = (clip.num_segments, clip.num_views_per_segment) if d.kind == 'video' else (1, 1)
    video = jnp.zeros((1, encoder.num_frames, *hw), jnp.float32)
    boxed = jax.eval_shape(lambda: encoder.init(jax.random.key(0), video)['params'])
    enc_params = placed(nn.meta.unbox(boxed), rep)
    state = placed(jax.eval_shape(lambda: probe_state.init_probe_state(setup, encoder.embed_dim)),
                   rep)

    def clips(b, views):
        return jax.ShapeDtypeStruct((b, *views, *frame, *hw), jnp.uint8, sharding=split)

    image_frames = getattr(encoder, 'image_frames', encoder.num_frames)  # V-JEPA 2: its own
    frames = clip.frames_per_clip if d.kind == 'video' else image_frames
    clip_tokens = (frames // encoder.tubelet_size) * (clip.crop_size // encoder.patch_size) ** 2
    n_tokens = clip_tokens * len(getattr(encoder, 'out_layers', None) or (None,))  # features

    def tokens_like(b, views):
        return jax.ShapeDtypeStruct((b, *views, n_tokens, encoder.embed_dim), encoder.dtype,
                                    sharding=split)

    labels = lambda b: jax.ShapeDtypeStruct((b,), jnp.int32, sharding=split)
    valid = lambda b: jax.ShapeDtypeStruct((b,), jnp.bool_, sharding=split)

    per_clip = (flops.embed_flops(encoder, clip_tokens)  # the probe clip, not the encoder's
                + flops.transformer_flops(clip_tokens, encoder.embed_dim, encoder.depth,
                                          encoder.mlp_dim))
    calls_train = (multiview.num_probe_calls(*train_views, setup.attend_across_segments))
    calls_eval = (multiview.num_probe_calls(*eval_views, setup.attend_across_segments))
    seq_train = n_tokens * (train_views[0] if setup.attend_across_segments else 1)
    seq_eval = n_tokens * (eval_views[0] if setup.attend_across_segments else 1)
    g = setup.num_probes
    probe_train = g * calls_train * flops.attentive_probe_flops(
        seq_train, encoder.embed_dim, d.num_classes, head.depth)
    probe_eval = g * calls_eval * flops.attentive_probe_flops(
        seq_eval, encoder.embed_dim, d.num_classes, head.depth) / 3
    n_train, n_eval = train_views[0] * train_views[1], eval_views[0] * eval_views[1]
    return [
        Program('probe features (train batch)', features,
                (enc_params, clips(batch, train_views)), batch, batch // ways,
                batch * n_train * per_clip, mesh),
        Program('probe update', train,
                (state, tokens_like(batch, train_views), labels(batch), valid(batch)),
                batch, batch // ways, batch * probe_train, mesh),
        Program('probe features (eval batch)', features,
                (enc_params, clips(eval_batch, eval_views)), eval_batch, eval_batch // ways,
                eval_batch * n_eval * per_clip, mesh),
        Program('probe evaluation', evaluate,
                (state, tokens_like(eval_batch, eval_views), labels(eval_batch),
                 valid(eval_batch)), eval_batch, eval_batch // ways, eval_batch * probe_eval,
                mesh),
    ]


def config_programs(config, mesh, *, global_batch: int | None = None,
                    encoder_variant: str = 'L/16', dtype: str = 'bfloat16',
                    encoder_family: str = '') -> list[Program]:
    """The programs of a pretraining or probe config (``config.mode``); ``encoder_*``: probes."""
    if config.mode == 'pretrain':
        return pretrain_programs(config, mesh, global_batch)
    if config.mode == 'probe':
        return probe_programs(config, mesh, encoder_variant, global_batch, dtype,
                              encoder_family)
    raise ValueError(f'config.mode {config.mode!r}: only "pretrain" and "probe" configs compile.')


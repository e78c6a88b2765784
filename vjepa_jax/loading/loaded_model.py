"""What ``vjepa_jax.load`` returns: module definitions, params, config and provenance in one object.

``encode`` takes uint8 clips and normalises them on the device (ImageNet mean /
std, as the official code); already-normalised floats must say so
(``normalized=True``, or the ``NormalizedClips`` that ``preprocess`` returns).
``preprocess`` is the official evaluation transform for raw frames of any
size: shorter side to ``crop * 256 / 224``, centre ``crop`` crop, normalise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.errors import CheckpointError, ConfigError
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.input.transforms import eval_transform
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.models import AttentiveClassifier, Predictor, VisionTransformer
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
)

# The module classes of each model family, by config entry; ``config['family']`` picks the row
# (absent: V-JEPA 1, whose configs predate the field).
FAMILY_MODULES: dict[str, dict[str, type]] = {
    'vjepa': {'encoder': VisionTransformer, 'predictor': Predictor,
              'classifier': AttentiveClassifier},
    'vjepa2': {'encoder': VJEPA2Encoder, 'predictor': VJEPA2Predictor,
               'classifier': VJEPA2AttentiveClassifier},
}


@dataclasses.dataclass(frozen=True)
class NormalizedClips:
    """Clips ready for the encoder: float32 ``[B, T, H, W, 3]``, ImageNet-normalised.

    Returned by ``LoadedModel.preprocess``; ``encode`` takes it without a flag.
    A pytree, so it can cross ``jax.jit``.
    """

    video: jax.Array


jax.tree_util.register_dataclass(NormalizedClips, data_fields=['video'], meta_fields=[])


@dataclasses.dataclass
class LoadedModel:
    """Model definitions and params from any checkpoint (``vjepa_jax.load``).

    Attributes:
      kind: ``'pretraining'`` (encoder, maybe predictor) or ``'classifier'``
        (an attentive probe).
      config: JSON-able constructor arguments of the modules, by name
        (``encoder``, ``predictor``, ``classifier``; ``embed_dim`` for a
        classifier: the width of the features it reads) and ``family``
        (``'vjepa2'`` for V-JEPA 2; absent for V-JEPA 1).
      params: the trees read, by name (``encoder``, ``target_encoder``,
        ``predictor``, ``classifier``), NumPy float32 in the module's layout,
        each ready for ``module.apply({'params': tree}, ...)``.
      provenance: path, format, step, which encoder, notes, metadata.
      encoder, predictor, classifier: unbound modules (None when absent).
      official_tensors: official tensors that are not params of ours (fixed
        tables, unused weights), kept so that export is bit-exact.
    """

    kind: str
    config: dict[str, Any]
    params: dict[str, Any]
    provenance: Provenance
    encoder: VisionTransformer | VJEPA2Encoder | None = None
    predictor: Predictor | VJEPA2Predictor | None = None
    classifier: AttentiveClassifier | VJEPA2AttentiveClassifier | None = None
    official_tensors: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    _jitted: dict[bool, Any] = dataclasses.field(default_factory=dict, init=False, repr=False,
                                                 compare=False)

    @property
    def family(self) -> str:
        """``'vjepa'`` (V-JEPA 1) or ``'vjepa2'``, from ``config['family']``."""
        return model_family(self.config)

    @property
    def which(self) -> str | None:
        """The encoder ``encode`` uses: ``'target_encoder'`` (EMA) or ``'encoder'``."""
        return self.provenance.which

    @property
    def metadata(self) -> dict[str, Any]:
        return self.provenance.metadata

    @property
    def encoder_params(self) -> dict[str, Any]:
        """Params of the ``which`` encoder, for ``encoder.apply({'params': ...}, video)``."""
        if self.encoder is None:
            raise CheckpointError(f'{self.provenance.path} is a {self.kind} checkpoint without '
                                  'an encoder; give a pretraining checkpoint.')
        if self.which not in self.params:
            raise CheckpointError(f'{self.provenance.path} has no {self.which!r}; it has '
                                  f'{", ".join(sorted(self.params))} (pass which=...).')
        return self.params[self.which]

    def _encode_fn(self, normalized: bool):
        if normalized not in self._jitted:
            encoder = self.encoder

            def encode(params, video):
                video = normalize_video(video, encoder.dtype, normalized=normalized)
                return encoder.apply({'params': params}, video)

            self._jitted[normalized] = jax.jit(encode)
        return self._jitted[normalized]

    def encode(self, clips: Any, *, normalized: bool = False) -> jax.Array:
        """Token features ``[B, N, D]`` (``N = T'*H'*W'``, raster order) of clips.

        Args:
          clips: uint8 RGB ``[B, T, H, W, 3]`` or one clip ``[T, H, W, 3]``
            (normalised here); floats already normalised with the ImageNet
            mean / std together with ``normalized=True``; or the
            ``NormalizedClips`` of ``preprocess``. ``T``, ``H``, ``W`` must
            divide into tubelets and patches; other sizes than the model's
            use an interpolated position table.

        Raises:
          ConfigError: float clips without ``normalized=True``, a clip that
            does not split into tubelets and patches.
          CheckpointError: a checkpoint without the ``which`` encoder.
        """
        params = self.encoder_params
        if isinstance(clips, NormalizedClips):
            video, normalized = clips.video, True
        else:
            video = clips if isinstance(clips, jax.Array) else np.asarray(clips)
        if video.ndim == 4:
            video = video[None]
        if video.ndim != 5 or video.shape[-1] != 3:
            raise ConfigError(f'encode takes clips [B, T, H, W, 3] or [T, H, W, 3]; got shape '
                              f'{tuple(video.shape)}.')
        try:
            self.encoder.input_grid(tuple(video.shape))
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return self._encode_fn(bool(normalized))(params, video)

    def preprocess(self, frames: Any) -> NormalizedClips:
        """The official evaluation transform of raw frames, ready for ``encode``.

        Args:
          frames: uint8 RGB ``[T, H, W, 3]`` or ``[B, T, H, W, 3]`` of any
            height and width, ``T`` the model's frame count
            (``encoder.num_frames``).

        Returns:
          ``NormalizedClips`` of float32 ``[B, T, S, S, 3]``, ``S`` the
          model's resolution: shorter side resized to ``S * 256 / 224``, the
          centre ``S x S`` crop, ImageNet-normalised.

        Raises:
          ConfigError: not uint8 RGB, or not the model's frame count.
        """
        encoder = self._require_encoder()
        frames = np.asarray(frames)
        if frames.ndim == 4:
            frames = frames[None]
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f'preprocess takes uint8 RGB frames [T, H, W, 3] or '
                              f'[B, T, H, W, 3]; got {frames.dtype} {tuple(frames.shape)}.')
        if frames.shape[1] != encoder.num_frames:
            raise ConfigError(f'preprocess got {frames.shape[1]} frames; this model takes '
                              f'{encoder.num_frames} (sample that many, e.g. every 4th frame '
                              'of the video).')
        clips = np.stack([eval_transform(clip, encoder.img_size, 1)[0] for clip in frames])
        return NormalizedClips(normalize_video(clips))

    def _require_encoder(self) -> VisionTransformer | VJEPA2Encoder:
        if self.encoder is None:
            raise CheckpointError(f'{self.provenance.path} is a {self.kind} checkpoint without '
                                  'an encoder; give a pretraining checkpoint.')
        return self.encoder

    def to_converted(self) -> Any:
        """The ``convert.official.Converted`` of this checkpoint (for export)."""
        from vjepa_jax.convert.official import Converted

        return Converted(self.config, self.params, self.official_tensors, self.metadata)


def build_model(kind: str, config: dict[str, Any], params: dict[str, Any],
                provenance: Provenance,
                official_tensors: dict[str, np.ndarray] | None = None) -> LoadedModel:
    """A ``LoadedModel`` with the modules ``config`` describes (module keyword arguments).

    The module classes come from ``FAMILY_MODULES[config['family']]``.
    """
    modules = FAMILY_MODULES[model_family(config)]
    model = LoadedModel(kind, config, params, provenance,
                        official_tensors=dict(official_tensors or {}))
    for name, cls in modules.items():
        if name in config:
            setattr(model, name, cls(**_module_kwargs(config[name])))
    return model


def model_family(config: dict[str, Any]) -> str:
    """The family of a model config: its ``family`` field, ``'vjepa'`` when absent."""
    family = config.get('family', 'vjepa')
    if family not in FAMILY_MODULES:
        raise CheckpointError(f'model family {family!r} is not one this version reads (have '
                              f'{", ".join(FAMILY_MODULES)}); upgrade vjepa_jax.')
    return family


def _module_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """``dtype`` may be stored by name (``module_config``); modules take a jnp dtype."""
    cfg = dict(cfg)
    if isinstance(cfg.get('dtype'), str):
        cfg['dtype'] = jnp.dtype(cfg['dtype'])
    return cfg

"""V-JEPA 2 models: RoPE encoder and predictor, and the V-JEPA 2 attentive classifier."""

from vjepa_jax.models.vjepa2.classifier import (
           VJEPA2AttentiveClassifier,
           VJEPA2AttentivePooler,
)
from vjepa_jax.models.vjepa2.encoder import VJEPA2Encoder, images_as_video
from vjepa_jax.models.vjepa2.predictor import VJEPA2Predictor

__all__ = ['VJEPA2AttentiveClassifier', 'VJEPA2AttentivePooler', 'VJEPA2Encoder',
           'VJEPA2Predictor', 'images_as_video']

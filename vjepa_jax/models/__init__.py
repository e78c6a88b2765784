"""Flax Linen models: encoder, predictor and attentive probes."""

from vjepa_jax.models.attentive_probe import AttentiveClassifier, AttentivePooler
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

__all__ = ['AttentiveClassifier', 'AttentivePooler', 'Predictor', 'VisionTransformer']

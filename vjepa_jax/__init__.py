"""vjepa_jax: V-JEPA in JAX/Flax."""

from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.pretrained import Pretrained, load_pretrained

__all__ = ['Pretrained', 'load_pretrained', 'normalize_video']

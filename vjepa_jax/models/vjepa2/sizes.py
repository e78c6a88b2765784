"""Official V-JEPA 2 model sizes (the ``vit_*`` builders of facebookresearch/vjepa2).

Differs from V-JEPA 1's table (``config_lib``) for the giant, which V-JEPA 2
builds as ``vit_giant_xformers`` with 22 heads of 64 channels, and for the
gigantic (26 heads). MLP hidden sizes are ``int(width * mlp_ratio)`` as the
builders compute them; the V-JEPA 2 gigantic builder misspells ``mlp_ratio``,
so it really runs with 4 x 1664 = 6656 (V-JEPA 2.1 spells it: 8192, see
``GIGANTIC_2_1_MLP``).
"""

from __future__ import annotations

from vjepa_jax.config_lib import Variant, decode_variant

FAMILY = 'vjepa2'

VARIANTS: dict[str, Variant] = {
    'large': Variant(1024, 24, 16, 4096),
    'huge': Variant(1280, 32, 16, 5120),
    'giant': Variant(1408, 40, 22, 6144),
    'gigantic': Variant(1664, 48, 26, 6656),
}
GIGANTIC_2_1_MLP = 8192
PREDICTOR = {'embed_dim': 384, 'depth': 12, 'num_heads': 12, 'mlp_dim': 1536}

ENCODER_HEADS_BY_WIDTH = {v.embed_dim: v.num_heads for v in VARIANTS.values()}
PREDICTOR_HEADS_BY_WIDTH = {PREDICTOR['embed_dim']: PREDICTOR['num_heads']}
_SHORT = {'l': 'large', 'h': 'huge', 'g': 'giant', 'G': 'gigantic', 'gg': 'gigantic'}


def decode_vjepa2_variant(name: str) -> Variant:
    """``"L/16"``, ``"vit_giant"``, ``"g"`` ... -> the V-JEPA 2 size; custom ``w..d..h..`` names
    decode as in ``config_lib.decode_variant``."""
    base, _, patch = name.strip().partition('/')
    key = base.removeprefix('vit_').removesuffix('_xformers')
    key = _SHORT.get(key) or _SHORT.get(key.lower()) or key.lower()
    if key not in VARIANTS:
        return decode_variant(name)
    v = VARIANTS[key]
    return Variant(v.embed_dim, v.depth, v.num_heads, v.mlp_dim, int(patch) if patch else 16)

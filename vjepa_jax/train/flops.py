"""Analytic FLOP counts for MFU: matmuls and attention only (2 FLOPs per multiply-add).

Counted per clip. Training FLOPs are 3x the forward FLOPs of the trained
paths (forward, then gradients with respect to activations and to weights)
plus 1x the target encoder (forward only). Elementwise ops, norms and softmax
are left out, as is usual for MFU.
"""

from __future__ import annotations

from collections.abc import Sequence

from vjepa_jax.models import Predictor, VisionTransformer


def transformer_flops(tokens: int, width: int, depth: int, mlp_dim: int) -> float:
    """Forward FLOPs of ``depth`` pre-norm blocks on ``tokens`` tokens."""
    dense = 2 * tokens * width * (3 * width + width + 2 * mlp_dim)
    attention = 2 * 2 * tokens * tokens * width  # q k^T and attn v
    return float(depth * (dense + attention))


def embed_flops(encoder: VisionTransformer, tokens: int | None = None) -> float:
    """Tubelet embedding of ``tokens`` tokens (default: the encoder's whole clip; tokens
    are dropped after it)."""
    patch = encoder.tubelet_size * encoder.patch_size ** 2 * 3
    n = encoder.num_patches if tokens is None else tokens
    return float(2 * n * patch * encoder.embed_dim)


def encoder_flops(encoder: VisionTransformer, tokens: int | None = None) -> float:
    """Forward FLOPs of the encoder keeping ``tokens`` tokens (default: all)."""
    k = encoder.num_patches if tokens is None else tokens
    return embed_flops(encoder) + transformer_flops(k, encoder.embed_dim, encoder.depth,
                                                    encoder.mlp_dim)


def predictor_flops(predictor: Predictor, context: int, target: int) -> float:
    """Forward FLOPs of the predictor for ``context`` inputs and ``target`` outputs."""
    d, e = predictor.predictor_embed_dim, predictor.embed_dim
    io = 2 * context * e * d + 2 * target * d * e
    return float(io) + transformer_flops(context + target, d, predictor.depth,
                                         predictor.mlp_dim)


def train_step_flops(encoder: VisionTransformer, predictor: Predictor,
                     counts: Sequence[tuple[int, int]], tokens: int | None = None) -> float:
    """FLOPs of one pretraining update per clip, for mask sets with ``(Kc, Kt)`` tokens.

    ``tokens``: the clip's token count (default: the encoder's whole clip; a
    V-JEPA 2 frames-per-clip group may be shorter). The clip is data, so the
    tubelet embedding needs no input gradient: 2x, not 3x.
    """
    embed = embed_flops(encoder, tokens)
    total = embed + transformer_flops(tokens or encoder.num_patches, encoder.embed_dim,
                                      encoder.depth, encoder.mlp_dim)  # target, no backward
    for context, target in counts:
        blocks = transformer_flops(context, encoder.embed_dim, encoder.depth, encoder.mlp_dim)
        total += 3 * (blocks + predictor_flops(predictor, context, target))
        total += 2 * embed
    return total


def attentive_probe_flops(tokens: int, width: int, classes: int, depth: int) -> float:
    """Analytic FLOPs of one attentive-probe call's forward + backward (3x the forward).

    Depth ``d``: ``d - 1`` self-attention blocks on the tokens, then one query's
    cross-attention (k / v projections of every token dominate) and the head.
    """
    cross = 2 * tokens * width * 2 * width + 4 * tokens * width + 2 * 2 * width * width
    head = 2 * width * 4 * width * 2 + 2 * width * classes
    blocks = transformer_flops(tokens, width, depth - 1, 4 * width) if depth > 1 else 0
    return 3.0 * (cross + head + blocks)

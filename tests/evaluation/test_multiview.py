"""Segments x views: encoder batching, what each probe call sees, softmax averaging."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.evaluation import multiview
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.models import AttentiveClassifier, VisionTransformer

# Prime-ish sizes so that axes cannot be confused: B=2, S=3, V=5, N=7, D=4.
B, S, V, N, D = 2, 3, 5, 7, 4


def _tokens(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(B, S, V, N, D)).astype(np.float32)


def test_attend_across_segments_concatenates_each_view_in_segment_order():
    tokens = _tokens()
    inputs = np.asarray(multiview.probe_inputs(jnp.asarray(tokens), True))
    assert inputs.shape == (B, V, S * N, D)
    for v in range(V):
        manual = np.concatenate([tokens[:, s, v] for s in range(S)], axis=1)
        np.testing.assert_array_equal(inputs[:, v], manual)
    assert multiview.num_probe_calls(S, V, True) == V


def test_separate_segments_give_one_call_per_segment_and_view():
    tokens = _tokens()
    inputs = np.asarray(multiview.probe_inputs(jnp.asarray(tokens), False))
    assert inputs.shape == (B, S * V, N, D)
    for s in range(S):
        for v in range(V):
            np.testing.assert_array_equal(inputs[:, s * V + v], tokens[:, s, v])
    assert multiview.num_probe_calls(S, V, False) == S * V


def test_probe_logits_match_one_call_per_probe_input():
    probe = AttentiveClassifier(num_classes=3, num_heads=2, mlp_dim=8)
    tokens = jnp.asarray(_tokens(1))
    params = jax.jit(probe.init)(jax.random.key(0, impl='rbg'), tokens[:, 0, 0])['params']

    @jax.jit
    def run(params, tokens):
        inputs = multiview.probe_inputs(tokens, True)
        each = jnp.stack([probe.apply({'params': params}, inputs[:, v]) for v in range(V)], 1)
        return multiview.probe_logits(probe, params, inputs), each

    logits, each = run(params, tokens)
    assert logits.shape == (B, V, 3) and logits.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(logits), np.asarray(each), rtol=1e-5, atol=1e-6)


def test_aggregate_is_the_mean_of_softmax_over_calls():
    logits = np.random.default_rng(2).normal(size=(B, 6, 4)).astype(np.float32) * 3
    probs = np.asarray(multiview.aggregate_logits(jnp.asarray(logits)))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    expected = (e / e.sum(-1, keepdims=True)).mean(axis=1)
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    # Averaging probabilities, not logits: a confident call outweighs a lukewarm one.
    two = jnp.asarray([[[10.0, 0.0], [0.0, 1.0]]])
    assert float(multiview.aggregate_logits(two)[0, 0]) > 0.5
    assert float(jnp.mean(two, axis=1)[0, 0]) > float(jnp.mean(two, axis=1)[0, 1])


def test_encode_clips_is_one_frozen_call_per_clip():
    encoder = VisionTransformer(img_size=16, num_frames=4, patch_size=8, tubelet_size=2,
                                embed_dim=8, depth=1, num_heads=2, mlp_dim=16)
    clips = np.random.default_rng(3).integers(0, 256, (2, 3, 2, 4, 16, 16, 3), dtype=np.uint8)
    params = jax.jit(encoder.init)(jax.random.key(0, impl='rbg'), normalize_video(clips[:, 0, 0]))['params']

    @jax.jit
    def run(params, clips):
        tokens = multiview.encode_clips(encoder, params, clips)
        one = encoder.apply({'params': params}, normalize_video(clips[:, 1, 1]))
        # Frozen: no gradient reaches the encoder.
        grads = jax.grad(lambda p: jnp.sum(multiview.encode_clips(encoder, p, clips)))(params)
        return tokens, one, grads

    tokens, one, grads = run(params, clips)
    assert tokens.shape == (2, 3, 2, 8, 8) and tokens.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(tokens[:, 1, 1]), np.asarray(one), rtol=0, atol=1e-5)
    assert all(not np.any(np.asarray(g)) for g in jax.tree_util.tree_leaves(grads))
    # The features keep the encoder's compute dtype (bfloat16 on accelerators).
    half = encoder.clone(dtype=jnp.bfloat16)
    out = jax.eval_shape(lambda p, c: multiview.encode_clips(half, p, c), params, clips)
    assert out.dtype == jnp.bfloat16 and out.shape == tokens.shape

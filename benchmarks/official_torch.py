"""Times Meta's official PyTorch V-JEPA on the same work as a benchmark's JAX run.

Nothing of the official code is kept here: ``load_official(path)`` imports it
from a checkout of github.com/facebookresearch/jepa (the directory holding
``src/`` and ``app/``) and each timer builds the official modules with the
official recipe's settings (``use_sdpa=True``, AdamW, grad clipping 10, EMA),
so the ratio printed by ``train_step.py`` / ``encoder_forward.py`` compares
equal work measured in one run.

When torch or the checkout is missing the loader returns a reason instead of
modules, and the benchmark prints that reason and times the JAX side only.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Official:
    """The imported official modules and torch."""

    torch: ModuleType
    vit: ModuleType
    predictor: ModuleType
    multimask: ModuleType


def load_official(src: str | None) -> Official | str:
    """Imports the official code from checkout ``src``; a reason string if it cannot."""
    if not src:
        return 'no --official-src given'
    try:
        torch = importlib.import_module('torch')
    except ImportError:
        return 'torch is not installed (pip install torch)'
    if src not in sys.path:
        sys.path.insert(0, src)
    try:
        vit = importlib.import_module('src.models.vision_transformer')
        predictor = importlib.import_module('src.models.predictor')
        multimask = importlib.import_module('src.models.utils.multimask')
    except ImportError as e:
        return f'cannot import the official code from {src!r} ({e}); give the jepa checkout root'
    return Official(torch, vit, predictor, multimask)


def _encoder(off: Official, encoder: Any, frames: int, size: int) -> Any:
    """The official VisionTransformer with the shape of our ``encoder`` module (any variant)."""
    return off.vit.VisionTransformer(
        img_size=size, patch_size=encoder.patch_size, num_frames=frames,
        tubelet_size=encoder.tubelet_size, embed_dim=encoder.embed_dim, depth=encoder.depth,
        num_heads=encoder.num_heads, mlp_ratio=encoder.mlp_dim / encoder.embed_dim,
        qkv_bias=True, norm_layer=partial(off.torch.nn.LayerNorm, eps=1e-6),
        uniform_power=True, use_sdpa=True)


def _median_time(fn: Any, steps: int) -> float:
    fn()  # warm-up (allocator, thread pool)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_encoder_forward(off: Official, encoder: Any, *, frames: int, size: int, batch: int,
                         steps: int) -> float:
    """Median seconds of one float32 no-grad official forward of ``encoder``'s shape on ``[B, 3, T, H, W]``."""
    torch = off.torch
    torch.manual_seed(0)
    enc = _encoder(off, encoder, frames, size).eval()
    video = torch.zeros(batch, 3, frames, size, size)

    def run() -> None:
        with torch.no_grad():
            enc(video)

    return _median_time(run, steps)


def time_train_step(off: Official, encoder_module: Any, predictor_module: Any, *, frames: int,
                    size: int, masks: Sequence[Sequence[dict[str, np.ndarray]]],
                    steps: int) -> float:
    """Median seconds of one official float32 pretraining update.

    The official encoder and predictor get the shapes of our modules;
    ``masks[i]`` are the JAX run's mask sets for step ``i`` (the dicts of
    ``draw_mask_sets``); the official step gets the same context / target
    indices, so both sides do the same work. The update is the official
    recipe's: target encoder (no grad) + layer norm, context encoder and
    predictor per mask set, L1 loss, backward, clip 10, AdamW, EMA.
    """
    torch = off.torch
    F = torch.nn.functional
    torch.manual_seed(0)
    enc, pred = encoder_module, predictor_module
    encoder = off.multimask.MultiMaskWrapper(_encoder(off, enc, frames, size))
    predictor = off.multimask.PredictorMultiMaskWrapper(off.predictor.VisionTransformerPredictor(
        img_size=size, use_mask_tokens=True, patch_size=enc.patch_size, num_frames=frames,
        tubelet_size=enc.tubelet_size, embed_dim=enc.embed_dim,
        predictor_embed_dim=pred.predictor_embed_dim, depth=pred.depth,
        num_heads=pred.num_heads, mlp_ratio=pred.mlp_dim / pred.predictor_embed_dim,
        qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), uniform_power=True,
        num_mask_tokens=len(masks[0]), zero_init_mask_tokens=True, use_sdpa=True))
    target = off.multimask.MultiMaskWrapper(_encoder(off, enc, frames, size))
    target.load_state_dict(encoder.state_dict())
    for p in target.parameters():
        p.requires_grad = False
    params = list(encoder.parameters()) + list(predictor.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.04)
    rng = np.random.default_rng(0)
    clips = [torch.from_numpy(rng.standard_normal((len(masks[0][0]['context_idx']), 3, frames,
                                                  size, size), np.float32))
             for _ in masks]
    step_masks = [([torch.from_numpy(m['context_idx'].astype(np.int64)) for m in sets],
                   [torch.from_numpy(m['target_idx'].astype(np.int64)) for m in sets])
                  for sets in masks]
    counter = iter(range(1 << 30))

    def run() -> None:
        i = next(counter) % len(clips)
        video, (m_enc, m_pred) = clips[i], step_masks[i]
        with torch.no_grad():
            h = target(video)
            h = F.layer_norm(h, (h.size(-1),))
            h = [torch.gather(h, 1, m.unsqueeze(-1).expand(-1, -1, h.size(-1))) for m in m_pred]
        z = predictor(encoder(video, m_enc), h, m_enc, m_pred)
        loss = sum(torch.mean(torch.abs(zi - hi)) for zi, hi in zip(z, h)) / len(z)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 10.0)
        torch.nn.utils.clip_grad_norm_(predictor.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            for q, k in zip(encoder.parameters(), target.parameters()):
                k.data.mul_(0.998).add_(0.002 * q.detach().data)

    return _median_time(run, steps)

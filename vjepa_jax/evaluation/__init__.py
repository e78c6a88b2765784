"""Frozen evaluation: attentive probes on frozen encoder features.

``video_data``: labelled segment x view clip batches (grain); ``multiview``:
how segments and views reach the probe and how predictions combine;
``probe``: a grid of probes trained and evaluated in one pass (``run_probe``).
"""

from vjepa_jax.evaluation.multiview import (
    aggregate_logits,
    encode_clips,
    probe_inputs,
    probe_logits,
)
from vjepa_jax.evaluation.probe import (
    ProbeConfig,
    ProbeSetup,
    ProbeState,
    eval_step,
    init_probe_state,
    make_probe,
    run_probe,
    train_step,
)

__all__ = [
    'ProbeConfig',
    'ProbeSetup',
    'ProbeState',
    'aggregate_logits',
    'encode_clips',
    'eval_step',
    'init_probe_state',
    'make_probe',
    'probe_inputs',
    'probe_logits',
    'run_probe',
    'train_step',
]

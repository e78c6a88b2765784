"""Frozen evaluation: attentive probes on frozen encoder features.

``multiview``: how segments and views reach the probe and how predictions
combine; ``probe_recipe``: the head and the grid's optimiser; ``probe_state``:
the grid's state and setup; ``probe_steps``: the jitted train / eval steps;
``probe_loop``: the loop and the in-memory ``run_probe``; ``config`` /
``job``: the command-line probe job (``frozen_encoder``, ``probe_data``). The
clip batches are ``vjepa_jax.input.probe_clips``.
"""

from vjepa_jax.evaluation.multiview import (
    aggregate_logits,
    encode_clips,
    probe_inputs,
    probe_logits,
)
from vjepa_jax.evaluation.probe_loop import evaluate_probes, run_probe, train_probes
from vjepa_jax.evaluation.probe_recipe import (
    ProbeHeadConfig,
    ProbeOptimizerConfig,
    make_probe,
)
from vjepa_jax.evaluation.probe_state import (
    ProbeSetup,
    ProbeState,
    init_probe_state,
    make_setup,
    probe_setup,
)
from vjepa_jax.evaluation.probe_steps import eval_step, jit_probe_fns, train_step

__all__ = [
    'ProbeHeadConfig',
    'ProbeOptimizerConfig',
    'ProbeSetup',
    'ProbeState',
    'aggregate_logits',
    'encode_clips',
    'eval_step',
    'evaluate_probes',
    'init_probe_state',
    'jit_probe_fns',
    'make_probe',
    'make_setup',
    'probe_inputs',
    'probe_logits',
    'probe_setup',
    'run_probe',
    'train_probes',
    'train_step',
]

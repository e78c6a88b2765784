"""Schedules against a step-by-step replay of the official schedulers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjepa_jax.train.schedules import Schedules

RECIPE = {'steps_per_epoch': 300, 'num_epochs': 300, 'warmup_epochs': 40, 'start_lr': 2e-4,
          'lr': 6.25e-4, 'final_lr': 1e-6, 'weight_decay': 0.04, 'final_weight_decay': 0.4,
          'ema': (0.998, 1.0), 'ipe_scale': 1.25}


def official_replay(c: dict, steps: int):
    """Values the official loop uses at steps 0..steps-1 (schedulers stepped before use)."""
    ipe, epochs = c['steps_per_epoch'], c['num_epochs']
    t_max = int(c['ipe_scale'] * epochs * ipe)
    warm = int(c['warmup_epochs'] * ipe)
    span = ipe * epochs * c['ipe_scale']
    lrs, wds, moms = [], [], []
    counter = 0.0
    for i in range(steps):
        counter += 1
        if counter < warm:
            lr = c['start_lr'] + counter / max(1, warm) * (c['lr'] - c['start_lr'])
        else:
            progress = (counter - warm) / max(1, t_max - warm)
            lr = max(c['final_lr'], c['final_lr'] + (c['lr'] - c['final_lr'])
                     * 0.5 * (1 + math.cos(math.pi * progress)))
        wd = (c['final_weight_decay'] + (c['weight_decay'] - c['final_weight_decay'])
              * 0.5 * (1 + math.cos(math.pi * counter / t_max)))
        if c['final_weight_decay'] <= c['weight_decay']:
            wd = max(c['final_weight_decay'], wd)
        else:
            wd = min(c['final_weight_decay'], wd)
        lrs.append(lr)
        wds.append(wd)
        moms.append(c['ema'][0] + i * (c['ema'][1] - c['ema'][0]) / span)
    return np.array(lrs), np.array(wds), np.array(moms)


@pytest.mark.parametrize('overrides', [{}, {'weight_decay': 0.4, 'final_weight_decay': 0.04,
                                            'warmup_epochs': 0, 'ipe_scale': 1.0}],
                         ids=['official', 'decreasing_wd_no_warmup'])
def test_schedules_match_official_replay(overrides):
    cfg = {**RECIPE, **overrides}
    sched = Schedules(**cfg)
    total = sched.total_steps
    assert total == 90_000
    lrs, wds, moms = official_replay(cfg, total)
    steps = np.array([0, 1, 2, 299, 11_998, 11_999, 12_000, 12_001, 45_000, 77_777, 89_999])
    np.testing.assert_allclose(np.asarray(sched.learning_rate(steps)), lrs[steps], rtol=2e-6)
    np.testing.assert_allclose(np.asarray(sched.weight_decay_at(steps)), wds[steps], rtol=2e-6)
    np.testing.assert_allclose(np.asarray(sched.ema_momentum(steps)), moms[steps], rtol=1e-7)
    # Scalars (as the jitted step passes them) agree with the vectorised call.
    assert float(sched.learning_rate(12_000)) == pytest.approx(lrs[12_000], rel=2e-6)


def test_schedule_shape_facts():
    sched = Schedules(**RECIPE)
    assert sched.schedule_steps == 112_500 and sched.warmup_steps == 12_000
    # With ipe_scale 1.25 nothing reaches its final value inside the run.
    assert float(sched.learning_rate(89_999)) > 1e-5
    assert float(sched.weight_decay_at(89_999)) < 0.4
    assert float(sched.ema_momentum(89_999)) < 1.0
    assert float(sched.ema_momentum(10**7)) == 1.0  # clamped past the official generator


def test_clip_starts_after_the_warmup_epochs():
    assert Schedules(**RECIPE).clip_from_step == 41 * 300
    assert Schedules(**{**RECIPE, 'clip_after_warmup': False}).clip_from_step == 0
    assert Schedules(**{**RECIPE, 'clip_grad': None}).clip_from_step == -1


def test_bad_schedule_is_rejected():
    with pytest.raises(ValueError, match='steps_per_epoch'):
        Schedules(**{**RECIPE, 'steps_per_epoch': 0})


# V-JEPA 2 (facebookresearch/vjepa2 configs/train/vitl16/*.yaml).
VJEPA2_PRETRAIN = {'steps_per_epoch': 300, 'num_epochs': 10, 'warmup_epochs': 40,
                   'start_lr': 1e-4, 'lr': 5.25e-4, 'final_lr': 5.25e-4, 'weight_decay': 0.04,
                   'final_weight_decay': 0.04, 'ema': (0.99925, 0.99925), 'ipe_scale': 1.25}
VJEPA2_COOLDOWN = {**VJEPA2_PRETRAIN, 'num_epochs': 40, 'warmup_epochs': 0, 'final_lr': 1e-6,
                   'lr_schedule': 'linear_decay'}


def official_linear_decay(c: dict, steps: int) -> np.ndarray:
    """The official cooldown ``LinearDecaySchedule``, stepped once before each update."""
    t_max = int(c['ipe_scale'] * c['num_epochs'] * c['steps_per_epoch'])
    return np.array([c['lr'] + (k / max(1, t_max)) * (c['final_lr'] - c['lr'])
                     for k in range(1, steps + 1)])


def test_vjepa2_cooldown_is_the_official_linear_decay():
    s = Schedules(**VJEPA2_COOLDOWN)
    steps = np.arange(s.total_steps)
    np.testing.assert_allclose(np.asarray(s.learning_rate(steps)),
                               official_linear_decay(VJEPA2_COOLDOWN, s.total_steps), rtol=1e-6)
    assert s.schedule_steps == 15000 and s.total_steps == 12000
    # 5.25e-4 + 0.8 (1e-6 - 5.25e-4): the run ends at 80 % of the decay
    assert abs(float(s.learning_rate(s.total_steps - 1)) - 1.058e-4) < 1e-9
    np.testing.assert_allclose(np.asarray(s.weight_decay_at(steps[::1000])), 0.04, rtol=1e-6)
    assert float(s.ema_momentum(0)) == float(s.ema_momentum(11999)) == np.float32(0.99925)


def test_vjepa2_pretraining_warms_up_then_stays_constant():
    s = Schedules(**{**VJEPA2_PRETRAIN, 'num_epochs': 100})
    lrs, _, _ = official_replay({**VJEPA2_PRETRAIN, 'num_epochs': 100}, s.total_steps)
    np.testing.assert_allclose(np.asarray(s.learning_rate(np.arange(s.total_steps))), lrs,
                               rtol=1e-6)
    assert float(s.learning_rate(s.warmup_steps)) == np.float32(5.25e-4)
    assert float(s.learning_rate(s.total_steps - 1)) == np.float32(5.25e-4)


def test_unknown_lr_schedule_is_rejected():
    from vjepa_jax.config_sections import SectionError

    with pytest.raises(SectionError, match="lr_schedule 'cosine' is not one of"):
        Schedules(lr_schedule='cosine')

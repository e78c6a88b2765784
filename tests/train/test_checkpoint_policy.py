"""The training checkpointer's orbax policies: when it saves, what it keeps, what it rejects."""

from __future__ import annotations

import grain
import numpy as np
import pytest

from vjepa_jax.checkpointing import CheckpointPolicy, TrainCheckpointer
from vjepa_jax.errors import ConfigError


def test_saves_every_n_steps_and_keeps_the_last_k_plus_every_period(tmp_path):
    ckpt = TrainCheckpointer(tmp_path, every_steps=2, keep=2, keep_period=4, async_save=False)
    data = iter(grain.MapDataset.range(100).to_iter_dataset())
    state = {'w': np.arange(3, dtype=np.float32)}
    decided = []
    for step in range(1, 11):
        next(data)
        if ckpt.should_save(step):
            decided.append(step)
            ckpt.save(step, state, data, {'step': step})
        assert not ckpt.reached_preemption(step)  # one process: no sync point
    ckpt.close()
    assert decided == [2, 4, 6, 8, 10]
    kept = sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit())
    assert kept == [4, 8, 10]  # LatestN(2) = 8, 10; EveryNSteps(4) = 4, 8
    again = TrainCheckpointer(tmp_path, every_steps=2, keep=2, keep_period=4)
    assert again.latest_step() == 10 and not again.should_save(10)
    again.close()


def test_bad_policies_name_the_field():
    with pytest.raises(ConfigError) as err:
        CheckpointPolicy(every_steps=0, keep=0, keep_period=-3)
    text = str(err.value)
    for field in ('checkpoint.every_steps', 'checkpoint.keep ', 'checkpoint.keep_period'):
        assert field in text

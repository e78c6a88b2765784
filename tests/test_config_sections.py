"""Config sections written from a dataclass and built back, with their problems named by field."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags
from ml_collections import config_flags

from tests.helpers.paths import REPO
from vjepa_jax.config_overrides import parse_config
from vjepa_jax.config_sections import build_section, config_section
from vjepa_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Widget:
    size: int = 3
    name: str | None = None
    scale: tuple[float, float] = (0.5, 1.0)
    limit: float | None = 1.0

    def problems(self) -> list[str]:
        return [] if self.size > 0 else [f'size must be > 0, got {self.size}.']


def test_section_holds_the_defaults_and_typed_placeholders():
    s = config_section(Widget, size=5)
    assert s.to_dict() == {'size': 5, 'name': None, 'scale': (0.5, 1.0), 'limit': 1.0}
    assert s.get_ref('name').get_type() is str and s.get_ref('limit').get_type() is float
    s.limit = None  # an optional field can be emptied and set again
    s.name = 'w'
    with pytest.raises(TypeError):
        s.size = 'big'
    with pytest.raises(ConfigError, match='no field'):
        config_section(Widget, colour='red')


def test_build_section_collects_problems_with_the_section_name():
    s = config_section(Widget, size=0)
    s.scale = [0.1, 0.2]  # a list from Python code arrives as a tuple
    assert build_section(Widget, 'widget', s) == (None, ['widget.size must be > 0, got 0.'])
    s.size = 2
    assert build_section(Widget, 'widget', s) == (Widget(size=2, scale=(0.1, 0.2)), [])
    w, problems = build_section(Widget, 'widget', {'size': 1, 'colour': 'red'})
    assert w is None
    assert problems == ['widget.colour is not a field of widget (fields: limit, name, scale, size).']


def test_placeholders_take_command_line_values():
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file('config', None, 'Experiment file.', flag_values=flag_values,
                                    lock_config=True)
    c = parse_config(['prog', f'--config={REPO / "experiments" / "probe" / "k400.py"}',
                      '--config.eval_batch_size=64', '--config.encoder.num_heads=4',
                      '--config.encoder.checkpoint=/c.pth.tar', '--config.probe.dtype=float32',
                      '--config.optimizer.clip_grad=0.5'], flag_values=flag_values)
    assert (c.eval_batch_size, c.encoder.num_heads, c.encoder.checkpoint) == (64, 4, '/c.pth.tar')
    assert (c.probe.dtype, c.optimizer.clip_grad) == ('float32', 0.5)

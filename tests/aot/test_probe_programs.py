"""The V-JEPA 2 probe recipes build the probe job's four programs with a V-JEPA 2 encoder."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

from tests.helpers.cli_runs import experiment_config
from vjepa_jax import sharding
from vjepa_jax.aot import programs
from vjepa_jax.errors import ConfigError
from vjepa_jax.models.vjepa2 import VJEPA2Encoder

PROBES = Path(__file__).resolve().parents[2] / 'experiments' / 'probe'
TINY = 'w96d2h2/16'  # 2 blocks, 48-channel heads: RoPE-able, compiles in a blink


def _config(name: str, arg: str = 'runlocal=True'):
    return experiment_config(PROBES / f'{name}.py', arg)


def test_family_comes_from_the_recipe_unless_given():
    assert programs.probe_encoder_family(_config('vjepa2_ssv2')) == 'vjepa2'
    assert programs.probe_encoder_family(_config('vjepa2_diving48')) == 'vjepa2'
    assert programs.probe_encoder_family(_config('ssv2')) == 'vjepa'
    assert programs.probe_encoder_family(_config('vjepa2_ssv2'), 'vjepa') == 'vjepa'
    with pytest.raises(ConfigError, match="'vjepa3' is not one of"):
        programs.probe_encoder_family(_config('ssv2'), 'vjepa3')


@pytest.mark.parametrize(('name', 'levels'), [('vjepa2_ssv2', 1), ('vjepa2_diving48', 2)])
def test_features_program_gives_the_tokens_the_update_takes(name, levels):
    config = _config(name)
    mesh = sharding.make_mesh([('data', -1), ('fsdp', 1), ('tensor', 1)])
    feats, update, eval_feats, evaluate = programs.config_programs(
        config, mesh, encoder_variant=TINY)
    clip_tokens = (8 // 2) * (32 // 16) ** 2  # runlocal: 8 frames at 32 px, tubelet 2
    with jax.set_mesh(mesh):
        train_out = feats.jitted.trace(*feats.args).out_info
        eval_out = eval_feats.jitted.trace(*eval_feats.args).out_info
    assert train_out.shape == update.args[1].shape
    assert eval_out.shape == evaluate.args[1].shape
    assert train_out.shape[-2:] == (levels * clip_tokens, 96)
    s, v = config.clip.num_segments, config.clip.num_views_per_segment
    assert eval_out.shape[1:3] == (s, v)


def test_out_layers_need_a_vjepa2_encoder_with_those_blocks():
    mesh = sharding.make_mesh([('data', -1), ('fsdp', 1), ('tensor', 1)])
    config = _config('vjepa2_diving48')
    with pytest.raises(ConfigError, match='out_layers is for V-JEPA 2 encoders'):
        programs.config_programs(config, mesh, encoder_variant=TINY, encoder_family='vjepa')
    real = _config('vjepa2_diving48', '')  # blocks 17..23: not in a 2-block encoder
    with pytest.raises(ConfigError, match=r'are not blocks of this 2-block encoder'):
        programs.config_programs(real, mesh, encoder_variant=TINY)
    assert isinstance(programs._probe_encoder(config, TINY, 'float32', 'vjepa2'), VJEPA2Encoder)


@pytest.mark.integration
@pytest.mark.skipif(__import__('importlib').util.find_spec('libtpu') is None,
                    reason="libtpu is not installed (pip install 'vjepa_jax[tpu]')")
def test_vjepa2_multilevel_probe_compiles_for_a_tpu_slice(tmp_path):
    import json

    from tests.aot.test_tpu_compile import _check

    out = _check('--config', str(PROBES / 'vjepa2_diving48.py') + ':runlocal=True',
                 '--topology', 'v5e-8', '--encoder', TINY, '--json', str(tmp_path / 'fit.json'))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f'probe encoder: V-JEPA 2 {TINY}, blocks [-2, -1]' in out.stdout
    report = json.loads((tmp_path / 'fit.json').read_text())
    assert report['encoder'] == {'variant': TINY, 'family': 'vjepa2'} and report['fits']
    assert [p['name'] for p in report['programs']] == [
        'probe features (train batch)', 'probe update', 'probe features (eval batch)',
        'probe evaluation']
    assert all(p['temp_bytes'] > 0 and p['flops'] > 0 for p in report['programs'])

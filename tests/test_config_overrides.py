"""The command line accepts what users type: every config field overrides, mistakes are one line."""

from __future__ import annotations

import subprocess
import sys

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from tests.helpers.cli_runs import TINY, cli_env, experiment_config
from tests.helpers.paths import REPO
from vjepa_jax import sharding
from vjepa_jax.config_overrides import ConfigOverrideError, parse_config

EXPERIMENTS = REPO / 'experiments'
TINY_PROBE = EXPERIMENTS / 'probe' / 'tiny.py'


def _parse(*overrides: str, config=TINY):
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file('config', None, 'Experiment file.', flag_values=flag_values,
                                    lock_config=True)
    return parse_config(['prog', f'--config={config}', *overrides], flag_values=flag_values)


def _leaves(config, prefix=''):
    """``(field path, type)``; a field left None must be a typed placeholder (its type)."""
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            yield from _leaves(value, f'{prefix}{key}.')
        else:
            yield prefix + key, type(value) if value is not None else config.get_ref(key).get_type()


@pytest.mark.parametrize('path', sorted(EXPERIMENTS.glob('*/*.py')),
                         ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_every_field_has_a_type_the_command_line_sets(path):
    # ml_collections' flags override bool, int, float, str and tuple fields (not lists, not
    # untyped None: a value that may be None is a placeholder of its type).
    wrong = {k: kind.__name__ for k, kind in _leaves(experiment_config(path))
             if kind not in (bool, int, float, str, tuple)}
    assert not wrong


def test_placeholders_are_set_from_the_command_line():
    c = _parse('--config.init_from=/x/run', '--config.model.predictor.num_heads=2',
               '--config.data.read_threads=3', '--config.checkpoint.keep_period=100',
               '--config.model.attention_impl=xla')
    assert (c.init_from, c.model.predictor.num_heads, c.data.read_threads) == ('/x/run', 2, 3)
    assert (c.checkpoint.keep_period, c.model.attention_impl) == (100, 'xla')
    unset = _parse()
    assert unset.init_from is None and unset.model.attention_impl is None


def test_tuple_overrides_reach_the_config():
    c = _parse('--config.data.index_files=/x/train.csv',
               "--config.mesh=(('data',2),('fsdp',-1),('tensor',1))",
               "--config.sharding_rules=(('batch',('data','fsdp')),('embed','fsdp'))")
    assert c.is_locked and c.data.index_files == ('/x/train.csv',)
    assert c.mesh == (('data', 2), ('fsdp', -1), ('tensor', 1))
    rules = sharding.rules_from_config(c.sharding_rules)
    assert sharding.planned_batch_split(c.mesh, rules, 8) == (8, {'data': 2, 'fsdp': 4,
                                                                 'tensor': 1})
    c = _parse('--config.data.index_files=/x/a.csv', '--config.data.index_files=/x/b.csv',
               '--config.data.weights=0.7,0.3', '--config.batch_size=16')
    assert c.data.index_files == ('/x/a.csv', '/x/b.csv') and c.data.weights == (0.7, 0.3)
    assert c.batch_size == 16
    c = _parse("--config.data.index_files=('/x/a.csv','/x/b.csv')")
    assert c.data.index_files == ('/x/a.csv', '/x/b.csv')
    c = _parse('--config.data.train_index=/x/train.csv', '--config.data.val_index=/x/val.csv',
               '--config.optimizer.lrs=1e-3,3e-3', config=TINY_PROBE)
    assert (c.data.train_index, c.data.val_index) == (('/x/train.csv',), ('/x/val.csv',))
    assert c.optimizer.lrs == (1e-3, 3e-3)


@pytest.mark.parametrize('overrides, config, message', [
    (['--config.data.datasets=x'], TINY,
     'no field data.datasets; the fields of data are: bad_fraction_threshold, '),
    (['--config.data.datasets=x'], TINY_PROBE,
     'no field data.datasets; did you mean data.dataset'),
    (['--config.model.predictor.num_head=2'], TINY,
     'no field model.predictor.num_head; did you mean model.predictor.num_heads?'),
    (['--config.datas.frame_step=2'], TINY, 'no field datas.frame_step; did you mean data?'),
    (['--config.num_workers=2'], TINY, 'no field num_workers; did you mean data.num_workers?'),
    (['--config.batch_size=abc'], TINY,
     "--config.batch_size=abc: batch_size takes an integer (it is 8), not 'abc'."),
    (['--config.optimizer.lr=fast'], TINY, 'optimizer.lr takes a number'),
    (['--config.data.index_files=/x/a.csv,/x/b.csv'], TINY,
     'data.index_files takes a tuple'),
    ([], EXPERIMENTS / 'pretrain' / 'tinyy.py', 'no file '),
    ([], f'{TINY}:stepz=3', "Unknown config argument 'stepz'"),
])
def test_mistakes_are_one_line(overrides, config, message):
    with pytest.raises(ConfigOverrideError) as err:
        _parse(*overrides, config=config)
    assert message in str(err.value) and '\n' not in str(err.value)


def _main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'vjepa_jax.main', f'--config={TINY}',
                           '--workdir=/nonexistent/w', *args], capture_output=True, text=True,
                          env=cli_env(), cwd=REPO, timeout=300, check=False)


@pytest.mark.integration
def test_main_misspelt_field_is_one_line_and_exit_2():
    for override, line in (
            ('--config.data.datasets=x', 'error: no field data.datasets; the fields of data'),
            ('--config.batch_size=abc', 'error: --config.batch_size=abc: batch_size takes an')):
        result = _main(override)
        assert result.returncode == 2, result.stderr
        assert 'Traceback' not in result.stderr
        errors = [s for s in result.stderr.splitlines() if s.startswith('error:')]
        assert len(errors) == 1 and errors[0].startswith(line), result.stderr


@pytest.mark.integration
def test_main_tuple_override_reaches_the_run(tmp_path):
    missing = tmp_path / 'nothing' / 'train.csv'
    result = _main(f'--config.data.index_files={missing}',
                   "--config.mesh=(('data',1),('fsdp',-1),('tensor',1))")
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert f'data.index_files: {missing} does not exist.' in result.stderr
    assert 'mesh' not in result.stderr.split('Invalid config:')[1]

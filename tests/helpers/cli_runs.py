"""For the CLI run tests: the micro model, data, environment, experiment configs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tests.helpers.paths import REPO

TINY = REPO / 'experiments' / 'pretrain' / 'tiny.py'
MICRO = ['--config.model.variant=w32d2h2m64/8', '--config.model.predictor.embed_dim=16',
         '--config.model.predictor.depth=1', '--config.model.predictor.num_heads=2',
         '--config.batch_size=4', '--config.log_every=1', '--config.checkpoint.every_steps=8',
         '--config.data.read_threads=1']


def write_videos(out: Path, **sizes) -> Path:
    """A few synthetic labelled videos (``train.csv`` / ``val.csv``) in ``out``.

    ``sizes``: ``make_dataset`` arguments (default 12 train and 4 val videos).
    """
    spec = importlib.util.spec_from_file_location('synthetic', REPO / 'data' /
                                                  'make_synthetic_videos.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make_dataset(out, **{'num_train': 12, 'num_val': 4, 'seed': 0, **sizes})
    return out


# A directory for one persistent JAX compilation cache that the CLI subprocesses of one
# pytest run share (tests/conftest.py makes it, and removes it at the end): a second
# launch of the same program (a resume, the second multi-process run) loads the compiled
# executables instead of compiling them again. Loading gives the very executable a
# compile would (same HLO, same compile options), so exact-resume checks stay exact.
COMPILATION_CACHE_VAR = 'VJEPA_TEST_COMPILATION_CACHE'


def cli_env() -> dict[str, str]:
    """CPU only, the repository importable, no fake-device flags from the test process.

    With the test run's compilation cache (``COMPILATION_CACHE_VAR``), every compilation
    is cached, however quick.
    """
    env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(REPO))
    env.pop('XLA_FLAGS', None)
    cache = os.environ.get(COMPILATION_CACHE_VAR)
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
    return env


def experiment_config(path: Path, arg: str | None = None):
    """``get_config(arg)`` of an experiment file."""
    spec = importlib.util.spec_from_file_location(f'experiment_{path.parent.name}_{path.stem}',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)

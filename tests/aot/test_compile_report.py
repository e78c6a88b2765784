"""Reading the compiler's figures, and the largest-batch search (no compiler needed)."""

from __future__ import annotations

import pytest

from vjepa_jax.aot import compile_report
from vjepa_jax.aot.compile_report import CompileResult

GiB = 2**30


def test_out_of_memory_messages_of_both_tpu_forms_are_parsed():
    temps = ('RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO '
             'temporaries (16.00G) exceeds available HBM (15.75G).')
    assert compile_report.parse_oom(temps) == (16 * GiB, int(15.75 * GiB))
    used = 'RESOURCE_EXHAUSTED: Ran out of memory in memory space hbm. Used 44.30G of 15.75G hbm.'
    assert compile_report.parse_oom(used) == (int(44.30 * GiB), int(15.75 * GiB))
    assert compile_report.parse_oom('some other error') == (0, 0)


def test_collectives_are_counted_once_per_op_with_async_starts():
    hlo = '''
  %ag = f32[8,96] all-gather(f32[2,96] %p), dimensions={0}
  %ags = (f32[2], f32[8]) all-gather-start(f32[2] %q)
  %agd = f32[8] all-gather-done((f32[2], f32[8]) %ags)
  %rs = f32[2] reduce-scatter(f32[8] %g), dimensions={0}
  %ar.1 = f32[] all-reduce(f32[] %l), to_apply=%sum
  %cp = f32[4] collective-permute-start(f32[4] %x)
  %f = f32[4] fusion(f32[4] %x), calls=%all-gather-like-name
'''
    assert compile_report.count_collectives(hlo) == {
        'all-gather': 2, 'reduce-scatter': 1, 'all-reduce': 1, 'all-to-all': 0,
        'collective-permute': 1}


def _fake_compiler(limit: int, per_sample: int, fixed: int, hbm: int, calls: list):
    def compile_at(b: int) -> CompileResult:
        calls.append(b)
        need = fixed + b * per_sample
        r = CompileResult('step', b * 4, b, fits=b <= limit, compile_s=0.0, hbm_bytes=hbm)
        if r.fits:
            r.argument_bytes, r.temp_bytes = fixed, b * per_sample
        else:
            r.needed_bytes = need
        return r
    return compile_at


@pytest.mark.parametrize('limit', [1, 7, 12, 13, 40, 300])
@pytest.mark.parametrize('start', [1, 12])
def test_largest_batch_finds_the_limit_from_either_side(limit, start):
    calls = []
    # Memory grows a little faster than linearly in practice: the estimate is off by design.
    compile_at = _fake_compiler(limit, per_sample=GiB, fixed=GiB, hbm=20 * GiB, calls=calls)
    first = compile_at(start)
    best, tries = compile_report.largest_batch(compile_at, first, limit=4096)
    assert best == limit
    assert len(tries) <= 12
    assert calls[0] == start and best in calls


def test_largest_batch_is_zero_when_one_sample_does_not_fit():
    calls = []
    compile_at = _fake_compiler(0, per_sample=GiB, fixed=GiB, hbm=20 * GiB, calls=calls)
    best, _ = compile_report.largest_batch(compile_at, compile_at(1))
    assert best == 0


def test_batch_search_children_get_the_parent_flags_less_the_search():
    from vjepa_jax.compile_check import child_argv

    argv = ['--config', 'experiments/pretrain/vitl16.py', '--topology', 'v5e-256', '--max-batch',
            '--json', 'fit.json', '--config.batch_size=64', '--json=other.json', '--nomax-batch']
    assert child_argv(argv, 3072, '/tmp/t.json') == [
        '--config', 'experiments/pretrain/vitl16.py', '--topology', 'v5e-256',
        '--config.batch_size=64', '--config.batch_size=3072', '--json', '/tmp/t.json']

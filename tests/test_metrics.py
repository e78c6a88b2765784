"""vjepa_jax.metrics: JSONL, truncation on resume, TensorBoard, progress line, banner."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import ml_collections
import pytest

from vjepa_jax.metrics import MetricsWriter
from vjepa_jax.metrics.human_format import format_count, format_duration


class FakeClock:
    """Monotonic clock the test advances by hand (no sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_tb_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Parses every event file (TFRecord framing, Event protos) under ``logdir``."""
    event_pb2 = pytest.importorskip('tensorboardX.proto.event_pb2')
    scalars: dict[str, list[tuple[int, float]]] = {}
    files = sorted(logdir.glob('events.out.tfevents.*'))
    assert files, f'no event file in {logdir}'
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack('<Q', data[pos:pos + 8])
            pos += 12  # length and its crc
            event = event_pb2.Event.FromString(data[pos:pos + length])
            pos += length + 4  # payload and its crc
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_jsonl_lines_are_flushed_and_appended(tmp_path):
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w:
        w.write(1, {'loss': 0.5, 'lr': 1e-4})
        # Readable before close: a crash right now keeps this line.
        first = read_jsonl(tmp_path / 'metrics.jsonl')
        assert len(first) == 1
        assert first[0]['step'] == 1 and first[0]['loss'] == 0.5 and first[0]['lr'] == 1e-4
        assert isinstance(first[0]['time'], float)
        w.write(2, {'loss': float('nan')})
    # A resumed run appends to the same file.
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w:
        w.write(3, {'loss': 0.25})
    rows = read_jsonl(tmp_path / 'metrics.jsonl')
    assert [r['step'] for r in rows] == [1, 2, 3]
    assert rows[1]['loss'] != rows[1]['loss']  # NaN survives the round trip


def test_reserved_metric_names_are_rejected(tmp_path):
    with (MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w,
          pytest.raises(ValueError, match='reserved')):
        w.write(1, {'step': 3.0})


def test_truncate_after_drops_steps_at_and_after_resume_point(tmp_path):
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w:
        for step in (2, 4, 6, 8):
            w.write(step, {'loss': float(step)})
    path = tmp_path / 'metrics.jsonl'
    with open(path, 'a') as f:
        f.write('{"step": 10, "lo')  # torn line from a crash mid-write
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w:
        assert w.truncate_after(6) == 3
        assert [r['step'] for r in read_jsonl(path)] == [2, 4]
        w.write(6, {'loss': 60.0})
    rows = read_jsonl(path)
    assert [(r['step'], r['loss']) for r in rows] == [(2, 2.0), (4, 4.0), (6, 60.0)]


def test_truncate_after_without_file_or_after_writes(tmp_path):
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False) as w:
        assert w.truncate_after(5) == 0
        w.write(1, {'loss': 1.0})
        w.write(7, {'loss': 7.0})
        # The append handle is reopened after the rewrite, so later writes land.
        assert w.truncate_after(5) == 1
        w.write(5, {'loss': 5.0})
    assert [r['step'] for r in read_jsonl(tmp_path / 'metrics.jsonl')] == [1, 5]


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip('tensorboardX')
    with MetricsWriter(tmp_path, total_steps=10, enabled=True) as w:
        w.write(3, {'loss': 0.75, 'grad_norm/encoder': 2.5})
        w.write(4, {'loss': 0.5})
    scalars = read_tb_scalars(tmp_path / 'tensorboard')
    assert scalars['loss'] == [(3, 0.75), (4, 0.5)]
    assert scalars['grad_norm/encoder'] == [(3, 2.5)]


def test_tensorboard_purge_marker_on_resume(tmp_path):
    event_pb2 = pytest.importorskip('tensorboardX.proto.event_pb2')
    with MetricsWriter(tmp_path, total_steps=10, enabled=True) as w:
        w.truncate_after(7)
        w.write(7, {'loss': 1.0})
    data = b''.join(p.read_bytes() for p in (tmp_path / 'tensorboard').glob('events.*'))
    marker = event_pb2.Event(
        step=7, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
    assert marker.SerializeToString() in data


def test_progress_line_rate_mfu_and_eta(tmp_path):
    clock, out = FakeClock(), io.StringIO()
    w = MetricsWriter(tmp_path, total_steps=3000, enabled=True, tensorboard=False,
                      peak_flops_per_s=1e15, flops_per_step=4e14, clips_per_step=8,
                      stream=out, clock=clock)
    row = {'loss': 0.41234, 'lr': 2.1e-4, 'weight_decay': 0.041, 'ema_momentum': 0.99812,
           'grad_norm/encoder': 1.0}
    clock.now += 95.0  # start-up and compilation
    w.log_progress(20, row)
    clock.now += 20.0  # 20 steps at 1 step/s
    w.log_progress(40, row)
    clock.now += 10.0  # 20 steps at 2 steps/s
    w.log_progress(60, row)
    w.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == ('step 20/3000 (0.7%) | loss 0.4123 | lr 2.1e-04 | wd 0.041 | '
                        'ema 0.9981 | startup+compile 1m35s')
    assert lines[1] == ('step 40/3000 (1.3%) | loss 0.4123 | lr 2.1e-04 | wd 0.041 | '
                        'ema 0.9981 | 8.0 clips/s | MFU 40.0% | ETA 49m20s')
    # Rate over the last interval, ETA from the mean since the first line:
    # 40 steps in 30 s, 2940 steps left -> 2205 s.
    assert lines[2] == ('step 60/3000 (2.0%) | loss 0.4123 | lr 2.1e-04 | wd 0.041 | '
                        'ema 0.9981 | 16.0 clips/s | MFU 80.0% | ETA 36m45s')
    assert not (tmp_path / 'metrics.jsonl').exists()  # progress goes to the stream only


def test_progress_line_without_flops_or_batch(tmp_path):
    clock, out = FakeClock(), io.StringIO()
    w = MetricsWriter(tmp_path, total_steps=100_000, enabled=True, tensorboard=False,
                      stream=out, clock=clock,
                      progress_fields=(('loss', 'loss', '.3f'), ('acc', 'top1', '.1%')))
    w.log_progress(10, {'loss': 1.0})
    clock.now += 4.0
    w.log_progress(20, {'loss': 0.5, 'acc': 0.25})
    line = out.getvalue().splitlines()[1]
    assert line == 'step 20/100000 (0.0%) | loss 0.500 | top1 25.0% | 2.50 steps/s | ETA 11h06m'
    assert 'MFU' not in out.getvalue()


@pytest.mark.parametrize('seconds, text', [
    (0.4, '0s'), (59.6, '1m00s'), (185, '3m05s'), (3720, '1h02m'), (183_600, '2d03h'),
    (float('inf'), '?'),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize('n, text', [
    (512, '512'), (1_500, '1.50K'), (303_885_312, '303.89M'), (1_020_000_000, '1.02B'),
    (-2_000_000, '-2.00M'),
])
def test_format_count(n, text):
    assert format_count(n) == text


def test_banner_writes_config_json(tmp_path):
    out = io.StringIO()
    config = ml_collections.ConfigDict({
        'mode': 'pretrain', 'seed': 0,
        'model': {'variant': 'L/16', 'depth': 24, 'heads': (16, 8)},
        'optimizer': {'lr': 6.25e-4, 'schedule': {'warmup': 40}},
        'name': 'two words',
        'masks': [{'type': 'tube', 'ratio': 0.9}, {'type': 'multiblock3d', 'num_blocks': 8}],
    })
    with MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False,
                       stream=out) as w:
        text = w.banner(config=config, mesh={'data': 2, 'fsdp': 4}, global_batch=3072,
                        param_counts={'encoder': 303_885_312, 'predictor': 22_084_480})
    assert out.getvalue().rstrip('\n') == text
    assert json.loads((tmp_path / 'config.json').read_text()) == {
        'mode': 'pretrain', 'seed': 0, 'name': 'two words',
        'model': {'variant': 'L/16', 'depth': 24, 'heads': [16, 8]},
        'optimizer': {'lr': 6.25e-4, 'schedule': {'warmup': 40}},
        'masks': [{'type': 'tube', 'ratio': 0.9}, {'type': 'multiblock3d', 'num_blocks': 8}],
    }
    assert 'devices: 8 x ' in text and '1 process(es)' in text  # conftest: 8 CPU devices
    assert 'mesh: data=2 x fsdp=4' in text
    assert 'global batch: 3072 clips' in text
    assert 'encoder 303.89M (303,885,312)' in text and 'predictor 22.08M' in text
    assert f'workdir: {tmp_path.absolute()}' in text
    assert "  mode=pretrain name='two words' seed=0" in text
    assert '  model: depth=24 heads=[16,8] variant=L/16' in text
    assert '  optimizer: lr=0.000625 schedule.warmup=40' in text
    assert '  masks: [0].ratio=0.9 [0].type=tube [1].num_blocks=8 [1].type=multiblock3d' in text


def test_disabled_writer_writes_nothing(tmp_path):
    out = io.StringIO()
    workdir = tmp_path / 'run'
    with MetricsWriter(workdir, total_steps=10, enabled=False, stream=out) as w:
        w.write(1, {'loss': 1.0})
        w.log_progress(1, {'loss': 1.0})
        assert w.truncate_after(0) == 0
        assert w.banner(config={'a': 1}, param_counts={'encoder': 1}) == ''
    assert out.getvalue() == ''
    assert not workdir.exists()


def test_closed_writer_refuses_writes(tmp_path):
    w = MetricsWriter(tmp_path, total_steps=10, enabled=True, tensorboard=False)
    w.close()
    w.close()  # idempotent
    with pytest.raises(RuntimeError, match='closed'):
        w.write(1, {'loss': 1.0})

"""Sum a ``jax.profiler`` trace's XLA op events by kind: where a CPU step's thread time goes.

  python benchmarks/trace_summary.py /tmp/trace [--top 15] [--by name]

Reads the newest ``perfetto_trace.json.gz`` under the directory (written by
``jax.profiler.start_trace(dir, create_perfetto_trace=True)``, as
``train_step.py --profile DIR`` does). Events are grouped by their op name
with the ``.N`` suffix dropped (``copy_bitcast_fusion.7`` ->
``copy_bitcast_fusion``), or by full name with ``--by name``; durations are
summed over every thread, so two busy threads give twice the wall time.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import pathlib
import re


def load_events(root: pathlib.Path) -> list[dict]:
    """Complete (``ph == 'X'``) events of the newest perfetto trace under ``root``."""
    traces = sorted(root.rglob('perfetto_trace.json.gz'), key=lambda p: p.stat().st_mtime)
    if not traces:
        raise SystemExit(f'no perfetto_trace.json.gz under {root}')
    with gzip.open(traces[-1], 'rt') as f:
        data = json.load(f)
    events = data['traceEvents'] if isinstance(data, dict) else data
    return [e for e in events if e.get('ph') == 'X' and 'dur' in e]


def kind_of(name: str) -> str:
    """``copy_bitcast_fusion.7`` -> ``copy_bitcast_fusion``."""
    return re.sub(r'\.\d+$', '', name)


def summarise(events: list[dict], by_name: bool) -> list[tuple[str, float, int]]:
    """(group, summed ms, count), largest first."""
    total: dict[str, float] = collections.defaultdict(float)
    count: collections.Counter[str] = collections.Counter()
    for e in events:
        key = e['name'] if by_name else kind_of(e['name'])
        total[key] += e['dur'] / 1e3
        count[key] += 1
    return sorted(((k, total[k], count[k]) for k in total), key=lambda r: -r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('trace_dir', type=pathlib.Path)
    ap.add_argument('--top', type=int, default=15)
    ap.add_argument('--by', default='kind', choices=['kind', 'name'])
    ap.add_argument('--skip', default='$,PjitFunction,ThunkExecutor,TfrtCpuExecutable,'
                    'XlaModule,ExecuteHelper,SlinkyThreadPool',
                    help='comma-separated substrings of wrapper events to leave out '
                    '($: Python frames such as block_until_ready)')
    args = ap.parse_args()
    skip = [s for s in args.skip.split(',') if s]
    events = [e for e in load_events(args.trace_dir) if not any(s in e['name'] for s in skip)]
    rows = summarise(events, args.by == 'name')
    print(f'{"op":<48} {"thread ms":>10} {"count":>6}')
    for key, ms, n in rows[:args.top]:
        print(f'{key[:48]:<48} {ms:10.1f} {n:6d}')


if __name__ == '__main__':
    main()

"""Video decoding in a thread pool, a bounded window ahead of the device, results in input order."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vjepa_jax.input.video import VideoError


@dataclasses.dataclass
class Decoded:
    """One video's outcome: its clip, or why there is none."""

    position: int
    clip: np.ndarray | None
    reason: str = ''
    detail: str = ''


def decode_one(position: int, path: str, load: Callable[[str], np.ndarray]) -> Decoded:
    """``load(path)``, with any failure caught and recorded (one odd file must not end a run)."""
    try:
        return Decoded(position, load(path))
    except VideoError as e:
        return Decoded(position, None, e.reason, e.detail)
    except Exception as e:  # noqa: BLE001 - one odd file must not end a long run
        return Decoded(position, None, 'error', f'{type(e).__name__}: {e}')


def decoded_in_order(paths: Sequence[str], load: Callable[[str], np.ndarray], workers: int,
                      window: int) -> Iterator[Decoded]:
    """Decodes ``paths`` in ``workers`` threads, at most ``window`` ahead; yields in order."""
    if workers <= 0:
        for i, p in enumerate(paths):
            yield decode_one(i, p, load)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix='extract-decode')
    try:
        pending: collections.deque = collections.deque()
        todo = iter(enumerate(paths))
        for i, p in todo:
            pending.append(pool.submit(decode_one, i, p, load))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            for i, p in todo:
                pending.append(pool.submit(decode_one, i, p, load))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

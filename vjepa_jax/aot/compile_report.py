"""Compile one program for a target and read the compiler's figures; find the largest batch.

Per device (= per chip on every TPU generation here: v4 and v5p devices are
megacore chips): argument, output, aliased (donated), temporary and peak bytes
from ``memory_analysis()``. ``bound = args + out - alias + temp`` is a safe upper
bound of what the program holds at once; the TPU compiler itself refuses a
program over the chip's HBM (``RESOURCE_EXHAUSTED``), which is the fit verdict.
Collectives are counted in the optimised HLO: each op once, so a scanned
layer's collectives count once, not once per layer.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from vjepa_jax.aot.programs import Program
from vjepa_jax.errors import VjepaError

GiB = 2**30
COLLECTIVES = ('all-gather', 'reduce-scatter', 'all-reduce', 'all-to-all', 'collective-permute')
# XLA's fastest-compile setting: 3.6-6x faster TPU compiles, memory within a few percent
# (higher, the safe side) of the default (../shared/reference/tpu_aot.md, verified here).
FAST_COMPILE = {'exec_time_optimization_effort': -1.0}

_UNITS = {'': 1, 'B': 1, 'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}
_SIZE = r'([\d.]+)\s*([KMGT]?)i?B?'


class CompilerError(VjepaError, RuntimeError):
    """The compiler failed for another reason than memory (no verdict either way)."""

    exit_status = 3


@dataclasses.dataclass
class CompileResult:
    """One compile: ``fits`` False with ``oom_message`` when the compiler ran out of HBM."""

    name: str
    global_batch: int
    per_device_batch: int
    fits: bool
    compile_s: float
    hbm_bytes: int
    argument_bytes: int = 0
    output_bytes: int = 0
    alias_bytes: int = 0
    temp_bytes: int = 0
    peak_bytes: int = 0
    needed_bytes: int = 0      # from the out-of-memory message when it does not fit
    flops: float = 0.0         # analytic, whole mesh
    flops_per_device: float = 0.0
    compiler_flops: float = 0.0  # cost_analysis() per device; scan bodies counted once
    collectives: dict[str, int] = dataclasses.field(default_factory=dict)
    oom_message: str = ''

    @property
    def bound_bytes(self) -> int:
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes

    @property
    def headroom_bytes(self) -> int:
        return self.hbm_bytes - self.bound_bytes

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(bound_bytes=self.bound_bytes, headroom_bytes=self.headroom_bytes)
        return d


def count_collectives(hlo_text: str) -> dict[str, int]:
    """Ops of each collective kind in HLO text (async ``-start`` ops count, ``-done`` not)."""
    counts = dict.fromkeys(COLLECTIVES, 0)
    for kind in re.findall(r'\s(all-gather|reduce-scatter|all-reduce|all-to-all|'
                           r'collective-permute)(?:-start)?\(', hlo_text):
        counts[kind] += 1
    return counts


def _bytes(number: str, unit: str) -> int:
    return int(float(number) * _UNITS[unit.upper()])


def parse_oom(message: str) -> tuple[int, int]:
    """``(needed, available)`` bytes from a TPU out-of-memory message ((0, 0) if not found)."""
    m = re.search(r'Used ' + _SIZE + r' of ' + _SIZE, message)
    if m is None:
        m = re.search(r'\(' + _SIZE + r'\) exceeds available \w+ \(' + _SIZE + r'\)', message)
    if m is None:
        return 0, 0
    return _bytes(m.group(1), m.group(2)), _bytes(m.group(3), m.group(4))


def is_oom(error: BaseException) -> bool:
    return 'RESOURCE_EXHAUSTED' in str(error)


def compile_program(program: Program, hbm_bytes: int, *, fast: bool = True) -> CompileResult:
    """Lowers and compiles ``program`` on its (compile-only) mesh; an OOM is a result, not a raise."""
    result = CompileResult(program.name, program.global_batch, program.per_device_batch,
                           fits=False, compile_s=0.0, hbm_bytes=hbm_bytes, flops=program.flops,
                           flops_per_device=program.flops / program.mesh.size)
    start = time.perf_counter()
    try:
        compiled = program.lower().compile(compiler_options=FAST_COMPILE if fast else None)
    except Exception as e:  # only the compiler's OOM is a result
        if not is_oom(e):
            if type(e).__name__ == 'JaxRuntimeError':  # the compiler itself failed
                first = str(e).strip().splitlines()[0][:400]
                raise CompilerError(f'the XLA compiler failed on {program.name}: {first} (no fit verdict)') from e
            raise
        result.compile_s = time.perf_counter() - start
        result.oom_message = str(e).strip().splitlines()[0][:500]
        needed, available = parse_oom(str(e))
        result.needed_bytes = needed
        if available:
            result.hbm_bytes = available
        return result
    result.compile_s = time.perf_counter() - start
    mem = compiled.memory_analysis()
    result.fits = True
    result.argument_bytes = int(mem.argument_size_in_bytes)
    result.output_bytes = int(mem.output_size_in_bytes)
    result.alias_bytes = int(mem.alias_size_in_bytes)
    result.temp_bytes = int(mem.temp_size_in_bytes)
    result.peak_bytes = int(getattr(mem, 'peak_memory_in_bytes', 0) or 0)
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older JAX: one dict per device
        cost = cost[0] if cost else None
    result.compiler_flops = float((cost or {}).get('flops', 0.0))
    result.collectives = count_collectives(compiled.as_text())
    if result.bound_bytes > result.hbm_bytes:  # GPU compiles do not refuse: the verdict is ours
        result.fits = False
        result.needed_bytes = result.bound_bytes
        result.oom_message = 'memory bound over the device memory (GPU: reported, not checked)'
    return result


def largest_batch(compile_at: Callable[[int], CompileResult], start: CompileResult,
                  limit: int = 4096, on_try: Callable[[CompileResult], None] | None = None
                  ) -> tuple[int, list[CompileResult]]:
    """The largest per-device batch that fits, by bisection from a linear estimate.

    ``compile_at(per_device_batch)`` compiles one; ``start`` is a result already
    had. The first guess scales ``start``'s memory linearly in the batch (the
    state is fixed, activations grow with the batch), doubled while it still
    fits; then the bracket [fits, does not fit] is bisected to one. Out-of-memory compiles fail fast,
    so most of the time goes to the ones that fit. Returns ``(batch, tries)``
    (0 when even one sample per device does not fit).
    """
    tries = []

    def attempt(b: int) -> CompileResult:
        r = compile_at(b)
        tries.append(r)
        if on_try is not None:
            on_try(r)
        return r

    b0 = start.per_device_batch
    fixed = start.argument_bytes
    used = start.bound_bytes if start.fits else (start.needed_bytes + fixed)
    per_sample = max((used - fixed) / max(b0, 1), 1.0)
    guess = int((start.hbm_bytes - fixed) / per_sample)
    lo, hi = (b0, None) if start.fits else (0, b0)
    guess = max(1, min(limit, guess))
    guess = min(guess, hi - 1) if hi is not None else max(guess, lo + 1)
    # Grow (or check the guess) until the bracket closes.
    while guess > lo and (hi is None or guess < hi):
        r = attempt(guess)
        if r.fits:
            lo = guess
            if hi is None:
                if guess >= limit:
                    return limit, tries
                guess = min(limit, guess * 2)
            else:
                break
        else:
            hi = guess
            break
    if hi is None:
        return lo, tries
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = attempt(mid)
        if r.fits:
            lo = mid
        else:
            hi = mid
    return lo, tries

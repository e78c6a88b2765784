"""Where loaded weights came from: the path, the format, the step, the encoder, and notes."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Provenance:
    """The origin of a ``LoadedModel``, for logs, result files and reports.

    Attributes:
      path: absolute path that was read (for a training workdir: the step
        directory, ``WORKDIR/checkpoints/<step>``).
      format: name of the reader that read it (``readers.READERS``), e.g.
        ``'official_vjepa'``, ``'converted'``, ``'train_workdir'``.
      step: training step of a workdir checkpoint; None for other formats.
      which: the encoder ``encode`` uses (``'target_encoder'`` or
        ``'encoder'``); None for a checkpoint without an encoder.
      notes: how the checkpoint was interpreted (import options, defaults
        assumed, what was read), one line each.
      metadata: scalars stored with the checkpoint (``epoch``, ``lr``, ...).
    """

    path: str
    format: str
    step: int | None = None
    which: str | None = None
    notes: tuple[str, ...] = ()
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``format path [step N] [which]``."""
        parts = [self.format, self.path]
        if self.step is not None:
            parts.append(f'step {self.step}')
        if self.which is not None:
            parts.append(self.which)
        return ' '.join(parts)

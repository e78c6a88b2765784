"""Loads a directory of official-code outputs (see shared/fixtures/*/README.md)."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODULES = ('encoder', 'predictor', 'target_encoder', 'classifier')


@dataclasses.dataclass
class OfficialFixture:
    path: Path
    arrays: dict[str, np.ndarray]
    state_dicts: dict[str, dict[str, np.ndarray]]  # module -> official key -> array
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def num_heads(self) -> int:
        return int(self.config['encoder']['num_heads'])

    @property
    def num_frames(self) -> int:
        return int(self.config['encoder']['num_frames'])

    @property
    def classifier_heads(self) -> int:
        return int(self.config['classifier']['num_heads'])

    def video(self, key: str = 'x') -> np.ndarray:
        """Official ``[B, C, T, H, W]`` input -> our ``[B, T, H, W, C]``."""
        return np.ascontiguousarray(self.arrays[key].transpose(0, 2, 3, 4, 1))

    def mask_sets(self) -> list[tuple[int, int]]:
        """``(n, mask_index)`` per stored set ``masks_enc_{n}``; the mask index (which
        mask token the predictor used) comes from ``config['mask_sets']`` when given."""
        numbers = sorted(int(k.rsplit('_', 1)[1]) for k in self.arrays
                         if k.startswith('masks_enc_'))
        listed = self.config.get('mask_sets') or []
        def mask_index(n: int) -> int:
            entry = listed[n] if n < len(listed) else {}
            return int(entry.get('mask_index', entry.get('index', n)))

        return [(n, mask_index(n)) for n in numbers]


@cache
def load(path: Path) -> OfficialFixture:
    with np.load(Path(path) / 'fixture.npz', allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    state_dicts: dict[str, dict[str, np.ndarray]] = {m: {} for m in MODULES}
    plain = {}
    for key, value in arrays.items():
        module, sep, rest = key.partition('/')
        if sep and module in state_dicts:
            state_dicts[module][rest] = value
        else:
            plain[key] = value
    config = json.loads(str(plain.pop('config_json')))
    return OfficialFixture(Path(path), plain, state_dicts, config)

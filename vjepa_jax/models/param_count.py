"""How many parameters a params tree holds (the one count the banners and tools print)."""

from __future__ import annotations

import math
from typing import Any

import jax


def param_count(tree: Any) -> int:
    """Total elements of every leaf of ``tree`` (arrays, abstract shapes or sharded arrays)."""
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))

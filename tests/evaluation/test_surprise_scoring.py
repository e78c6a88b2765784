"""Scoring matched sets by surprise: relative accuracy per violation type, ties, errors."""

from __future__ import annotations

import math

import pytest

from vjepa_jax.errors import DataError
from vjepa_jax.evaluation.matched_sets import MatchedSet
from vjepa_jax.evaluation.surprise_scoring import (
    format_table,
    relative_accuracy,
    set_correct,
)


def quad(name, violation):
    return MatchedSet(name, violation, ('x', 'y', 'a', 'b'), (False, False, True, True))


def test_the_impossible_clips_must_be_the_more_surprising_on_average():
    bad = (False, False, True, True)
    assert set_correct([1.0, 2.0, 1.6, 1.6], bad) == 1.0      # 1.6 > 1.5
    assert set_correct([1.0, 3.0, 2.5, 1.0], bad) == 0.0      # 1.75 < 2.0
    assert set_correct([1.0, 2.0, 1.5, 1.5], bad) == 0.5      # a tie is half right
    assert set_correct([0.3, 0.2], (False, True)) == 0.0      # a pair


def test_per_type_accuracy_and_standard_errors():
    sets = [quad(f'p{i}', 'permanence') for i in range(4)] + [quad('t0', 'teleport'),
                                                              quad('t1', 'teleport')]
    right, wrong = [0, 0, 1, 1], [1, 1, 0, 0]
    scores = {'p0': right, 'p1': right, 'p2': right, 'p3': wrong, 't0': right, 't1': wrong}
    table = relative_accuracy(sets, scores)
    assert list(table) == ['permanence', 'teleport', 'mean']
    assert table['permanence'].percent == 75.0 and table['permanence'].n == 4
    assert table['permanence'].stderr == pytest.approx(100 * math.sqrt(0.75 * 0.25 / 4))
    assert table['teleport'].percent == 50.0
    assert table['mean'].percent == 62.5 and table['mean'].n == 6
    expected = math.hypot(table['permanence'].stderr, table['teleport'].stderr) / 2
    assert table['mean'].stderr == pytest.approx(expected)
    text = format_table({'pretrained': table, 'random init': table})
    assert 'permanence (4)' in text and '75.0 +-' in text and 'mean over types' in text


def test_a_perfect_score_still_has_an_error_bar():
    sets = [quad(f's{i}', 'solidity') for i in range(10)]
    table = relative_accuracy(sets, {s.name: [0, 0, 1, 1] for s in sets})
    assert table['solidity'].percent == 100.0 and table['solidity'].stderr > 0


def test_missing_or_mismatched_scores_are_data_errors():
    with pytest.raises(DataError, match="no surprise scores for matched set 'p0'"):
        relative_accuracy([quad('p0', 'permanence')], {})
    with pytest.raises(DataError, match='one score per clip'):
        set_correct([1.0, 2.0], (False, False, True, True))

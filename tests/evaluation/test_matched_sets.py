"""The matched-sets text format (SET TYPE LABEL PATH), its errors, and the IntPhys loader."""

from __future__ import annotations

import json

import pytest

from vjepa_jax.errors import DataError
from vjepa_jax.evaluation.matched_sets import (
    MatchedSetsError,
    format_matched_sets,
    intphys_matched_sets,
    parse_matched_sets,
    read_matched_sets,
)


def test_reads_sets_with_paths_relative_to_the_file(tmp_path):
    for name in ('a.mp4', 'b.mp4', 'my clip.mp4'):
        (tmp_path / name).touch()
    (tmp_path / 'sets.txt').write_text(
        '# a comment\n\n'
        's1 permanence possible a.mp4\n'
        's2 teleport possible b.mp4\n'
        's1 permanence impossible my clip.mp4\n'
        f's2 teleport impossible {tmp_path / "a.mp4"}\n')
    sets = read_matched_sets(tmp_path / 'sets.txt')
    assert [s.name for s in sets] == ['s1', 's2']
    assert sets[0].clips == (str(tmp_path / 'a.mp4'), str(tmp_path / 'my clip.mp4'))
    assert sets[0].impossible == (False, True) and sets[0].violation == 'permanence'
    assert parse_matched_sets(format_matched_sets(sets)) == sets


def test_every_problem_is_reported_with_its_line_number(tmp_path):
    text = ('s1 permanence possible a.mp4\n'
            's1 permanence maybe b.mp4\n'
            's1 teleport impossible c.mp4\n'
            'too few fields\n'
            's2 solidity impossible d.mp4\n')
    with pytest.raises(MatchedSetsError) as err:
        parse_matched_sets(text, source='sets.txt', check_paths=False)
    message = str(err.value)
    assert isinstance(err.value, DataError) and message.startswith('sets.txt: ')
    assert 'line 2: label \'maybe\'' in message
    assert "line 3: set 's1' has type 'teleport' here but 'permanence' on line 1" in message
    assert 'line 4: expected "SET TYPE LABEL PATH"' in message
    assert "line 5: set 's2' has no possible clip" in message
    with pytest.raises(MatchedSetsError, match=r'line 1: .*a\.mp4 does not exist'):
        parse_matched_sets('s1 t possible a.mp4\ns1 t impossible a.mp4\n', root=tmp_path)
    with pytest.raises(MatchedSetsError, match='no clips'):
        parse_matched_sets('# nothing\n')
    with pytest.raises(MatchedSetsError, match='cannot read'):
        read_matched_sets(tmp_path / 'missing.txt')


def test_intphys_dev_layout_gives_quadruplets(tmp_path):
    for scene in ('00001', '00002'):
        for movie, possible in (('1', True), ('2', False), ('3', True), ('4', False)):
            folder = tmp_path / 'O1' / scene / movie
            (folder / 'scene').mkdir(parents=True)
            (folder / 'status.json').write_text(json.dumps({'header': {'is_possible': possible}}))
    sets = intphys_matched_sets(tmp_path)
    assert [s.name for s in sets] == ['O1/00001', 'O1/00002']
    assert sets[0].violation == 'O1' and sets[0].impossible == (False, True, False, True)
    assert sets[0].clips[1] == str(tmp_path / 'O1' / '00001' / '2' / 'scene')
    with pytest.raises(MatchedSetsError, match='no IntPhys scenes'):
        intphys_matched_sets(tmp_path / 'O1' / '00001' / '1' / 'scene')

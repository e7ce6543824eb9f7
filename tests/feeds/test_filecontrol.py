from __future__ import annotations

import pytest

from watchkeeper.feeds.filecontrol import BadPattern, check_sequence, sequence_number


@pytest.mark.parametrize(
    "name,pattern,expected",
    [
        ("cdr_000123.csv", r"cdr_(?P<seq>\d+)\.csv", 123),
        ("SUPPLIER-20261123-0042.dat", r"-(\d{4})\.dat$", 42),
        ("readme.txt", r"cdr_(?P<seq>\d+)", None),
    ],
)
def test_sequence_number_comes_from_the_named_or_first_group(name, pattern, expected):
    assert sequence_number(name, pattern) == expected


def test_a_pattern_without_a_group_is_refused_with_an_example():
    with pytest.raises(BadPattern, match="needs a group"):
        sequence_number("cdr_1.csv", r"cdr_\d+")


@pytest.mark.parametrize(
    "sequence,highest,used_by,kinds",
    [
        (1, None, None, []),
        (5, 4, None, []),
        (7, 4, None, ["sequence_gap"]),
        (3, 4, None, []),
        (4, 4, "cdr_4.csv", ["sequence_reused"]),
    ],
)
def test_check_sequence(sequence, highest, used_by, kinds):
    assert [f.kind for f in check_sequence(sequence, highest=highest, used_by=used_by)] == kinds

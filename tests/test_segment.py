from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stance.segment import MAX_UNIT_CHARS, split_sentences


def texts(text: str) -> list[str]:
    return [u.text for u in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. and the U.K. met on Jan. 15 with Mr. Smith. Talks ended.",
            ["The U.S. and the U.K. met on Jan. 15 with Mr. Smith.", "Talks ended."],
        ),
        (
            "Trade hit $694 billion in 2023, up 2.5% on the year. Imports rose 145 per cent.",
            ["Trade hit $694 billion in 2023, up 2.5% on the year.", "Imports rose 145 per cent."],
        ),
        ("Exports of US$34bn are at risk. No. 2 on the list is steel.", ["Exports of US$34bn are at risk.", "No. 2 on the list is steel."]),
        (
            '"We will fight. We will win," he said. Markets fell.',
            ['"We will fight.', 'We will win," he said.', "Markets fell."],
        ),
        ("Shares of Apple Inc. rose. The deal was made in the U.S. The end.", ["Shares of Apple Inc. rose.", "The deal was made in the U.S.", "The end."]),
        ("The talks... stalled. Then... nothing.", ["The talks... stalled.", "Then... nothing."]),
        ("Why now? Nobody knows! Really.", ["Why now?", "Nobody knows!", "Really."]),
        ("Donald J. Trump met Corp. leaders.", ["Donald J. Trump met Corp. leaders."]),
        (
            "BARDSTOWN, Ky. - Distillers are worried. WINDSOR, Ont. (wire) - Plants idled. He left Ky. The end.",
            ["BARDSTOWN, Ky. - Distillers are worried.", "WINDSOR, Ont. (wire) - Plants idled.", "He left Ky.", "The end."],
        ),
    ],
)
def test_hard_cases(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_lines_without_punctuation_are_units() -> None:
    page = "Home » Economy » Trade\n\nTariffs rise again\nBy Jane Doe\n\nThe duties took effect. Prices rose.\n\nLeave a Comment"
    assert texts(page) == [
        "Home » Economy » Trade",
        "Tariffs rise again",
        "By Jane Doe",
        "The duties took effect.",
        "Prices rose.",
        "Leave a Comment",
    ]


def test_bullets_and_numbered_lines() -> None:
    text = "Key points:\n- Tariffs rise to 25%\n- Talks resume\n1. It dates from 1974.\n2. It was used often."
    assert texts(text) == [
        "Key points:",
        "- Tariffs rise to 25%",
        "- Talks resume",
        "1. It dates from 1974.",
        "2. It was used often.",
    ]


def test_hard_wrapped_sentence_is_joined() -> None:
    text = "The United States raised tariffs on\n$200 billion of Chinese goods, officials\nsaid on Friday. Markets fell."
    assert texts(text) == [
        "The United States raised tariffs on\n$200 billion of Chinese goods, officials\nsaid on Friday.",
        "Markets fell.",
    ]


def test_offsets_point_into_original(london_text: str) -> None:
    units = split_sentences(london_text)
    assert len(units) > 40
    for u in units:
        assert london_text[u.start : u.end] == u.text
    assert units[0].text.startswith("Home » Economy")
    assert "Leave a Comment" in [u.text for u in units]  # cruft kept, not dropped


def _check_invariants(text: str) -> None:
    units = split_sentences(text)
    last_end = 0
    for u in units:
        assert text[u.start : u.end] == u.text
        assert u.start >= last_end
        assert u.text and not u.text[0].isspace() and not u.text[-1].isspace()
        last_end = u.end
    covered = "".join(u.text for u in units)
    assert "".join(covered.split()) == "".join(text.split())


alphabet = st.sampled_from([*list("abcXYZ .!?…\"'”()$%,;:-–•*\n\t019U.S"), "Mr.", "U.S.", "No. ", "...", "\n\n", "Jan. 5", "1. "])


@settings(max_examples=400, deadline=None)
@given(st.lists(alphabet, max_size=80).map("".join))
def test_property_offsets_order_and_coverage(text: str) -> None:
    _check_invariants(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_property_any_unicode(text: str) -> None:
    _check_invariants(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["tariffs", "and", "talks", ",", ";", " – ", "\n", "$5.2bn", "U.S."]), min_size=200, max_size=900).map(" ".join))
def test_property_long_run_on_text_is_cut_into_short_units(text: str) -> None:
    _check_invariants(text)
    assert all(len(u.text) <= MAX_UNIT_CHARS for u in split_sentences(text))


def test_long_unit_is_cut_at_a_clause_break() -> None:
    text = "The duties cover steel, aluminium, copper and lumber; " * 20 + "they start on Friday."
    units = split_sentences(text)
    assert len(units) > 1
    assert all(len(u.text) <= MAX_UNIT_CHARS for u in units)
    assert all(u.text.endswith(";") for u in units[:-1])
    _check_invariants(text)


def test_long_unit_without_spaces_is_cut_hard() -> None:
    text = "x" * (2 * MAX_UNIT_CHARS + 7)
    assert [len(u.text) for u in split_sentences(text)] == [MAX_UNIT_CHARS, MAX_UNIT_CHARS, 7]

"""Split article text into sentence units with character offsets into the original text.

The rules were chosen on evidence (``benchmarks/splitters.py`` compares them with pysbd and
blingfire on a hand-split gold set, ``benchmarks/data/sbd_gold.txt``):

* Every line is its own unit source: headlines, bylines, breadcrumbs and other page lines
  without final punctuation become units of their own, and are never silently dropped.
  A line is joined to the previous one only when it plainly continues a hard-wrapped
  sentence (it starts in lower case, or the previous line ends with a comma, a hyphen, an
  open bracket or a function word such as "the" or "of").
* Bullets ("-", "*", "•", "1.") start a new unit source.
* Inside a source, a boundary follows ``.``, ``!``, ``?`` or an ellipsis (with any closing
  quotes or brackets) when whitespace and a plausible sentence start follow. Known
  abbreviations (Mr., Jan. 5, No. 2, U.S. officials, J. Smith) do not end a sentence unless
  a capitalised function word ("The", "But", ...) follows an initialism or company suffix.
* A unit longer than ``MAX_UNIT_CHARS`` (run-on page text, tables or lists without
  punctuation) is cut into pieces of at most that length, at the last clause break (``;``,
  ``:``, ``,``, a dash) in the second half of each piece, else at the last space, else hard.
  The model reads the first 128 tokens of a unit (about 550 characters of news prose), so a
  much longer unit would be labelled on its beginning alone. The corpus's longest sentence has
  322 characters.

Invariants (property-tested): each unit's ``text == source[start:end]``; units are ordered
and non-overlapping; every non-whitespace character of the input is inside exactly one unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """One sentence-like unit: ``text == source[start:end]``."""

    start: int
    end: int
    text: str


# Abbreviations that never end a sentence in news copy (compared case-insensitively,
# without the final period).
_TITLES = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "sen", "rep", "gov", "st", "sgt", "lt", "col",
    "capt", "cmdr", "adm", "hon", "rev", "pres", "supt", "messrs", "mme", "mlle", "fr", "sr",
    "jr", "vs", "v", "approx", "cf", "e.g", "i.e", "viz", "ca", "est", "dept", "univ", "assn",
    "fig", "figs", "vol", "pp", "para", "paras", "ch", "ed", "eds", "sec", "secs", "art",
    "arts", "mt", "ft", "rd", "ave", "blvd", "hwy", "ret",
}
# Abbreviations that end a sentence only when a capitalised function word follows.
_SOFT = {
    "inc", "corp", "ltd", "co", "plc", "bros", "llc", "ag", "sa", "nv", "bv", "gmbh", "etc",
    "al", "pte", "a.m", "p.m", "u.s", "u.k", "e.u", "u.n", "u.s.a", "d.c", "n.y", "l.a", "s.a",
}
# US state and Canadian province abbreviations in datelines and addresses ("BARDSTOWN, Ky. -",
# "Windsor, Ont."), compared as written: like _SOFT, they end a sentence only when a capitalised
# function word follows. Two-letter dotted forms ("N.J.", "B.C.") are caught by the initials rule.
_PLACES = {
    "Ala", "Ariz", "Ark", "Calif", "Colo", "Conn", "Del", "Fla", "Ga", "Ill", "Ind", "Kan", "Kans",
    "Ky", "La", "Md", "Mass", "Mich", "Minn", "Miss", "Mo", "Mont", "Neb", "Nev", "Okla", "Ore",
    "Pa", "Tenn", "Tex", "Va", "Vt", "Wash", "Wis", "Wyo", "Ont", "Que", "Sask", "Alta", "Man",
}
# Abbreviations that do not end a sentence when a number follows ("Jan. 5", "No. 2").
_BEFORE_NUMBER = {
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no",
    "nos", "art", "sec", "ch", "fig", "vol", "p", "pp", "op", "para", "tel", "ext", "rev",
}
_STARTERS = {
    "the", "a", "an", "it", "its", "he", "she", "they", "we", "i", "you", "this", "that",
    "these", "those", "there", "but", "and", "or", "so", "yet", "in", "on", "at", "for", "as",
    "if", "when", "while", "after", "before", "since", "although", "though", "however", "his",
    "her", "their", "our", "my", "some", "many", "most", "both", "such", "what", "why", "how",
    "who", "where", "no", "not", "one", "two", "shares", "officials", "analysts",
}
_CONTINUATION_WORDS = {
    "the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "with", "by", "at", "from",
    "that", "as", "than", "its", "their", "is", "are", "was", "were", "be", "been", "has",
    "have", "had", "will", "would", "could", "should", "may", "might", "this", "which", "who",
    "but", "into", "over", "about", "between", "under", "after", "before", "against", "per",
}
_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{"
_BULLET = re.compile(r"^[ \t]*(?:[-*•·▪‣◦–—]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+\S")
# A candidate sentence end: terminal punctuation, optional closers, then whitespace.
_CANDIDATE = re.compile(r"(?:\.{2,}|…|[.!?]+)[" + re.escape(_CLOSERS) + r"]*(?=\s)")
_WORD_BEFORE = re.compile(r"(\S+)$")
MAX_UNIT_CHARS = 500  # longer units are cut (see the module docstring)
_CLAUSE_BREAK = re.compile(r"[;:,]\s|\s[–—-]\s")


def split_sentences(text: str) -> list[Unit]:
    """Split ``text`` into units. Whitespace-only input gives no units."""
    return list(iter_units(text))


def iter_units(text: str) -> Iterator[Unit]:
    for block_start, block_end in _blocks(text):
        yield from _split_block(text, block_start, block_end)


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) spans of unit sources: lines, with hard-wrapped lines joined."""
    start = end = None
    prev_line = ""
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        line_end = n if nl == -1 else nl
        line = text[pos:line_end]
        if line.strip():
            if start is not None and _continues(prev_line, line):
                end = line_end
            else:
                if start is not None:
                    yield start, end
                start, end = pos, line_end
            prev_line = line
        else:
            if start is not None:
                yield start, end
            start = end = None
            prev_line = ""
        if nl == -1:
            break
        pos = nl + 1
    if start is not None:
        yield start, end


def _continues(prev: str, line: str) -> bool:
    """Does ``line`` continue a sentence hard-wrapped at the end of ``prev``?"""
    if _BULLET.match(line):
        return False
    prev_s = prev.rstrip()
    if not prev_s:
        return False
    last_word = prev_s.rsplit(None, 1)[-1].lower()
    if last_word.endswith(".") and last_word[:-1] in _TITLES:
        return True  # "Treasury Sec.\nScott Bessent"
    if prev_s[-1] in ".!?…:" or (prev_s[-1] in _CLOSERS and prev_s[-2:-1] in (".", "!", "?")):
        return False
    first = line.lstrip()[:1]
    if first.islower():
        return True
    if prev_s[-1] == "," and len(prev_s.split()) <= 3:
        return False  # "Hi all," / "Best," stand alone
    if prev_s[-1] in ",(-/&" and not prev_s.endswith(" -"):
        return True
    return last_word in _CONTINUATION_WORDS


def _split_block(text: str, start: int, end: int) -> Iterator[Unit]:
    block = text[start:end]
    cut = 0
    for m in _CANDIDATE.finditer(block):
        if _is_boundary(block, m.start(), m.end()):
            yield from _emit(text, start + cut, start + m.end())
            cut = m.end()
    yield from _emit(text, start + cut, end)


def _emit(text: str, start: int, end: int) -> Iterator[Unit]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_UNIT_CHARS:
        cut = _long_unit_cut(text, start)
        yield from _emit(text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield Unit(start, end, text[start:end])


def _long_unit_cut(text: str, start: int) -> int:
    """Where to end a piece of an over-long unit that starts at ``start``."""
    limit = start + MAX_UNIT_CHARS
    half = start + MAX_UNIT_CHARS // 2
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(text, half, limit)]
    if breaks:
        return breaks[-1]
    space = max(text.rfind(" ", half, limit), text.rfind("\n", half, limit))
    return space if space > start else limit


def _is_boundary(block: str, p_start: int, p_end: int) -> bool:
    punct = block[p_start:p_end].rstrip(_CLOSERS)
    nxt = _next_token(block, p_end)
    if not nxt:
        return False  # the block ends here anyway
    first = nxt[0]
    if first in _OPENERS:
        first = nxt.lstrip(_OPENERS)[:1] or first
    if first.islower():
        return False
    next_word = re.sub(r"[^\w]", "", nxt).lower()
    if punct != ".":
        # "!", "?", "...", "…", "?!": a sentence end unless a lower-case word follows, or a
        # title after a closing quote ('"Why now?" Mr. Brandt asked.').
        closed = block[p_start:p_end] != punct
        return not (closed and next_word in _TITLES and nxt.endswith("."))
    word_m = _WORD_BEFORE.search(block, 0, p_start)
    word = word_m.group(1) if word_m else ""
    word = re.split(r"[–—/]", word.lstrip(_OPENERS))[-1]
    bare = word.lower()
    if not word:
        return True
    if word.isdigit() and len(word) <= 3 and _is_heading_number(block, p_start):
        return False  # "1. It dates from ...", "Sec. 2. Imposition of duties."
    if bare in _TITLES:
        return False
    if bare in _BEFORE_NUMBER and first.isdigit():
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        # An initial ("Donald J. Trump"), unless the next word starts a sentence.
        return next_word in _STARTERS
    if bare in _SOFT or word in _PLACES or ("." in word and re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word)):
        return next_word in _STARTERS
    return True


def _is_heading_number(block: str, p_start: int) -> bool:
    line_start = block.rfind("\n", 0, p_start) + 1
    return len(block[line_start:p_start].split()) <= 2


_TOKEN = re.compile(r"\s*(\S+)")


def _next_token(block: str, pos: int) -> str:
    m = _TOKEN.match(block, pos)
    return m.group(1) if m else ""

"""The names and numbers a question mentions, and those the closest passages never mention.

A question that names something ("What did the Alpha Prize committee decide?", "Who won in
2005?") asks about it; when none of the passages closest to the question mentions it at all, the
corpus is not about it, however close the rest of the question is. SQuAD 2.0's near-miss
questions are often made that way: a name or a number of the paragraph swapped for another
("NQ-complete" for "NP-complete", "Ladder's" for "Ladner's"). Paraphrases keep names and
numbers ("Who heads Iran's military?" for a lede about Iran's chief of staff), so unlike the
share of the question's words missing from the passages (``Signals.missing``), this check holds
on reworded questions.

A name is a word of the question, after its first, that starts with a capital letter; a number
is a word that holds a digit (an ordinal such as "2nd" is left out: the text may spell it). A
question typed in title or upper case says nothing by its capitals, and they are not read as
names. A word is mentioned when each of its terms, analysed as for BM25 ("Iran's" -> "iran"), is
among the passages' terms, or, for a name, shares its first :data:`PREFIX` letters with one of
them ("Iranian" and "Iran", "Chinese" and "China"); a number must be there as written. A
misspelt name is not mentioned either: qa says which, and the user can see the spelling.

Measured on SQuAD 2.0 dev's tuning half (docs/EVALUATION.md): on the five articles the reader
never trained on, unanswerable questions caught 0.089 -> 0.177, answerable refused 0.022 -> 0.039
(most of those are misspelt names in the crowd's questions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa.text.terms import analyze

WORD_RE = re.compile(r"[\w'’.-]+")
ORDINAL_RE = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)
TITLE_CASE_WORDS = 3  # a question whose content words (at least this many) all start with a capital
PREFIX = 4  # a name's term is mentioned by a passage term that starts with the same 4 letters


def named(question: str) -> list[tuple[str, tuple[str, ...]]]:
    """The question's names and numbers, as written, each with its analysed terms; each once.
    Of a hyphenated word only the capitalised parts and numbers count ("Russia" of
    "Russia-backed", "Al-Qaeda" whole)."""
    words = [word.strip(".'’-") for word in WORD_RE.findall(question)]
    words = [word for word in words if word]
    content = [word for word in words[1:] if analyze(word) and not has_digit(word)]
    title_case = len(content) >= TITLE_CASE_WORDS and all(word[0].isupper() for word in content)
    found: dict[str, tuple[str, ...]] = {}
    for position, word in enumerate(words):
        kept = [
            part for i, part in enumerate(word.split("-"))
            if part and (
                (has_digit(part) and not ORDINAL_RE.fullmatch(part))
                or (not title_case and (position > 0 or i > 0) and part[0].isupper())
            )
        ]
        terms = tuple(term for part in kept for term in analyze(part))
        if terms:
            found.setdefault("-".join(kept), terms)
    return list(found.items())


def has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def unmentioned(question: str, passage_terms: Iterable[str], prefix: int = PREFIX) -> tuple[str, ...]:
    """The question's names and numbers (:func:`named`) whose terms are not all among
    ``passage_terms`` (the passages' terms, analysed as for BM25), as the question writes them; a
    name's term may match on its first ``prefix`` letters (0: exactly)."""
    present = set(passage_terms)
    prefixes = {term[:prefix] for term in present if prefix and len(term) >= prefix}

    def mentioned(term: str) -> bool:
        return term in present or (
            bool(prefix) and not has_digit(term) and len(term) >= prefix and term[:prefix] in prefixes
        )

    return tuple(word for word, terms in named(question) if not all(map(mentioned, terms)))

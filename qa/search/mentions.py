"""The numbers (and names) a question gives, and those the closest passages never mention.

A question that gives a number ("What happened in 2005?", "Which squadron flew the F-16?") asks
about it; when none of the three passages competing for the answer holds that number (nor the
title of its article: "Super Bowl 50" is in the title, its passages say "the game"), the corpus
does not answer it, however close the rest of the question is. SQuAD 2.0's near-miss questions
are often made by changing a year or a figure of the paragraph. qa abstains then and says which
number (``Result.reason``). A number is a word that holds a digit, an ordinal such as "2nd" left
out (the text may spell it); it must be there as written, its terms analysed as for BM25, in
whichever script's digits ("２０１９" is 2019). A decade is mentioned however it is written and by
any year in it: "the 1950s" by "1950's", "'50s" or "1955"; "the 50s" by any of those in any
century; "the 1700s" by "18th" too. (Decades written otherwise caused 4 of the 5 answerable
questions the check refused on SQuAD v1.1's report half.) A quarter or half of a year as a
business reader types it, "Q4" or "H1", is mentioned by any passage that speaks of a quarter
("fourth-quarter profits") or of a half.

Names, the capitalised words after the first (not in a question typed in title or upper case),
are found the same way, and may match on their first :data:`PREFIX` letters ("Iranian" and
"Iran"), but they are not part of the check (``names=False``). Measured on SQuAD 2.0 dev's
tuning half (benchmarks/tune_mentions.py, docs/EVALUATION.md), numbers alone take unanswerable
questions caught from 0.089 to 0.131 for answerable refused 0.022 -> 0.028; names as well, to
0.177 for 0.039. But names refuse answerable questions that call a thing by another name than
the text: abbreviations ("UN", "WWII"), demonyms ("Filipino"), metonyms ("Kabul's", "City Hall"),
spellings without the accents. With names, the blind BBC set refused as many answerable
paraphrases as it caught unanswerable questions (2 and 2), and SQuAD v1.1's report half lost 2.8
points of answer sentences right to refusals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from qa.text.terms import analyze

WORD_RE = re.compile(r"[\w'’.-]+")
ORDINAL_RE = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)
TITLE_CASE_WORDS = 3  # a question whose content words (at least this many) all start with a capital
PREFIX = 4  # a name's term is mentioned by a passage term that starts with the same 4 letters
DECADE_RE = re.compile(r"['’]?(\d\d)?(\d)0['’]?s")  # "1950s", "1950's", "'50s", "50s"
YEAR_OR_DECADE_RE = re.compile(r"(\d\d)?(\d)\ds?")  # a passage's "1955", "1950s", "50s", "50" (of "50's")
PERIOD_RE = re.compile(r"(q)[1-4]|(h)[12]", re.IGNORECASE)  # "Q4", "H1": a quarter, a half of a year
PERIOD_TERMS = {"q": "quarter", "h": "half"}  # ... each mentioned by a passage that says so


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


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of any script as its ASCII digit ("２０１９", "٢٠١٩": "2019")."""
    if text.isascii():  # most terms: nothing to map
        return text
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None else ch for ch in text)


def unmentioned(
    question: str, passage_terms: Iterable[str], *, names: bool = False, prefix: int = PREFIX
) -> tuple[str, ...]:
    """The question's numbers (and with ``names``, its names: :func:`named`) whose terms are not
    all among ``passage_terms`` (the passages' terms, analysed as for BM25), as the question
    writes them; a name's term may match on its first ``prefix`` letters (0: exactly)."""
    present = {ascii_digits(term) for term in passage_terms}
    prefixes = {term[:prefix] for term in present if prefix and len(term) >= prefix}

    def mentioned(term: str) -> bool:
        term = ascii_digits(term)
        return term in present or (
            bool(prefix) and not has_digit(term) and len(term) >= prefix and term[:prefix] in prefixes
        )

    return tuple(
        word for word, terms in named(question)
        if (names or has_digit(word))
        and not (all(map(mentioned, terms)) or decade_mentioned(ascii_digits(word), present)
                 or period_mentioned(word, present))
    )


def period_mentioned(word: str, present: set[str]) -> bool:
    """Whether ``word``, when it is a quarter ("Q4") or half ("H1") of a year, is mentioned by
    one of the ``present`` terms ("quarter", "half"): the text spells the period out."""
    period = PERIOD_RE.fullmatch(word)
    return period is not None and PERIOD_TERMS[(period[1] or period[2]).lower()] in present


def decade_mentioned(word: str, present: set[str]) -> bool:
    """Whether ``word``, when it is a decade ("1950s", "'50s"), is mentioned by one of the
    ``present`` terms: the decade written another way, or a year in it; with a century, in that
    century only ("18th" is the 1700s' too, when the decade is its first). A bare "50" (the
    analysed "50's") stands for a decade only where the question gives no century."""
    decade = DECADE_RE.fullmatch(word)
    if not decade:
        return False
    century, digit = decade.groups()
    if century and digit == "0" and f"{int(century) + 1}th" in present:
        return True
    for term in present:
        year = YEAR_OR_DECADE_RE.fullmatch(term)
        if not year or year[2] != digit:
            continue
        if year[1] is not None and century in (None, year[1]):  # "1955", "1950s"
            return True
        if year[1] is None and (term.endswith("s") or century is None and term[1] == "0"):  # "50s"; "50" of "50's"
            return True
    return False

"""What kind of answer a question asks for, and whether a sentence holds one.

"How many ships ...?" wants a count of ships, "In which year ...?" a year, "On what date ...?"
a date. A sentence without anything of that kind cannot be the answer, however close it is
in meaning: "the exercises, which began two years ago" does not say how many ships took part.
This is the answer-type check of classic question answering (the TREC QA systems), kept to
the types that can be recognised reliably without a tagger: numbers, years, dates and times.
Other questions (who, what, where, why) expect no particular type here.

The check feeds answer selection (a sentence of the wanted type is preferred) and abstention
(no sentence of the wanted type among the top passages is a strong sign the corpus does not
answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text.terms import analyze

NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
    "thousand thousands million millions billion billions trillion dozen dozens half single couple"
).split()
MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
TIME_WORDS = (
    "ago yesterday today tomorrow tonight year years month months week weeks day days decade decades "
    "century centuries morning evening night afternoon hour hours minute minutes season spring summer "
    "autumn winter early late later earlier since until during before after recently currently now "
    "immediately soon next future past once annually daily weekly monthly"
).split()

NUMBER = rf"(?:\d[\d,.]*|(?:{'|'.join(NUMBER_WORDS)}))"
NUMBER_RE = re.compile(rf"(?<![\w-]){NUMBER}(?![\w])|\d", re.IGNORECASE)
YEAR_RE = re.compile(r"(?<!\d)(1\d{3}|20\d\d)s?(?!\d)")
DATE_RE = re.compile(
    rf"\b(?:{'|'.join(MONTHS)})\b\.?|\b(?:{'|'.join(WEEKDAYS)})\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|\b\d{{1,2}}/\d{{1,2}}\b",
    re.IGNORECASE,
)
# An age: "45 years old", "aged 45", "45-year-old", "in his forties", and news style's age in
# apposition after a name, "Anil, 45, has stepped down" (a capitalised word, then a number under
# 120 between commas: 118 times in the BBC News corpus, an age in each of the 25 read)
AGE_RE = re.compile(
    rf"\b{NUMBER}[- ](?:years?|months?)[- ]old\b|\baged?\s+(?:of\s+)?{NUMBER}\b|\b{NUMBER}-year-old\b"
    rf"|\b(?:in\s+)?(?:his|her|their)\s+(?:teens|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b"
    r"|\b(?-i:[A-Z])[\w'’-]*,\s(?:1[01]\d|[1-9]?\d),(?=\s)",
    re.IGNORECASE,
)
# Measures: a count of kilometres needs a length ("4 km", "900 miles"), a count of tonnes a
# weight. Another unit of the same measure answers ("how many kilometres" with miles); no unit
# at all does not ("four days" says nothing about how long a border is). Units of time are
# left out: "how many years" is often answered by two dates.
MEASURES = {
    "length": (
        "kilometre kilometres kilometer kilometers km kms mile miles metre metres meter meters centimetre "
        "centimetres cm millimetre millimetres mm foot feet ft yard yards inch inches"
    ),
    "area": "acre acres hectare hectares km2 sq",
    "weight": "tonne tonnes ton tons kilogram kilograms kg kilo kilos gram grams lb lbs ounce ounces",
    "volume": "litre litres liter liters gallon gallons barrel barrels",
    "share": "percent per_cent percentage %",
    "temperature": "degree degrees °",
}
UNIT_RE = {
    measure: re.compile(
        r"(?<![^\W\d_])(?:"
        + "|".join(re.escape(unit).replace("_", r"\s") for unit in sorted(units.split(), key=len, reverse=True))
        + r")(?![^\W\d_])",
        re.IGNORECASE,
    )
    for measure, units in MEASURES.items()
}
MEASURE_OF_STEM = {stem: measure for measure, units in MEASURES.items() for stem in analyze(units.replace("_", ""))}
TIME_RE = re.compile(rf"\b(?:{'|'.join(TIME_WORDS)})\b", re.IGNORECASE)
WORD_RE = re.compile(r"[\w'’-]+")

# Question openings, most specific first: (pattern, type). The count types capture the noun
# that is counted ("How many ships").
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"\b(?:what|which|in what|in which)\s+(?:year|decade|century)\b", "year"),
        (r"\b(?:what|which)\s+(?:[\w-]+\s+)?(?:date|day|month)\b", "date"),
        (r"\bhow\s+old\b|\bat\s+what\s+age\b|\bwhat\s+age\b", "age"),
        (r"\bhow\s+many\s+(?:of\s+the\s+|more\s+|different\s+|times\b)?([\w'’-]+)", "count"),
        (r"\bhow\s+(?:much|long|far|often|tall|high|large|big|wide|deep|fast|heavy)\b", "number"),
        (r"\bwhat\s+(?:percentage|percent|proportion|number|amount|size|share)\b", "number"),
        (r"^\s*when\b|\bwhen\s+(?:did|was|were|is|will|does|do|had|has)\b", "time"),
    )
)


@dataclass(frozen=True)
class AnswerType:
    """What a question asks for: ``kind`` is one of year, date, age, count, number, time;
    ``focus`` the counted noun of a count question, analysed as for BM25 ("ship")."""

    kind: str
    focus: str | None = None


def expected_type(question: str) -> AnswerType | None:
    """The answer type the question asks for, or None when it asks for none of these."""
    for pattern, kind in PATTERNS:
        match = pattern.search(question)
        if match:
            focus = None
            if kind == "count" and match.groups() and match.group(1):
                terms = analyze(match.group(1))
                focus = terms[0] if terms else None
            return AnswerType(kind, focus)
    return None


def holds_type(text: str, wanted: AnswerType | None) -> bool:
    """Does ``text`` contain something of the wanted type? (Always, when nothing is wanted.)

    A count is a number; when the counted noun itself occurs in the text, the number must
    stand just before it ("12 ships", "two Iranian ships"): a text that names the ships but
    gives no number beside them does not count them. A count of a unit of measure needs a unit
    of that measure (:data:`MEASURES`).
    """
    if wanted is None:
        return True
    if wanted.kind == "year":
        return bool(YEAR_RE.search(text))
    if wanted.kind == "date":
        return bool(DATE_RE.search(text) or YEAR_RE.search(text))
    if wanted.kind == "time":
        return bool(DATE_RE.search(text) or YEAR_RE.search(text) or TIME_RE.search(text))
    if wanted.kind == "age":
        return bool(AGE_RE.search(text))
    if wanted.kind == "number":
        return bool(NUMBER_RE.search(text))
    return _counts(text, wanted.focus)


def _counts(text: str, focus: str | None) -> bool:
    words = WORD_RE.findall(text)
    numbers = [bool(NUMBER_RE.fullmatch(word) or NUMBER_RE.match(word)) for word in words]
    if not any(numbers):
        return False
    stems = [analyze(word) for word in words]
    places = [i for i, stem in enumerate(stems) if focus and focus in stem]
    if not places:
        measure = MEASURE_OF_STEM.get(focus or "")
        if measure:  # "how many kilometres": a length, whatever its unit ("900 miles", "4km")
            return bool(UNIT_RE[measure].search(text))
        return True  # the text counts something else by another name ("a 20-member delegation")
    # "12 ships", "two Iranian ships", or one compound word: "four-day", "20-member"
    return any(numbers[j] for i in places for j in range(max(0, i - 3), i + 1))

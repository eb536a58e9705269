"""Negated questions, and answer sentences that say nothing negative.

A question that negates ("What did the pharmacists not sell?", "Which team never won?") asks
about what is not so. A sentence that answers it says so too: with a negation ("did not",
"never", "no") or a word that negates by its meaning ("refused", "except", "lacked", "unable").
When the answer sentence qa chose has none, it answers the question without its negation.
SQuAD 2.0's near misses are often made exactly so, by putting a "not" into an answerable
question. The check (qa.search.answer.refusing_check) then refuses.

Measured on tuning data (benchmarks/negation_check.py, docs/EVALUATION.md). Checking only "not"-like
words in the answer sentence refused more answerable questions. Counting every word with a
negative prefix ("un-", "dis-", "non-") as a negation caught fewer near misses. "Whether or not",
"or not", "not only" and "no longer" do not negate what the question asks.
"""

from __future__ import annotations

import re

NEGATORS = r"not|never|no|nobody|none|nothing|nowhere|neither|nor|cannot|without"
QUESTION_NEGATION_RE = re.compile(rf"\b(?:{NEGATORS})\b|\w+n['’]t\b", re.IGNORECASE)
NOT_NEGATING_RE = re.compile(r"\b(?:whether or not|or not|not only|no longer)\b", re.IGNORECASE)
# what a sentence may negate with: the negators, and words that negate by their meaning
STATED_RE = re.compile(
    rf"\b(?:{NEGATORS}|unlike|except|exception|exclud\w*|refus\w*|fail\w*|lack\w*|instead|rather|"
    r"impossible|unable|absen\w*|barred|den(?:y|ies|ied)|reject\w*|prevent\w*)\b|\w+n['’]t\b",
    re.IGNORECASE,
)


def negation(question: str) -> str | None:
    """The word that negates the question, as written ("not", "never", "didn't"), or None."""
    found = QUESTION_NEGATION_RE.search(NOT_NEGATING_RE.sub(" ", question))
    return found.group(0) if found else None


def states_negation(sentence: str) -> bool:
    """Does the sentence say something negative (a negator, or a word that negates by meaning)?"""
    return STATED_RE.search(sentence) is not None

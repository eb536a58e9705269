"""Negated questions, and answer sentences that say nothing negative.

A question that negates what it asks ("What did the pharmacists not sell?", "Which team never
won?") asks about what is not so. A sentence that answers it says so too: with a negation
("did not", "never", "no") or with a word that negates by its meaning ("refused", "except",
"lacked", "unable"). When the answer sentence qa chose has none, it answers the question without
its negation. SQuAD 2.0's near misses are often made exactly so, by putting a "not" into an
answerable question. The check (qa.search.answer.refusing_check) then refuses.

Only the question's main clause counts. A negation in a clause that qualifies something else
does not negate what is asked: "Which club dropped the striker even though he never missed
training?", "Which trainer did he blame for not telling him?". So the main clause ends at the
first comma or at the first word that starts another clause ("because", "that", "who", "to", ...)
after the question word. "Without" is left out: it mostly names a thing ("detention without
trial"). "Whether or not", "or not", "not only" and "no longer" do not negate either.

Chosen on tuning data (benchmarks/negation_check.py, docs/EVALUATION.md):
- A negation anywhere in the question caught more near misses, but refused more answerable
  questions.
- Counting only "not"-like words in the answer sentence also refused more.
- Counting every word with a negative prefix ("un-", "dis-", "non-") caught fewer.
"""

from __future__ import annotations

import re

NEGATORS = r"not|never|no|nobody|none|nothing|nowhere|neither|nor|cannot"
CONTRACTED = r"\w+n['’]t\b"  # "didn't", "can’t"
NEGATION_RE = re.compile(rf"\b(?:{NEGATORS})\b|{CONTRACTED}", re.IGNORECASE)
NOT_NEGATING_RE = re.compile(r"\b(?:whether or not|or not|not only|no longer)\b", re.IGNORECASE)
QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})
# words that start another clause than the main one (after the question word)
CLAUSE_WORDS = QUESTION_WORDS | {
    "because", "although", "though", "even", "while", "whereas", "unless", "despite", "since", "after", "before",
    "until", "if", "once", "that", "whether", "for", "to", "by",
}
QUESTION_WORD_WITHIN = 3  # the question word is looked for among the first words ("In which year ...")
# what a sentence may negate with: the negators, "without", and words that negate by their meaning
STATED_RE = re.compile(
    rf"\b(?:{NEGATORS}|without|unlike|except|exception|exclud\w*|refus\w*|fail\w*|lack\w*|instead|rather|"
    rf"impossible|unable|absen\w*|barred|den(?:y|ies|ied)|reject\w*|prevent\w*)\b|{CONTRACTED}",
    re.IGNORECASE,
)


def main_clause(question: str) -> str:
    """The question up to where another clause starts: its first comma, or the first of
    :data:`CLAUSE_WORDS` after its question word (after its first word when it has none)."""
    words = question.split()
    bare = [word.strip(",.?!;:\"'()“”‘’").lower() for word in words]
    start = next((i + 1 for i, word in enumerate(bare[:QUESTION_WORD_WITHIN]) if word in QUESTION_WORDS), 1)
    kept = words[:start]
    for word, plain in zip(words[start:], bare[start:]):
        if plain in CLAUSE_WORDS:
            break
        kept.append(word)
        if word.endswith(","):
            break
    return " ".join(kept)


def negation(question: str) -> str | None:
    """The word that negates what the question asks, as written ("not", "never", "didn't"), or None."""
    found = NEGATION_RE.search(main_clause(NOT_NEGATING_RE.sub(" ", question)))
    return found.group(0) if found else None


def states_negation(sentence: str) -> bool:
    """Does the sentence say something negative (a negator, or a word that negates by meaning)?"""
    return STATED_RE.search(sentence) is not None

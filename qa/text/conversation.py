"""Follow-up questions without a language model.

"Where will they be held?" after "What exercises did Iran and Pakistan agree to hold?" has no
subject of its own. A question that leans on the conversation (it uses a pronoun or a
demonstrative for its subject, or has at most one content word) is searched together with the
previous question, which carries the subject: both legs see the previous question's terms, and
the dense leg sees the two questions as one text. The question asked comes first: the reader,
trained on single questions, answers the first question of the text it reads (after "What kind
of exercises did Iran and Pakistan agree to hold?", "Where will they be held?" put last had it
prefer a sentence about which exercises, 1.13 against 0.25; put first, the sentence about where,
0.15 against -0.07). A question that names its own subject is searched alone, so changing the
topic works too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text.terms import analyze

REFERRING_WORDS = frozenset(
    """
    he him his she her hers it its they them their theirs there then this that these those
    such former latter same other others
    """.split()
)
WORD = re.compile(r"[\w’']+")


def is_follow_up(question: str) -> bool:
    """Does the question need the conversation to make sense?"""
    words = [word.lower().replace("’", "'").split("'")[0] for word in WORD.findall(question)]
    if any(word in REFERRING_WORDS for word in words):
        return True
    return len(set(analyze(question))) <= 1


def contextualize(question: str, history: Sequence[str]) -> str:
    """The text to search and read for ``question`` given the previous questions (oldest first):
    the question, then the previous one when the question leans on it."""
    previous = [turn.strip() for turn in history if turn and turn.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{question} {previous[-1]}"

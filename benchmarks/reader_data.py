"""The reader's training examples (benchmarks/train_reader.py), from training data and tuning halves only.

An example is ``{"q": question, "s": sentence, "t": its article's title, "label": 1 or 0, "a":
[start, end] or None, "kind"}``: ``a`` is the answer's character span inside the sentence
(positives only). Sentences are cut by qa's own splitter (qa.text.sentences), so they look like
what qa reads; a reader trained with ``--context title`` reads each after its title, as qa does
(qa.search.reader.reader_text). The kinds:

- ``pos``: SQuAD v1.0 train, the sentence holding the answer span (answers that cross a sentence
  boundary, or have answer_start -1, are skipped);
- ``para``: other sentences of the gold paragraph (same topic): the one BM25 ranks highest for the
  question and one more at random;
- ``bm25``: the two sentences of the article's *other* paragraphs that BM25 (bm25s, over the
  article's sentences) ranks highest for the question: what retrieval would offer;
- ``other`` (``--other N``): the N sentences of *other* articles of the training file that BM25
  (over all their sentences) ranks highest for the question, leaving out any that holds the
  answer's text: the same words about something else, which only the title may tell apart
  ("It was founded in 1850" in another university's article);
- ``swap``: a near miss: an entity of the question (a year, another number, or a capitalised
  name) that the gold sentence holds is swapped for another of the same kind from the same
  article that the gold sentence does not hold; paired with the gold sentence, label 0;
- ``squad2``: SQuAD 2.0 dev's unanswerable questions of the tuning half's training articles, each
  paired with the two sentences of its paragraph BM25 ranks highest for it;
- ``squad2pos`` / ``squad2para``: the answerable questions of the same articles, the sentence
  holding the answer (label 1, with its span) and the paragraph's other sentence BM25 ranks
  highest (label 0). Without them every SQuAD 2.0 question the reader saw was a negative, and it
  could learn the articles' style for "no answer" instead of reading: the first version 2 did
  (its answer logit told the calibration articles' answerable questions from their unanswerable
  ones no better than chance, ROC AUC 0.52; docs/EVALUATION.md).
- ``terse`` / ``terseneg`` (``--terse SHARE``): for that share of the sampled SQuAD v1.0 train
  questions, their ``pos`` and their ``para`` / ``bm25`` negatives again, asked tersely as people
  type into a search box (:func:`terse`): SQuAD's questions are full, well-formed sentences, and
  qa's users and the issue's blind set also type "iran military chief".

SQuAD 2.0 dev's tuning half is its 17 articles that are among SQuAD v1.1 dev's first 24
(matched by title). In v1.1 dev's order, the articles at positions 0, 1, 3, 4, 6, 7, ... (position
mod 3 != 2: 12 articles) train; positions 2, 5, 8, 11, 14 (5 articles) are kept untouched for
calibrating abstention (:func:`squad2_split` gives both lists of titles). SQuAD 2.0's other 18
articles and v1.1 dev's last 24 are never read here.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import zipfile
from collections import Counter
from pathlib import Path

from qa.eval.datasets import squad_title

DATASETS = next(  # ../shared/datasets beside the checkout (a worktree may sit one level deeper)
    (up / "shared" / "datasets" for up in Path(__file__).resolve().parents[1:4]
     if (up / "shared" / "datasets").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "datasets",
)
SQUAD_TRAIN = DATASETS / "squad-v1.0-train" / "train-v1.0.json.gz"
SQUAD2_DEV = DATASETS / "squad-v2.0-dev" / "dev-v2.0.json.gz"
SQUAD11_DEV = DATASETS / "squad-v1.1-dev" / "dev-v1.1.json.zip"

YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
SENTENCE_END = re.compile(r"[.!?][\"')]*\s+$")
NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|de\s+)?[A-Z][a-z]+)*")


def load_json(path: Path) -> dict:
    if str(path).endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            (name,) = [n for n in archive.namelist() if n.endswith(".json")]
            return json.loads(archive.read(name))
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def entities(text: str) -> dict[str, set[str]]:
    """{"year": ..., "number": ..., "name": ...}: the text's years, other numbers and capitalised
    names (runs of capitalised words; a sentence's first word is not taken for one)."""
    years = set(YEAR.findall(text))
    numbers = {n for n in NUMBER.findall(text) if n not in years}
    names = set()
    for match in NAME.finditer(text):
        name = match.group()
        if match.start() == 0 or SENTENCE_END.search(text, max(0, match.start() - 6), match.start()):
            name = name.partition(" ")[2]
        if name:
            names.add(name)
    return {"year": years, "number": numbers, "name": names}


def swapped(question: str, sentence: str, pool: dict[str, set[str]], rng: random.Random) -> str | None:
    """The question with one of its entities that ``sentence`` holds replaced by another of the
    same kind from ``pool`` (the article's) that neither the sentence nor the question holds."""
    found = entities(question)
    choices = [(kind, e) for kind in ("year", "number", "name") for e in sorted(found[kind]) if e in sentence]
    rng.shuffle(choices)
    for kind, entity in choices:
        others = sorted(o for o in pool[kind] if o not in sentence and o not in question and entity not in o)
        if others:
            return re.sub(rf"\b{re.escape(entity)}\b", rng.choice(others), question, count=1)
    return None


def sentences_of(context: str) -> list[tuple[int, int]]:
    from qa.text.sentences import split_sentences

    return split_sentences(context)


class ArticleBM25:
    """BM25 (bm25s) over an article's sentences, each tagged with its paragraph."""

    def __init__(self, paragraphs: list[str]) -> None:
        import bm25s

        self.texts, self.paragraph = [], []
        for p, context in enumerate(paragraphs):
            for start, end in sentences_of(context):
                self.texts.append(context[start:end])
                self.paragraph.append(p)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(self.texts, stopwords="en", show_progress=False), show_progress=False)

    def scores(self, question: str):
        import bm25s
        import numpy as np

        tokens = bm25s.tokenize([question], stopwords="en", show_progress=False, return_ids=False)[0]
        return self.retriever.get_scores(tokens) if tokens else np.zeros(len(self.texts))


QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})


def terse(question: str, rng: random.Random) -> str:
    """``question`` as typed into a search box: lower case, without punctuation; half the time
    (drawn with ``rng``) keywords only, the question words and English stopwords (BM25's list) left
    out ("Who heads Iran's military?": "heads iran's military")."""
    from bm25s.stopwords import STOPWORDS_EN  # Lucene's list, as qa's BM25 drops

    words = re.findall(r"[\w'’-]+", question.lower())
    if rng.random() < 0.5:
        stop = set(STOPWORDS_EN) | QUESTION_WORDS
        words = [word for word in words if word not in stop] or words
    return " ".join(words)


def terse_copies(examples: list[dict], share: float, seed: int) -> list[dict]:
    """The ``pos``, ``para`` and ``bm25`` examples of a seeded ``share`` of their questions again,
    the question made :func:`terse` (kinds ``terse`` and ``terseneg``)."""
    questions = sorted({e["q"] for e in examples if e["kind"] == "pos"})
    rng = random.Random(f"terse-{seed}")
    chosen = {q: terse(q, rng) for q in questions if rng.random() < share}
    return [{**e, "q": chosen[e["q"]], "kind": "terse" if e["label"] else "terseneg"}
            for e in examples if e["kind"] in ("pos", "para", "bm25") and e["q"] in chosen]


def sampled_questions(data: list[dict], sample: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """(article, paragraph, question) positions of a sample of ``sample`` SQuAD questions that have
    an answer, drawn with ``rng``, sorted: :func:`squad_train_examples` draws with random.Random(seed)."""
    everything = [(a, p, q) for a, article in enumerate(data) for p, para in enumerate(article["paragraphs"])
                  for q, qa in enumerate(para["qas"]) if qa["answers"] and qa["answers"][0]["answer_start"] >= 0]
    return sorted(rng.sample(everything, min(sample, len(everything))))


class CorpusBM25:
    """BM25 (bm25s) over every sentence of every article of a SQuAD file, each tagged with its
    article: the sentences another article offers for a question (kind ``other``)."""

    def __init__(self, data: list[dict]) -> None:
        import bm25s

        self.texts, self.article = [], []
        for a, article in enumerate(data):
            for para in article["paragraphs"]:
                context = para["context"]
                for start, end in sentences_of(context):
                    self.texts.append(context[start:end])
                    self.article.append(a)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(self.texts, stopwords="en", show_progress=False), show_progress=False)

    def others(self, asked: list[tuple[int, str, str]], per_question: int, depth: int = 12) -> list[list[int]]:
        """For each (article, question, answer text): the ``per_question`` best sentences of other
        articles that do not hold the answer's text."""
        import bm25s

        tokens = bm25s.tokenize([q for _, q, _ in asked], stopwords="en", show_progress=False)
        found, scores = self.retriever.retrieve(tokens, k=min(depth, len(self.texts)), show_progress=False, n_threads=1)
        return [
            [int(i) for i, score in zip(row, values)
             if score > 0 and self.article[i] != a and answer.lower() not in self.texts[i].lower()][:per_question]
            for (a, _, answer), row, values in zip(asked, found, scores)
        ]


def squad_train_examples(path: Path, sample: int, seed: int, swap_share: float, other: int = 0) -> list[dict]:
    """Examples from a seeded sample of ``sample`` SQuAD v1.0 train questions (module docstring);
    ``other``: that many sentences of other articles per question (kind ``other``)."""
    import numpy as np

    data = load_json(path)["data"]
    asked: list[tuple[int, str, str]] = []  # (article, question, answer) of each positive, for ``other``
    rng = random.Random(seed)
    chosen = sampled_questions(data, sample, rng)
    examples: list[dict] = []
    by_article: dict[int, list[tuple[int, int]]] = {}
    for a, p, q in chosen:
        by_article.setdefault(a, []).append((p, q))
    for a, picks in sorted(by_article.items()):
        paragraphs = [para["context"] for para in data[a]["paragraphs"]]
        title = squad_title(data[a]["title"])
        bm25 = ArticleBM25(paragraphs)
        pool = entities(" ".join(paragraphs))
        offsets = {p: sentences_of(paragraphs[p]) for p, _ in picks}
        first_of = {}
        for i, p in enumerate(bm25.paragraph):
            first_of.setdefault(p, i)
        for p, q in picks:
            qa = data[a]["paragraphs"][p]["qas"][q]
            question, context = qa["question"].strip(), paragraphs[p]
            answer = qa["answers"][0]
            start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
            holding = [i for i, (s, e) in enumerate(offsets[p]) if s <= start and end <= e]
            if not holding:
                continue  # crosses sentences (or lies in trimmed space)
            gold = holding[0]
            s0, e0 = offsets[p][gold]
            sentence = context[s0:e0]
            examples.append({"q": question, "s": sentence, "t": title, "label": 1, "a": [start - s0, end - s0],
                             "kind": "pos"})
            asked.append((a, question, answer["text"]))
            scores = bm25.scores(question)
            base = first_of[p]
            same = sorted((i for i in range(len(offsets[p])) if i != gold), key=lambda i: -scores[base + i])
            if same:
                picked = [same[0]] + rng.sample(same[1:], min(1, len(same) - 1))
                examples += [{"q": question, "s": context[slice(*offsets[p][i])], "t": title, "label": 0,
                              "a": None, "kind": "para"} for i in picked]
            others = [i for i in np.argsort(-scores)[:12] if bm25.paragraph[i] != p][:2]
            examples += [{"q": question, "s": bm25.texts[i], "t": title, "label": 0, "a": None, "kind": "bm25"}
                         for i in others]
            if rng.random() < swap_share:
                near = swapped(question, sentence, pool, rng)
                if near is not None:
                    examples.append({"q": near, "s": sentence, "t": title, "label": 0, "a": None, "kind": "swap"})
    if other > 0 and asked:
        corpus = CorpusBM25(data)
        for (_, question, _), rows in zip(asked, corpus.others(asked, other)):
            examples += [{"q": question, "s": corpus.texts[i], "t": squad_title(data[corpus.article[i]]["title"]),
                          "label": 0, "a": None, "kind": "other"} for i in rows]
    return examples


def squad2_split(v2_path: Path = SQUAD2_DEV, v11_path: Path = SQUAD11_DEV) -> tuple[list[str], list[str]]:
    """(training titles, calibration titles) of SQuAD 2.0 dev's tuning half (module docstring)."""
    first = [article["title"] for article in load_json(v11_path)["data"]][:24]
    in_v2 = {article["title"] for article in load_json(v2_path)["data"]}
    tuning = [title for title in first if title in in_v2]
    return ([t for i, t in enumerate(tuning) if i % 3 != 2], [t for i, t in enumerate(tuning) if i % 3 == 2])


def squad2_examples(titles: list[str], v2_path: Path = SQUAD2_DEV, per_question: int = 2) -> list[dict]:
    """Each unanswerable question of these SQuAD 2.0 dev articles, with the ``per_question``
    sentences of its paragraph BM25 ranks highest for it, label 0; each answerable one with the
    sentence holding its answer (label 1) and the best other sentence (label 0)."""
    import numpy as np

    examples = []
    wanted = set(titles)
    for article in load_json(v2_path)["data"]:
        if article["title"] not in wanted:
            continue
        title = squad_title(article["title"])
        for para in article["paragraphs"]:
            context = para["context"]
            bm25 = ArticleBM25([context])
            spans = sentences_of(context)
            for qa in para["qas"]:
                question = qa["question"].strip()
                scores = bm25.scores(qa["question"])
                if qa.get("is_impossible"):
                    examples += [{"q": question, "s": bm25.texts[i], "t": title, "label": 0, "a": None,
                                  "kind": "squad2"} for i in np.argsort(-scores)[:per_question]]
                    continue
                answer = qa["answers"][0]
                start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                holding = [i for i, (s0, e0) in enumerate(spans) if s0 <= start and end <= e0]
                if not holding or len(bm25.texts) != len(spans):
                    continue
                s0, e0 = spans[holding[0]]
                examples.append({"q": question, "s": context[s0:e0], "t": title, "label": 1,
                                 "a": [start - s0, end - s0], "kind": "squad2pos"})
                other = [i for i in np.argsort(-scores) if i != holding[0]][:1]
                examples += [{"q": question, "s": bm25.texts[i], "t": title, "label": 0, "a": None,
                              "kind": "squad2para"} for i in other]
    return examples


def tokenized(tokenizer, examples: list[dict], max_length: int, *, titled: bool = False) -> list[dict]:
    """Each example's token ids and type ids (question, then sentence, after its title when
    ``titled``; the sentence cut first), and for positives the answer's first and last token (-100
    when the cut removed it)."""
    from qa.search.reader import reader_text

    texts = [reader_text(e["s"], e.get("t") if titled else None) for e in examples]
    encoded = tokenizer([e["q"] for e in examples], [text for text, _ in texts], truncation="only_second",
                        max_length=max_length, return_offsets_mapping=True)
    rows = []
    for i, example in enumerate(examples):
        start = end = -100
        if example["a"] is not None:
            a0, a1 = (offset + texts[i][1] for offset in example["a"])
            sequence = encoded.sequence_ids(i)
            inside = [t for t, (s, e) in enumerate(encoded["offset_mapping"][i]) if sequence[t] == 1 and e > s]
            starts = [t for t in inside if encoded["offset_mapping"][i][t][1] > a0]
            ends = [t for t in inside if encoded["offset_mapping"][i][t][0] < a1]
            if starts and ends and starts[0] <= ends[-1]:
                start, end = starts[0], ends[-1]
        rows.append({"ids": encoded["input_ids"][i], "types": encoded["token_type_ids"][i],
                     "label": float(example["label"]), "start": start, "end": end})
    return rows


def batches_by_length(rows: list[dict], batch: int, seed: int) -> list[list[int]]:
    """Batches of row indices: shuffled, then sorted by length inside pools of 64 batches (less
    padding), and the batches shuffled again. The same every run for the same rows and seed."""
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    pool = 64 * batch
    out = []
    for i in range(0, len(order), pool):
        part = sorted(order[i : i + pool], key=lambda j: len(rows[j]["ids"]))
        out += [part[k : k + batch] for k in range(0, len(part), batch)]
    rng.shuffle(out)
    return out


def collate(rows: list[dict], indices: list[int], device):
    import torch

    length = max(len(rows[i]["ids"]) for i in indices)
    ids = torch.zeros((len(indices), length), dtype=torch.long)
    types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for r, i in enumerate(indices):
        n = len(rows[i]["ids"])
        ids[r, :n], types[r, :n], mask[r, :n] = torch.tensor(rows[i]["ids"]), torch.tensor(rows[i]["types"]), 1
    labels = torch.tensor([rows[i]["label"] for i in indices])
    starts = torch.tensor([rows[i]["start"] for i in indices])
    ends = torch.tensor([rows[i]["end"] for i in indices])
    return [t.to(device) for t in (ids, mask, types, labels, starts, ends)]


def write_examples(run_dir: Path, args) -> dict:
    """Build the training examples (reader_data) once into ``run_dir/examples.jsonl.gz``; counts by kind."""
    examples = squad_train_examples(args.train_data, args.sample, args.seed, args.swap, getattr(args, "other", 0))
    examples += terse_copies(examples, getattr(args, "terse", 0.0), args.seed)
    train_titles, calibration_titles = squad2_split()
    examples += squad2_examples(train_titles)
    for extra in getattr(args, "extra", None) or ():  # mined by benchmarks/mine_reader_negatives.py
        with gzip.open(extra, "rt", encoding="utf-8") as handle:
            examples += [json.loads(line) for line in handle]
    run_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(run_dir / "examples.jsonl.gz", "wt", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example) + "\n")
    data = {"squad_train_questions": args.sample, "seed": args.seed, "swap_share": args.swap,
            "terse_share": getattr(args, "terse", 0.0), "other_per_question": getattr(args, "other", 0),
            "context": getattr(args, "context", "none"),
            "extra": [str(path) for path in getattr(args, "extra", None) or ()],
            "kinds": dict(Counter(e["kind"] for e in examples)),
            "squad2_train_articles": train_titles, "squad2_calibration_articles": calibration_titles}
    (run_dir / "data.json").write_text(json.dumps(data, indent=1))
    return data


def read_examples(run_dir: Path) -> list[dict]:
    with gzip.open(run_dir / "examples.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]

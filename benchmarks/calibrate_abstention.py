"""Fit the abstention model (qa/search/abstain.json) on SQuAD questions whose answer is, or is not,
in the corpus.

Calibration corpus: the 48 SQuAD v1.1 dev articles, where each of the first 24 (the tuning half)
keeps only its even-numbered paragraphs. Questions on a kept paragraph are answerable; questions
on a dropped one are not, although their article, topic and names are all in the corpus: the
hard case (the seed question set's unanswerable questions are of that kind: "How old is
Baqeri?"). No question of the last 24 articles and none of the seed set is used.

    python benchmarks/calibrate_abstention.py [--sample 1500] [--max-false-abstain 0.05]
        [--features dense_top,sentence,agreement,typed] [--signals FILE]

With --squad2 FILE (SQuAD 2.0 dev) the calibration is on crowd-written near misses instead: the
corpus is SQuAD 2.0 dev's 35 articles (as `qa eval --squad` indexes it), and the questions are
those of the tuning-half articles that the reader did not train on (--calibration-articles, by
default the five the shipped reader's metadata names: benchmarks/reader_data.py keeps them out),
answerable unless ``is_impossible``. No question of SQuAD v1.1 dev's last 24 articles is used.

    python benchmarks/calibrate_abstention.py --squad2 ../shared/datasets/squad-v2.0-dev/dev-v2.0.json.gz \
        --features dense_top,sentence,agreement,typed,reader --max-false-abstain 0.08 \
        --signals .qa-eval/abstain-signals-squad2.jsonl --index-dir .qa-eval/abstain-squad2

With --written FILE (benchmarks/data/squad-train-rewritten.jsonl) the calibration is on questions
the team wrote in other words over SQuAD v1.0 train paragraphs (training data): paraphrases, terse
queries, when / how-many questions and near misses, as news readers ask them. The corpus is each
question's paragraph with the one before and after it in its article; the questions are --take
of the file's from the (--skip + 1)th on (by default the second round, rw-1441 to rw-2880, which
no reader trained on), answerable unless their answer is null. The writers checked that the
paragraph does not answer a near miss, not its neighbours, so a few near misses may be answerable
(label noise).
--with-signals FILE adds the signals of an earlier run (another data set) to the fit:

    python benchmarks/calibrate_abstention.py --written benchmarks/data/squad-train-rewritten.jsonl \
        --skip 1440 --take 1440 --signals .qa-eval/abstain-signals-written.jsonl --index-dir .qa-eval/abstain-written \
        --with-signals .qa-eval/abstain-signals-squad2.jsonl

With --off-topic FILE (NQ-open's dev questions, ../shared/datasets/nq-open/NQ-open.dev.jsonl) and
--squad2 FILE, the questions are off-topic ones: a seeded sample of --sample real search-engine
questions of the file's first half asked over SQuAD 2.0 dev's 35 articles, all unanswerable (the
second half measures, over the BBC corpus: benchmarks/replay_abstention.py). A question whose answer
(any of its answer strings, as a whole word, case aside) the corpus mentions anywhere is left out,
so that few of them are answerable after all. Their signals calibrate a second model
(--off-topic-features, --off-topic-signals): the answerable calibration questions against the
off-topic ones, at the threshold that refuses --off-topic-refuse of the answerable ones. Near
misses share their passage's words and read almost as answers; off-topic questions share next to
none and read as nothing. A model that weighs the passage's coverage catches more near misses
but answers off-topic questions, so qa keeps the off-topic model apart and abstains when either
refuses (qa.search.answer.Abstainer; the main threshold is chosen with it in the decision):

    python benchmarks/calibrate_abstention.py --off-topic ../shared/datasets/nq-open/NQ-open.dev.jsonl \
        --squad2 ../shared/datasets/squad-v2.0-dev/dev-v2.0.json.gz --sample 600 \
        --signals .qa-eval/abstain-signals-off-topic.jsonl --index-dir DIR   # signals only
    python benchmarks/calibrate_abstention.py --written benchmarks/data/squad-train-rewritten.jsonl \
        --signals .qa-eval/abstain-signals-written.jsonl --with-signals .qa-eval/abstain-signals-squad2.jsonl \
        --features reader,typed,coverage --off-topic-features reader,dense_top \
        --off-topic-signals .qa-eval/abstain-signals-off-topic.jsonl --max-false-abstain 0.025

The off-topic questions can also be asked over a corpus already indexed, news for one: with
--off-topic FILE and no --squad2, every off-topic question of the file's first half is asked over
the index at --index-dir (`qa index` of the BBC News folders). --questions FILE asks a question set
in qa's format over that index instead (eval/bbc-tuning*.jsonl, answerable unless their answers are
empty). --off-topic-signals and --off-topic-answerable take several files: the off-topic model is
then fitted on the answerable questions of the main calibration and of each --off-topic-answerable
file against every off-topic file, and its threshold refuses at most --off-topic-refuse of each
group's answerable questions, so that no kind of corpus pays more than that. An --off-topic or
--questions run only saves the signals (--out is not written):

    python benchmarks/calibrate_abstention.py --off-topic ../shared/datasets/nq-open/NQ-open.dev.jsonl \
        --signals .qa-eval/abstain-signals-off-topic-bbc.jsonl --index-dir BBC_INDEX      # signals only
    python benchmarks/calibrate_abstention.py --questions eval/bbc-tuning-2.jsonl \
        --signals .qa-eval/abstain-signals-bbc-tuning-2.jsonl --index-dir BBC_INDEX       # (and bbc-tuning)
    python benchmarks/calibrate_abstention.py --written benchmarks/data/squad-train-rewritten.jsonl \
        --signals .qa-eval/abstain-signals-written.jsonl --with-signals .qa-eval/abstain-signals-squad2.jsonl \
        --features reader,typed --max-false-abstain 0.03 --off-topic-features reader,dense_top \
        --off-topic-signals .qa-eval/abstain-signals-off-topic.jsonl \
        --off-topic-signals .qa-eval/abstain-signals-off-topic-bbc.jsonl \
        --off-topic-answerable .qa-eval/abstain-signals-bbc-tuning.jsonl \
        --off-topic-answerable .qa-eval/abstain-signals-bbc-tuning-2.jsonl

Re-worded questions (WordNet synonyms, one detail changed) were tried and not used for the
shipped model (docs/EVALUATION.md, "Abstention"); that code is in the history at commit 8985231.

Writes qa/search/abstain.json: the logistic model over the chosen signals (qa.search.answer.FEATURES) and the
threshold at which qa's whole decision (an answer of the wrong kind, or a low probability)
abstains on at most --max-false-abstain of the answerable calibration questions. The signals of
every question are kept in --signals (JSONL), and read back from there when it exists, so other
feature sets can be fitted without asking again.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v1.1-dev" / "dev-v1.1.json.zip"


def calibration_corpus(squad):
    """(articles, questions with an answerable flag) as described in the module docstring."""
    from qa.ingest.corpus import Corpus
    from qa.ingest.readers import make_article

    tuning = set(squad.article_ids[: len(squad.article_ids) // 2])
    corpus, dropped = Corpus(), {}
    for article in squad.corpus.articles:
        if article.id not in tuning:
            corpus.articles.append(article)
            continue
        paragraphs = article.text.split("\n\n")
        offsets = np.cumsum([0] + [len(p) + 2 for p in paragraphs[:-1]]).tolist()
        kept = [p for i, p in enumerate(paragraphs) if i % 2 == 0]
        dropped[article.id] = [(o, o + len(p)) for i, (o, p) in enumerate(zip(offsets, paragraphs)) if i % 2 == 1]
        corpus.articles.append(make_article(article.id, article.path, article.title, "\n\n".join(kept)))
    questions = []
    for question in squad.questions:
        span = question.answers[0]
        if span.article in tuning:
            gone = any(start <= span.start < end for start, end in dropped[span.article])
            questions.append((question, not gone))
    return corpus, questions


def squad2_calibration(path: Path, titles: list[str]):
    """(corpus, questions with an answerable flag): SQuAD 2.0's whole corpus, the questions of ``titles``."""
    from qa.eval.datasets import load_squad

    squad = load_squad(path)
    unknown = sorted(set(titles) - set(squad.article_ids))
    if unknown:
        raise SystemExit(f"not articles of {path}: {', '.join(unknown)}")
    keep = set(titles)
    questions = [(q, bool(q.answers)) for q in squad.questions if squad.article_of[q.id] in keep]
    return squad.corpus, questions


def written_calibration(path: Path, skip: int, take: int):
    """(corpus, questions with an answerable flag) of questions written over SQuAD v1.0 train
    paragraphs (module docstring): each paragraph with its neighbours is one article."""
    from qa.eval.datasets import squad_title
    from qa.eval.questions import Question
    from qa.ingest.corpus import Corpus
    from qa.ingest.readers import make_article

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reader_data import SQUAD_TRAIN, load_json
    from rewritten_examples import read_questions

    by_title = {article["title"]: article for article in load_json(SQUAD_TRAIN)["data"]}
    rows = read_questions(path)[skip : skip + take]
    corpus, questions, seen = Corpus(), [], set()
    for row in rows:
        key = (row["article"], row["paragraph"])
        if key not in seen:
            seen.add(key)
            paragraphs = [p["context"] for p in by_title[row["article"]]["paragraphs"]]
            near = paragraphs[max(0, row["paragraph"] - 1): row["paragraph"] + 2]
            article_id = f"{row['article']}#{row['paragraph']}"
            corpus.articles.append(make_article(article_id, article_id, squad_title(row["article"]), "\n\n".join(near)))
        questions.append((Question(row["id"], row["question"], row["kind"], ()), row["answer"] is not None))
    return corpus, questions


NQ_OPEN = ROOT.parent / "shared" / "datasets" / "nq-open" / "NQ-open.dev.jsonl"
NQ_CALIBRATION = slice(0, 1805)  # the file's first half calibrates; the second is for tuning figures
NQ_TUNING = slice(1805, None)  # (benchmarks/replay_abstention.py, over the BBC corpus)


def off_topic_questions(path: Path, texts: Iterable[str], lines: slice) -> list:
    """The NQ-open questions of ``path`` (its ``lines``) none of whose answers the corpus (its
    articles' ``texts``) mentions (any answer string, as a whole word, case aside), each with
    False: none is answerable."""
    import re

    from qa.eval.questions import Question

    text = "\n".join(texts).casefold()
    questions = []
    for number, line in list(enumerate(path.read_text().splitlines(), 1))[lines]:
        row = json.loads(line)
        answers = [answer.casefold().strip() for answer in row["answer"] if answer.strip()]
        if not any(re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", text) for answer in answers):
            questions.append((Question(f"nq-{number}", row["question"], "off-topic", ()), False))
    return questions


def off_topic_calibration(path: Path, squad2: Path):
    """(corpus, questions, none answerable): SQuAD 2.0's whole corpus and the off-topic questions
    of the first half of NQ-open's file (module docstring)."""
    from qa.eval.datasets import load_squad

    corpus = load_squad(squad2).corpus
    return corpus, off_topic_questions(path, (article.text for article in corpus.articles), NQ_CALIBRATION)


def reader_calibration_titles() -> list[str]:
    """The SQuAD 2.0 articles the shipped reader kept out of its training, from its metadata."""
    from qa.search.reader import adapter_metadata

    fit = json.loads(adapter_metadata().get("fit", "{}") or "{}")
    titles = fit.get("data", {}).get("squad2_calibration_articles")
    if not titles:
        raise SystemExit("the shipped reader names no calibration articles: pass --calibration-articles")
    return list(titles)


def read_signals(path: Path) -> list[dict]:
    """The records a calibration run saved in ``path`` (--signals: id, kind, answerable and the signals)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def signals_of(record: dict):
    """The qa.types.Signals of one saved record."""
    from qa.types import Signals

    return Signals(**{k: v for k, v in record.items() if k not in ("id", "kind", "answerable")})


def fit_off_topic(args, signals: list, y: np.ndarray) -> tuple[dict, np.ndarray]:
    """(the off-topic model as JSON, which calibration questions it refuses): a logistic model
    over --off-topic-features of the answerable questions (the calibration's, then each
    --off-topic-answerable file's: one group each) against the off-topic ones of every
    --off-topic-signals file, at the threshold refusing at most --off-topic-refuse of each group.
    qa abstains when it refuses, as when a check does (qa.search.answer.Abstainer)."""
    from sklearn.linear_model import LogisticRegression

    missing = [path for path in (*args.off_topic_signals, *args.off_topic_answerable) if not path.is_file()]
    if not args.off_topic_signals or missing:
        raise SystemExit("--off-topic-features needs --off-topic-signals (the signals of an --off-topic run); "
                         f"missing: {', '.join(map(str, missing)) or '--off-topic-signals'}")
    features = tuple(args.off_topic_features.split(","))

    x = np.array([s.vector(features) for s in signals])
    off = np.array([signals_of(r).vector(features) for path in args.off_topic_signals for r in read_signals(path)])
    groups = [x[y == 1]] + [  # the main calibration's answerable questions, then each file's
        np.array([signals_of(r).vector(features) for r in read_signals(path) if r["answerable"]])
        for path in args.off_topic_answerable
    ]
    mine = np.concatenate(groups)
    model = LogisticRegression(class_weight="balanced", max_iter=1000).fit(
        np.concatenate([mine, off]), np.concatenate([np.ones(len(mine)), np.zeros(len(off))])
    )
    scores = [model.predict_proba(group)[:, 1] for group in groups]
    # the highest threshold that refuses at most the share asked of each group (p below it)
    threshold = min(float(np.sort(q)[int(args.off_topic_refuse * len(q))]) for q in scores)
    names = [path.name for path in args.off_topic_answerable]
    p = model.predict_proba(x)[:, 1]
    return {
        "features": list(features),
        "coefficients": [round(float(c), 6) for c in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 6),
        "calibration": {
            "data": f"the answerable questions above{''.join(', ' + n for n in names)} against "
                    f"{len(off)} off-topic questions of {', '.join(path.name for path in args.off_topic_signals)}",
            "answerable_refused": [round(float((q < threshold).mean()), 4) for q in scores],
            "off_topic_caught": round(float((model.predict_proba(off)[:, 1] < threshold).mean()), 4),
        },
    }, p < threshold


def indexed_questions(args) -> tuple:
    """(searcher, questions with an answerable flag) over the existing index at --index-dir:
    --questions' set, or the off-topic questions of --off-topic's first half (a seeded sample of
    --sample), whose answers none of the index's articles mentions."""
    from qa.config import settings_from_env
    from qa.eval.questions import load_question_set
    from qa.search.searcher import open_searcher

    if not (args.index_dir / "manifest.json").is_file():
        raise SystemExit(f"no index at {args.index_dir}: build it with `qa index ... --index-dir {args.index_dir}`")
    searcher = open_searcher(settings_from_env().with_(index_dir=args.index_dir))
    articles = searcher.store.articles
    if args.questions:
        return searcher, [(q, q.answerable) for q in load_question_set(args.questions, articles)]
    off = off_topic_questions(args.off_topic, (article.text for article in articles.values()), NQ_CALIBRATION)
    return searcher, random.Random(0).sample(off, min(args.sample, len(off)))


def save_signals(path: Path, asked: tuple) -> None:
    """Ask each question once, abstention off, and save its signals in ``path`` (one JSON line
    each: id, kind, answerable and the signals)."""
    from tqdm import tqdm

    searcher, questions = asked
    searcher.abstainer = None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for question, answerable in tqdm(questions, desc="questions", file=sys.stderr):
            signals = searcher.ask(question.question, 5, history=list(question.history)).signals
            record = {"id": question.id, "kind": question.kind, "answerable": answerable, **vars(signals)}
            out.write(json.dumps(record) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--index-dir", type=Path, default=ROOT / ".qa-eval" / "abstain-calibration")
    parser.add_argument("--sample", type=int, default=1500, help="questions used (seeded sample)")
    parser.add_argument("--max-false-abstain", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "search" / "abstain.json")
    parser.add_argument("--features", default="dense_top,sentence,agreement,typed",
                        help="comma-separated signals of the model (default leaves out coverage: see EVALUATION.md)")
    parser.add_argument("--signals", type=Path, default=ROOT / ".qa-eval" / "abstain-signals.jsonl")
    parser.add_argument("--squad2", type=Path, help="calibrate on SQuAD 2.0 dev's near misses (module docstring)")
    parser.add_argument("--calibration-articles", help="comma-separated SQuAD 2.0 titles (default: the reader's)")
    parser.add_argument("--written", type=Path, help="calibrate on questions written over SQuAD v1.0 train (docstring)")
    parser.add_argument("--skip", type=int, default=1440, help="with --written: leave out the file's first N")
    parser.add_argument("--take", type=int, default=1440, help="with --written: then take N")
    parser.add_argument("--off-topic", type=Path,
                        help="NQ-open questions, off-topic: over --squad2's corpus, else the index at --index-dir")
    parser.add_argument("--questions", type=Path, help="a question set in qa's format, over the index at --index-dir")
    parser.add_argument("--off-topic-features", help="comma-separated signals of a second, off-topic model (docstring)")
    parser.add_argument("--off-topic-signals", type=Path, action="append", default=[],
                        help="the signals of an --off-topic run, for that model (repeatable)")
    parser.add_argument("--off-topic-answerable", type=Path, action="append", default=[],
                        help="the signals of a --questions run: its answerable questions join that model's fit")
    parser.add_argument("--off-topic-refuse", type=float, default=0.005,
                        help="the off-topic model refuses at most this share of the answerable questions")
    parser.add_argument("--with-signals", type=Path, action="append", default=[],
                        help="fit on these earlier runs' signals too")
    args = parser.parse_args()
    features = tuple(args.features.split(","))
    titles: list[str] = []
    data = "SQuAD v1.1 dev, first 24 articles with odd paragraphs removed (see the script)"
    if args.squad2:
        titles = args.calibration_articles.split(",") if args.calibration_articles else reader_calibration_titles()
        data = f"SQuAD 2.0 dev's 35 articles as the corpus; the questions of {', '.join(titles)} (see the script)"
    if args.off_topic:
        corpus_name = "SQuAD 2.0 dev's 35 articles" if args.squad2 else f"the index {args.index_dir}"
        data = f"{args.off_topic.name}, a sample of {args.sample} off-topic questions, over {corpus_name}"
    if args.questions:
        data = f"{args.questions.name} over the index {args.index_dir}"
    if args.written:
        span = f"{args.skip + 1} to {args.skip + args.take}"
        data = f"questions written over SQuAD v1.0 train paragraphs, {args.written.name} {span}"
    if args.with_signals:
        data += "; with the signals of " + ", ".join(path.name for path in args.with_signals)

    from sklearn.linear_model import LogisticRegression

    from qa.config import Settings, settings_from_env
    from qa.embed.backends import make_embedder
    from qa.eval.datasets import load_squad
    from qa.indexing.faiss_store import FaissStore
    from qa.indexing.indexer import update_index
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    if not args.signals.is_file() and (args.questions or (args.off_topic and not args.squad2)):
        save_signals(args.signals, indexed_questions(args))
    elif not args.signals.is_file():
        settings: Settings = settings_from_env().with_(index_dir=args.index_dir, corpus=(args.squad.resolve(),))
        if args.off_topic:
            corpus, questions = off_topic_calibration(args.off_topic, args.squad2)
            settings = settings.with_(corpus=(args.squad2.resolve(),))
        elif args.squad2:
            corpus, questions = squad2_calibration(args.squad2, titles)
            settings = settings.with_(corpus=(args.squad2.resolve(),))
        elif args.written:
            corpus, questions = written_calibration(args.written, args.skip, args.take)
            settings = settings.with_(corpus=(args.written.resolve(),))
        else:
            corpus, questions = calibration_corpus(load_squad(args.squad))
        questions = random.Random(0).sample(questions, min(args.sample, len(questions)))
        embedder = make_embedder(settings)
        update_index(settings, embedder, corpus=corpus, progress=True)
        searcher = Searcher(
            FaissStore.load(args.index_dir), embedder, settings.search, abstain=False, reader=reader_for(settings)
        )
        save_signals(args.signals, (searcher, questions))
    if args.off_topic or args.questions:  # signals for the off-topic model's fit: nothing to fit on them alone
        print(f"the signals of {len(read_signals(args.signals))} questions are in {args.signals}: "
              "fit the off-topic model with --off-topic-signals / --off-topic-answerable")
        return 0
    paths = (args.signals, *args.with_signals)
    records = [record for path in paths for record in read_signals(path)]
    signals = [signals_of(record) for record in records]
    x = np.array([s.vector(features) for s in signals])
    y = np.array([int(r["answerable"]) for r in records])
    typed = np.array([s.typed >= 1.0 for s in signals])
    model = LogisticRegression(class_weight="balanced", max_iter=1000).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    off_topic, refused = None, ~typed  # refused by a check: the wrong kind of answer, the passages off the topic
    if args.off_topic_features:
        off_topic, far = fit_off_topic(args, signals, y)
        refused = refused | far
    # The highest threshold whose decision (a check, or p below it) abstains on at most the
    # allowed share of answerable questions.
    candidates = np.unique(np.concatenate([[0.0], p[y == 1]]))
    allowed = [t for t in candidates if ((refused | (p < t))[y == 1]).mean() <= args.max_false_abstain]
    threshold = float(max(allowed))
    abstained = refused | (p < threshold)
    result = {
        "features": list(features),
        "coefficients": [round(float(c), 6) for c in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 6),
        "calibration": {
            "command": " ".join(["python benchmarks/calibrate_abstention.py", *sys.argv[1:]]),
            "date": date.today().isoformat(),
            "data": data,
            "questions": int(len(y)),
            "wrong_kind_abstained_answerable": round(float((~typed)[y == 1].mean()), 4),
            "wrong_kind_abstained_unanswerable": round(float((~typed)[y == 0].mean()), 4),
            "answerable": int(y.sum()),
            "abstention_recall": round(float(abstained[y == 0].mean()), 4),
            "abstention_precision": round(float((y[abstained] == 0).mean()), 4) if abstained.any() else None,
            "answerable_abstained": round(float(abstained[y == 1].mean()), 4),
        },
    }
    if off_topic is not None:
        result["off_topic"] = off_topic
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

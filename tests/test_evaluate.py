"""Evaluation: the ranx glue against hand-worked figures, relevance by span, question-set
validation, the SQuAD and BEIR converters, and `qa eval` end to end.

Quality targets are not asserted here; the figures of the end-to-end run are printed (-s).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DATASETS, ROOT, SEEDS, FakeEmbedder

from qa import cli
from qa.config import ChunkSettings, Settings
from qa.errors import ConfigError
from qa.eval.datasets import convert_squad, load_beir, load_squad, squad_questions
from qa.eval.gold import Gold, gold_for, gold_occurrences, holds_gold, span_qrels
from qa.eval.indexes import CachingEmbedder, index_benchmark
from qa.eval.metrics import evaluate_rankings, mean
from qa.eval.outcome import abstained_by, span_outcome
from qa.eval.questions import (
    GoldSpan,
    Question,
    QuestionSetError,
    load_question_set,
    parse_question_set,
    sample_questions,
    validate_questions,
)
from qa.eval.report import write_outputs
from qa.eval.run import evaluate_beir, evaluate_spans, score_mode
from qa.indexing.faiss_store import FaissStore
from qa.indexing.indexer import update_index
from qa.ingest.corpus import Corpus, read_corpus
from qa.ingest.readers import make_article
from qa.search.answer import Abstainer
from qa.search.searcher import Searcher
from qa.types import Answer, Chunk, Hit, Result, Signals

SQUAD_ZIP = DATASETS / "squad-v1.1-dev" / "dev-v1.1.json.zip"


def chunk(article: str, n: int, start: int, end: int) -> Chunk:
    return Chunk(f"{article}#{n}", article, n, start, end, "x" * (end - start), ((start, end),))


def hit(rank: int, piece: Chunk) -> Hit:
    return Hit(rank=rank, score=1.0 / rank, chunk=piece, title=piece.article_id)


def show(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def article(article_id: str, text: str):
    return make_article(article_id, article_id, article_id, text)


# -- (a) the ranx glue, against figures worked out by hand ------------------------------------


def test_metrics_match_hand_computed_values() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1, "d": 1}, "q4": {"e": 1}}
    rankings = {"q1": ["a", "x", "y"], "q2": ["x", "y", "b"], "q3": ["x", "c", "y", "d"]}  # q4: nothing

    per = evaluate_rankings(qrels, rankings, ["hit@1", "hit@3", "mrr@10", "ndcg@10", "recall@100"])

    assert per["hit@1"] == {"q1": 1, "q2": 0, "q3": 0, "q4": 0}
    assert per["hit@3"] == {"q1": 1, "q2": 1, "q3": 1, "q4": 0}
    assert per["mrr@10"] == pytest.approx({"q1": 1, "q2": 1 / 3, "q3": 1 / 2, "q4": 0})
    assert per["ndcg@10"]["q2"] == pytest.approx(1 / math.log2(4))  # one relevant, at rank 3: 0.5
    ideal = 1 + 1 / math.log2(3)
    assert per["ndcg@10"]["q3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert per["recall@100"] == pytest.approx({"q1": 1, "q2": 1, "q3": 1, "q4": 0})
    assert mean(per["mrr@10"], ["q1", "q2"]) == pytest.approx((1 + 1 / 3) / 2)
    assert mean(per["hit@3"], ["q1", "q2", "q3", "q4"]) == pytest.approx(3 / 4)
    assert mean(per["hit@3"], []) is None


def test_ranked_order_is_kept_whatever_the_ids() -> None:
    """ranx sorts by score; 1/rank scores keep the given order (here against the id order),
    and a repeated id counts once, at its first rank."""
    per = evaluate_rankings({"q": {"a": 1}}, {"q": ["zzz-long-id", "zzz-long-id", "a"]}, ["mrr@10", "hit@1"])
    assert per["mrr@10"]["q"] == pytest.approx(1 / 2)
    assert per["hit@1"]["q"] == 0


def test_a_query_without_relevant_documents_is_refused() -> None:
    with pytest.raises(ValueError, match="no relevant document"):
        evaluate_rankings({"q": {"a": 0}}, {"q": ["a"]}, ["mrr@10"])


# -- (b) relevance by span ---------------------------------------------------------------------


def test_a_passage_must_contain_a_whole_occurrence() -> None:
    gold = [("a.txt", 20, 30)]
    assert holds_gold(("a.txt", 0, 40), gold)
    assert holds_gold(("a.txt", 20, 30), gold)  # exactly the span
    assert not holds_gold(("a.txt", 25, 60), gold)  # only part of it
    assert not holds_gold(("a.txt", 0, 29), gold)
    assert not holds_gold(("b.txt", 0, 40), gold)  # same offsets, other article


def test_a_span_without_start_stands_for_every_occurrence() -> None:
    articles = {
        "a.txt": article("a.txt", "The cat sat. Then the cat ran."),
        "b.txt": article("b.txt", "A cat."),
    }
    free = Question("q", "?", "fact", (GoldSpan("a.txt", "cat"),))
    pinned = Question("q", "?", "fact", (GoldSpan("a.txt", "cat", 22),))
    both = Question("q", "?", "fact", (GoldSpan("a.txt", "cat", 4), GoldSpan("b.txt", "cat")))

    assert gold_occurrences(free, articles) == [("a.txt", 4, 7), ("a.txt", 22, 25)]
    assert gold_occurrences(pinned, articles) == [("a.txt", 22, 25)]
    assert gold_occurrences(both, articles) == [("a.txt", 4, 7), ("b.txt", 2, 5)]
    occurrences = gold_occurrences(pinned, articles)
    assert not holds_gold(("a.txt", 0, 12), occurrences)  # holds the other "cat" only
    assert holds_gold(("a.txt", 13, 30), occurrences)


def test_every_chunk_holding_a_gold_span_is_relevant() -> None:
    """A span in the sentence two neighbouring chunks share makes both relevant; one ranked
    first and the other third gives ndcg (1 + 1/log2(4)) / (1 + 1/log2(3))."""
    articles = {"a": article("a", "x" * 60)}
    c0, c1, c2 = chunk("a", 0, 0, 20), chunk("a", 1, 15, 40), chunk("a", 2, 35, 60)
    question = Question("q", "?", "fact", (GoldSpan("a", "xxx", 16),))
    gold = gold_for(question, articles, {"a": [c0, c1, c2]})
    assert gold == Gold((("a", 16, 19),), frozenset({"a#0", "a#1"}))
    assert span_qrels({"q": gold}) == {"q": {"a#0": 1, "a#1": 1}}

    per = evaluate_rankings(
        span_qrels({"q": gold}), {"q": ["a#1", "b#0", "a#0"]}, ["hit@1", "ndcg@10", "recall@100"]
    )
    assert per["hit@1"]["q"] == 1 and per["recall@100"]["q"] == 1
    assert per["ndcg@10"]["q"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))


def test_a_span_no_chunk_holds_counts_as_a_miss() -> None:
    """A gold span across a chunk boundary: no passage can be relevant, the question scores 0."""
    articles = {"a": article("a", "x" * 60)}
    question = Question("q", "?", "fact", (GoldSpan("a", "xxxxxx", 17),))  # 17-23 crosses 0-20 | 20-40
    gold = gold_for(question, articles, {"a": [chunk("a", 0, 0, 20), chunk("a", 1, 20, 40)]})
    assert gold.relevant == frozenset()
    per = evaluate_rankings(span_qrels({"q": gold}), {"q": ["a#0", "a#1"]}, ["hit@10", "recall@100"])
    assert per == {"hit@10": {"q": 0}, "recall@100": {"q": 0}}


def test_the_answer_sentence_is_correct_when_it_contains_a_gold_span() -> None:
    question = Question("q", "?", "fact", (GoldSpan("a", "xxx", 16),))
    gold = Gold((("a", 16, 19),), frozenset({"a#1"}))
    hits = [hit(1, chunk("a", 1, 15, 40))]

    def outcome(answer: Answer | None, abstained: bool = False):
        return span_outcome(question, gold, Result("?", answer, tuple(hits), abstained), [True])

    right = outcome(Answer("s", "a#1", "a", 15, 25))
    assert right.answer_correct is True and right.first_relevant_rank == 1 and right.top1_chars == 25
    assert outcome(Answer("s", "a#1", "a", 17, 25)).answer_correct is False  # cuts the span
    assert outcome(Answer("s", "b#0", "b", 15, 25)).answer_correct is False  # other article
    assert outcome(None, abstained=True).answer_correct is False


def test_failures_and_abstention_figures() -> None:
    """Abstention: positive = abstained. Four questions, outcomes set by hand."""
    gold = Gold((("a", 0, 3),), frozenset({"a#0"}))
    hits = [hit(1, chunk("a", 0, 0, 20))]
    answerable = Question("ok", "?", "fact", (GoldSpan("a", "xxx", 0),))
    answered = Result("?", Answer("s", "a#0", "a", 0, 10), tuple(hits))
    abstained = Result("?", None, tuple(hits), abstained=True)
    outcomes = [
        span_outcome(answerable, gold, answered, [True]),
        span_outcome(Question("shy", "?", "fact", answerable.answers), gold, abstained, [True]),
        span_outcome(Question("none1", "?", "unanswerable", ()), Gold((), frozenset()), abstained, [False]),
        span_outcome(Question("none2", "?", "unanswerable", ()), Gold((), frozenset()), answered, [False]),
    ]
    qrels = span_qrels({"ok": gold, "shy": gold})
    report = score_mode("bm25", outcomes, qrels, {"ok": ["a#0"], "shy": ["a#0"]}, k=5, seconds=0.0)

    assert report.metrics["hit@1"] == 1
    assert report.metrics["answer_accuracy"] == 1 / 2
    assert report.metrics["abstain_precision"] == 1 / 2  # abstained: shy (wrong), none1 (right)
    assert report.metrics["abstain_recall"] == 1 / 2  # none1 of none1, none2
    assert report.metrics["wrongly_abstained"] == 1 / 2
    assert [o.id for o in outcomes if o.failed] == ["shy", "none2"]
    assert report.by_kind["unanswerable"]["abstained"] == 1 / 2
    assert report.by_kind["unanswerable"]["hit@1"] is None


def test_an_abstention_is_put_down_to_the_check_that_refused_or_the_model() -> None:
    def by(abstained: bool, **signals: float) -> str | None:
        measured = Signals(dense_top=0.5, sentence=0.5, coverage=0.5, agreement=1.0, **signals)
        return abstained_by(Result("?", None, (), abstained=abstained, signals=measured))

    assert by(True, unmentioned=1.0, typed=0.0) == "number not in the passages"  # the number is said first
    assert by(True, typed=0.0) == "answer type"
    assert by(True, negation=1.0) == "negation not in the answer"
    assert by(True, typed=0.0, negation=1.0) == "answer type"
    assert by(True) == "calibrated model"
    assert by(False) is None
    assert abstained_by(Result("?", None, (), abstained=True)) is None  # no passage: nothing was measured
    # the searcher's off-topic model refuses as a check does, after the checks
    off_topic = Abstainer(("reader",), (1.0,), 0.0, 0.2, Abstainer(("dense_top",), (20.0,), -6.0, 0.5))
    far = Signals(dense_top=0.1, sentence=0.1, coverage=0.0, agreement=0.0)
    assert abstained_by(Result("?", None, (), abstained=True, signals=far), off_topic) == "passages off the topic"
    assert abstained_by(Result("?", None, (), abstained=True, signals=far)) == "calibrated model"
    negated = Result("?", None, (), abstained=True, signals=replace(far, negation=1.0))
    assert abstained_by(negated, off_topic) == "negation not in the answer"


# -- (c) question sets: parsing and validation -------------------------------------------------


ARTICLES = {"a.txt": article("a.txt", "Rovers beat City 2-1. Berg scored twice for Rovers.")}


def check(lines: list[str]) -> list[Question]:
    questions = parse_question_set("\n".join(lines), "set.jsonl")
    validate_questions(questions, ARTICLES)
    return questions


def line(**record) -> str:
    return json.dumps({"id": "q1", "question": "Who won?", "kind": "fact", **record})


def test_a_valid_question_set_loads() -> None:
    questions = check(
        [
            line(answers=[{"article": "a.txt", "text": "Rovers", "start": 44}]),
            "",
            json.dumps({"id": "q2", "question": "Who lost?", "answers": [], "history": ["Who won?"]}),
        ]
    )
    assert [q.id for q in questions] == ["q1", "q2"]
    assert questions[0].answers == (GoldSpan("a.txt", "Rovers", 44),)
    assert questions[1].kind == "unanswerable" and questions[1].history == ("Who won?",)
    assert not questions[1].answerable


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [line(answers=[{"article": "a.txt", "text": "United"}])],
            r"set\.jsonl:1: answer 1 of 'q1': 'United' does not occur",
        ),
        ([line(answers=[]), '{"id": "q2", "question": '], r"set\.jsonl:2: not valid JSON"),
        (
            [line(answers=[{"article": "b.txt", "text": "Rovers"}])],
            r"set\.jsonl:1: .*'b\.txt' is not in the index",
        ),
        (
            [line(answers=[{"article": "a.txt", "text": "Rovers", "start": 3}])],
            r"'Rovers' is not at start 3 of 'a\.txt' \(it occurs at 0, 44\)",
        ),
        ([line(answers=[]), line(answers=[])], r"set\.jsonl:2: the id 'q1' is already used on line 1"),
        ([line(answers="Rovers")], r'"answers" must be a list'),
        ([line(answers=[{"article": "a.txt", "text": ""}])], r'non-empty string "text"'),
        ([line(answers=[], history="Who?")], r'"history" must be a list'),
        (["[1, 2]"], r"must be a JSON object"),
        ([""], r"holds no questions"),
    ],
)
def test_question_set_errors_name_file_line_and_problem(lines: list[str], message: str) -> None:
    with pytest.raises(QuestionSetError, match=message):
        check(lines)


def test_the_seed_question_set_validates_against_the_seed_article() -> None:
    corpus = read_corpus([SEEDS])
    questions = load_question_set(ROOT / "qa" / "data" / "seeds.jsonl", {a.id: a for a in corpus.articles})
    assert len(questions) == 69
    assert {q.kind for q in questions} == {"fact", "paraphrase", "unanswerable", "follow-up"}


def test_the_sample_is_fixed_and_keeps_question_order() -> None:
    questions = [Question(f"q{n:02d}", "?", "fact", ()) for n in range(30)]
    sample = sample_questions(questions, 10)
    assert sample == sample_questions(questions, 10)
    assert len(sample) == 10 and sample == sorted(sample, key=lambda q: q.id)
    assert sample_questions(questions, None) == questions == sample_questions(questions, 99)


# -- (d) SQuAD -------------------------------------------------------------------------------


def squad_data() -> dict:
    first, second = "Paris is the capital of France.", "The Seine flows through Paris."
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Paris",
                "paragraphs": [
                    {
                        "context": first,
                        "qas": [
                            {
                                "id": "p1",
                                "question": "Capital of France?",
                                "answers": [{"text": "Paris", "answer_start": 0}] * 2,
                            }
                        ],
                    },
                    {
                        "context": second,
                        "qas": [
                            {
                                "id": "p2",
                                "question": "What flows through Paris?",
                                "answers": [
                                    {"text": "The Seine", "answer_start": 0},
                                    {"text": "Seine", "answer_start": 4},
                                ],
                            }
                        ],
                    },
                ],
            },
            {
                "title": "Rome_City",
                "paragraphs": [
                    {
                        "context": "Rome is old.",
                        "qas": [
                            {
                                "id": "r1",
                                "question": "What is old?",
                                "answers": [{"text": "old", "answer_start": 8}],
                            }
                        ],
                    },
                ],
            },
        ],
    }


def test_squad_articles_join_paragraphs_and_keep_exact_offsets() -> None:
    squad = convert_squad(squad_data(), "tiny.json")
    paris, rome = squad.corpus.articles
    assert (paris.id, paris.title, rome.id, rome.title) == ("Paris", "Paris", "Rome_City", "Rome City")
    assert paris.text == "Paris is the capital of France.\n\nThe Seine flows through Paris."
    second = len("Paris is the capital of France.") + 2
    by_id = {q.id: q for q in squad.questions}
    assert by_id["p1"].answers == (GoldSpan("Paris", "Paris", 0),)  # duplicate answers merged
    assert by_id["p2"].answers == (
        GoldSpan("Paris", "The Seine", second),
        GoldSpan("Paris", "Seine", second + 4),
    )
    validate_questions(squad.questions, {a.id: a for a in squad.corpus.articles})
    assert [q.id for q in squad_questions(squad, "first")] == ["p1", "p2"]
    assert [q.id for q in squad_questions(squad, "last")] == ["r1"]
    assert len(squad_questions(squad, "all")) == 3


def test_squad_reads_plain_and_zipped_json_and_refuses_a_wrong_offset(tmp_path: Path) -> None:
    plain = tmp_path / "tiny.json"
    plain.write_text(json.dumps(squad_data()), encoding="utf-8")
    zipped = tmp_path / "tiny.json.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(plain, "tiny.json")
    from_plain, from_zip = load_squad(plain), load_squad(zipped)
    assert [(q.id, q.answers) for q in from_plain.questions] == [
        (q.id, q.answers) for q in from_zip.questions
    ]
    assert from_plain.corpus.articles == [
        make_article(a.id, f"tiny.json#{a.id}", a.title, a.text) for a in from_zip.corpus.articles
    ]
    broken = squad_data()
    broken["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 7
    with pytest.raises(QuestionSetError, match="question r1: the answer 'old' is not at its answer_start"):
        convert_squad(broken, "tiny.json")


@pytest.mark.skipif(not SQUAD_ZIP.is_file(), reason="the shared SQuAD dev set is not present")
def test_the_real_squad_dev_set_converts_completely() -> None:
    squad = load_squad(SQUAD_ZIP)
    assert len(squad.corpus.articles) == 48
    assert len(squad.questions) == 10570
    validate_questions(squad.questions, {a.id: a for a in squad.corpus.articles})  # every span
    assert len(squad_questions(squad, "first")) + len(squad_questions(squad, "last")) == 10570


# -- (e) BEIR, end to end with the fake embedder -----------------------------------------------


DOCS = [
    {"_id": "d1", "title": "Volcano", "text": "Volcanoes erupt molten lava and ash."},
    {"_id": "d2", "title": "Glacier", "text": "Glaciers carve valleys. Glaciers move slowly. Ice ice ice."},
    {"_id": "d3", "title": "Tundra", "text": "The tundra has permafrost and some ice."},
    {"_id": "d4", "title": "Desert", "text": "Deserts receive little rain and have dunes."},
]


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tinybeir"
    (folder / "qrels").mkdir(parents=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(doc) + "\n" for doc in DOCS)
    queries = [
        ("q1", "molten lava eruption"),
        ("q2", "glaciers and ice"),
        ("q3", "dunes and rain"),
        ("qx", "unjudged"),
    ]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries)
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq2\td4\t0\nq3\td4\t2\n"
    )
    return folder


def test_beir_loader_keeps_judged_queries_and_positive_judgements(beir_dir: Path) -> None:
    dataset = load_beir(beir_dir)
    assert list(dataset.queries) == ["q1", "q2", "q3"]
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d3": 1}, "q3": {"d4": 2}}
    assert [a.id for a in dataset.corpus.articles] == ["d1", "d2", "d3", "d4"]
    assert list(load_beir(beir_dir, queries_limit=2).queries) == ["q1", "q2"]
    with pytest.raises(QuestionSetError, match="qrels/train.tsv is missing"):
        load_beir(beir_dir, split="train")


def test_beir_end_to_end_with_the_fake_embedder(beir_dir: Path, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    embedder = FakeEmbedder()
    messages: list[str] = []
    report = evaluate_beir(settings, beir_dir, ["bm25", "dense"], embedder=embedder, notify=messages.append)

    # q1 and q3: only the relevant document shares their words; q2: d2 ("glaciers", "ice" x3)
    # outranks the relevant d3 (one "ice").
    bm25 = report.modes["bm25"]
    assert [o.first_relevant_rank for o in bm25.outcomes] == [1, 2, 1]
    assert bm25.metrics["hit@1"] == pytest.approx(2 / 3)
    assert bm25.metrics["hit@3"] == 1
    assert bm25.metrics["mrr@10"] == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert bm25.metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1) / 3)
    assert bm25.metrics["recall@100"] == 1
    assert set(report.modes["dense"].metrics) == set(bm25.metrics)
    assert report.counts == {"queries": 3, "documents": 4, "judgements": 3, "skipped_documents": 0}
    assert messages[1].startswith("Indexed 4 documents")

    calls = len(embedder.calls)
    again = evaluate_beir(settings, beir_dir, ["bm25"], embedder=embedder, notify=messages.append)
    assert again.modes["bm25"].metrics == bm25.metrics
    assert messages[4].startswith("Up to date: 4 documents")
    assert embedder.calls[calls:] == [3]  # nothing re-indexed: one batch, the 3 queries


def test_a_benchmark_never_overwrites_the_index_of_another_corpus(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", corpus=(SEEDS,))
    update_index(settings, FakeEmbedder())
    corpus = Corpus([article("d1", "Some text here.")])
    with pytest.raises(ConfigError, match="holds an index of .*seeds.*give another --index-dir"):
        index_benchmark(
            settings, corpus, tmp_path / "corpus.jsonl", FakeEmbedder(), progress=False, notify=print
        )


def test_the_caching_embedder_encodes_each_text_once() -> None:
    inner = FakeEmbedder()
    cached = CachingEmbedder(inner)
    first = cached.encode(["a b", "c d", "a b"])
    second = cached.encode(["c d", "e f"])
    assert inner.calls == [2, 1]
    assert (first[1] == second[0]).all() and (first[0] == inner.encode(["a b"])[0]).all()
    assert cached.encode([]).shape == (0, inner.dim)


# -- span questions end to end with the fake embedder (no model) --------------------------------


def test_span_evaluation_with_the_fake_embedder(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "football.txt").write_text(
        "Rovers win\n\nNorthgate Rovers beat Eastfield City on Saturday."
        " Striker Tomas Berg scored the winner.\n"
    )
    (corpus / "bank.txt").write_text(
        "Rates rise\n\nThe central bank raised interest rates to five percent.\n"
    )
    settings = Settings(
        index_dir=tmp_path / "index", corpus=(corpus,), chunking=ChunkSettings(target_tokens=48)
    )
    embedder = FakeEmbedder()
    update_index(settings, embedder)
    store = FaissStore.load(settings.index_dir)
    questions = parse_question_set(
        "\n".join(
            [
                line(
                    id="goal",
                    question="Which striker scored the winner for Rovers?",
                    answers=[{"article": "football.txt", "text": "Tomas Berg"}],
                ),
                line(
                    id="rate",
                    question="What did the central bank raise interest rates to?",
                    answers=[{"article": "bank.txt", "text": "five percent"}],
                ),
                line(id="none", question="Who sang at the opera?", kind="unanswerable", answers=[]),
            ]
        ),
        "set.jsonl",
    )
    validate_questions(questions, store.articles)
    searcher = Searcher(store, CachingEmbedder(embedder), settings.search, abstain=False)

    report = evaluate_spans(searcher, questions, ["bm25", "hybrid"], title="tiny", k=5)

    for mode in report.modes.values():
        assert mode.metrics["hit@1"] == 1 and mode.metrics["recall@100"] == 1
        assert mode.metrics["answer_accuracy"] == 1 and mode.metrics["wrongly_abstained"] == 0
    # No word of the opera question is in the corpus: bm25 finds nothing, and nothing found is an
    # abstention; hybrid still has the dense leg's passages and (never abstaining) answers.
    bm25, hybrid = report.modes["bm25"], report.modes["hybrid"]
    assert (bm25.metrics["abstain_recall"], bm25.metrics["abstain_precision"]) == (1, 1)
    assert [o.id for o in bm25.outcomes if o.failed] == [] and bm25.outcomes[2].top1_chars is None
    assert (hybrid.metrics["abstain_recall"], hybrid.metrics["abstain_precision"]) == (0, None)
    assert [o.id for o in hybrid.outcomes if o.failed] == ["none"]
    assert report.counts["answerable"] == 2 and report.counts["unanswerable"] == 1
    written = write_outputs(report, tmp_path / "out")
    assert [p.name for p in written] == [
        "results-bm25.jsonl",
        "results-hybrid.jsonl",
        "report.md",
        "hit_at_k.png",
    ]
    first = json.loads((tmp_path / "out" / "results-hybrid.jsonl").read_text().splitlines()[0])
    assert first["id"] == "none" and first["failed"] and first["expected_abstain"]


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--split", "dev"],  # no set given: the shipped one, which takes no --split
        ["eval", "x.jsonl", "--beir", "dir"],
        ["eval", "x.jsonl", "--articles", "first"],
        ["eval", "--beir", "dir", "--sample", "5"],
        ["eval", "x.jsonl", "-k", "0"],
    ],
)
def test_eval_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("qa eval: ")


def test_eval_without_a_set_scores_the_shipped_seed_questions(
    seed_index: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--index-dir", str(seed_index.index_dir), "--mode", "bm25", "--json", "--quiet"]
    assert cli.main(argv) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["questions"] == 69  # qa/data/seeds.jsonl, read from inside the package


def test_eval_reports_a_bad_question_set_before_loading_the_model(
    tmp_path: Path, seed_index: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line(answers=[{"article": "000_ae1cc4aba988a14c.txt", "text": "Nobody at all"}]) + "\n")
    assert cli.main(["eval", str(bad), "--index-dir", str(seed_index.index_dir)]) == cli.EXIT_ERROR
    assert f"{bad}:1: answer 1 of 'q1': 'Nobody at all' does not occur" in capsys.readouterr().err


# -- (f) end to end with the real model ---------------------------------------------------------


@pytest.mark.slow  # qa eval over the seed set in three modes
def test_eval_seeds_all_modes_end_to_end(
    seed_index: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        "eval",
        str(ROOT / "qa" / "data" / "seeds.jsonl"),
        "--index-dir",
        str(seed_index.index_dir),
        "--mode",
        "all",
        "--json",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)

    modes = ("hybrid", "dense", "bm25")
    metrics = (
        "hit@1",
        "hit@3",
        "hit@5",
        "hit@10",
        "mrr@10",
        "ndcg@10",
        "recall@100",
        "answer_accuracy",
        "abstain_precision",
        "abstain_recall",
        "wrongly_abstained",
        "exact",
        "f1",
        "has_ans_exact",
        "has_ans_f1",
        "no_ans_exact",
        "no_ans_f1",
        "span_predictions",
        "sentence_predictions",
        "unsure_answers",
        "unsure_right",
        "sure_answers",
        "sure_right",
        "top1_chars",
    )
    assert set(data) == {
        *modes, "by_kind", "by_question", "abstention_curve", "abstained_by", "hit_curve", "counts", "notes"
    }
    for mode in modes:
        assert set(data[mode]) == set(metrics)
        counted = ("top1_chars", "span_predictions", "sentence_predictions", "unsure_answers", "sure_answers")
        assert all(v is None or 0 <= v <= 1 for k, v in data[mode].items() if k not in counted)
        # every answer given is either unsure or not
        answered = data[mode]["span_predictions"] + data[mode]["sentence_predictions"]
        assert data[mode]["unsure_answers"] + data[mode]["sure_answers"] == answered
        # the seed set has unanswerable questions: NoAns EM is the share of them abstained on
        assert data[mode]["no_ans_exact"] == data[mode]["abstain_recall"]
        # every abstention is put down to what refused, and the counts add up to the rates
        by = data["abstained_by"][mode].values()
        assert sum(side["unanswerable"] for side in by) == round(data[mode]["abstain_recall"] * 12)
        assert sum(side["answerable"] for side in by) == round(data[mode]["wrongly_abstained"] * 57)
        assert set(data["by_question"][mode]) == {"question word", "words shared with the answer sentence"}
        curve = data["abstention_curve"][mode]["points"]
        assert curve[0] == {"threshold": None, "unanswerable_caught": 0.0, "answerable_refused": 0.0}
        assert curve[-1]["unanswerable_caught"] == 1.0 and curve[-1]["answerable_refused"] == 1.0
        assert set(data["by_kind"][mode]) == {"fact", "paraphrase", "unanswerable", "follow-up"}
        assert {"hit@1", "hit@3"} <= set(data["by_kind"][mode]["follow-up"])
        assert list(data["hit_curve"][mode]) == [
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
            "8",
            "9",
            "10",
            "20",
            "50",
            "100",
        ]
    assert data["counts"]["questions"] == 69
    assert data["counts"]["answerable"] + data["counts"]["unanswerable"] == 69
    assert any("excluded" in note for note in data["notes"])

    report_md = (out / "report.md").read_text()
    assert report_md.startswith("# qa eval: ")
    # (the first column is as wide as its longest label: "calibrated model" when the model refused)
    assert re.search(r"## What abstained\n\n\| abstained by +\| answerable hybrid \| unanswerable hybrid \|", report_md)
    assert (out / "hit_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "abstention_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for mode in modes:
        assert (out / f"abstention_curve-{mode}.csv").read_text().startswith(
            "threshold,unanswerable_caught,answerable_refused\n"
        )
        records = [json.loads(row) for row in (out / f"results-{mode}.jsonl").read_text().splitlines()]
        assert len(records) == 69
        failed = [record["failed"] for record in records]
        assert failed == sorted(failed, reverse=True)  # failures first
        assert {
            "id",
            "question",
            "kind",
            "first_relevant_rank",
            "hit@1",
            "answer",
            "answer_correct",
            "abstained",
            "expected_abstain",
            "prediction",
            "prediction_is_span",
            "exact",
            "f1",
            "question_word",
            "shared_words",
            "no_answer",
            "reason",
        } <= set(records[-1])

    # What the default mode holds today (docs/EVALUATION.md), as a guard against regressions.
    # The targets are higher and not met yet: hit@1 >= 0.95, hit@3 = 1.0, abstention
    # recall >= 0.9 at <= 5% of answerable questions wrongly abstained.
    hybrid, kinds = data["hybrid"], data["by_kind"]["hybrid"]
    assert hybrid["hit@10"] == 1.0
    assert hybrid["hit@1"] >= 0.87 and hybrid["hit@3"] >= 0.9  # 0.895 / 0.947 with reader v3
    # with reader v13 reading 10 sentences 49 of 57 (0.860: two refused); reading 8, with the model
    # that abstains from reading, 48 of 57 (0.842: three paraphrases refused); v11 and v5 reading
    # titles 50 of 57 (0.877), v5 bare 0.895, v3 0.860 (0.79 without a reader); a guard one
    # question below, as int8 exports differ a little between machines
    assert hybrid["answer_accuracy"] >= 47 / 57
    assert kinds["follow-up"]["hit@3"] == 1.0
    assert kinds["fact"]["hit@1"] >= 0.85 and kinds["fact"]["answer_accuracy"] >= 0.85
    # Abstention caught 6 of the 12 unanswerable questions until the type check stopped vetoing
    # (issue 16: it steers now), 3 with reader v2b, 5 with reader v3 at 0 of 57 answerable
    # refused, 5 with v5 (4 on another machine's int8 export), 3 with v5 reading titles, 5 with
    # v11; 6 with v13 and the model over the reader's logit, which refuses 3 of the 57 answerable
    # (precision 6 of 9), 2 of 57 reading 10 sentences, and with the answer's passage weighed
    # (docs/EVALUATION.md; the seed set is a smoke test: nothing is chosen on it but that the
    # issue's own example keeps its lede). The guard is one question below today's figures, for
    # the exports' differences.
    assert (
        hybrid["abstain_recall"] >= 5 / 12 and hybrid["abstain_precision"] >= 0.6
        and hybrid["wrongly_abstained"] <= 4 / 57
    )

    with capsys.disabled():  # the figures, for the record
        print("\nqa eval seeds, all modes:")
        print(f"  {'':18}" + "".join(f"{mode:>8}" for mode in modes))
        for name in metrics:
            print(f"  {name:18}" + "".join(f"{show(data[mode][name]):>8}" for mode in modes))
        print(f"  seconds {data['counts']['seconds']}  ranx {data['counts']['metric_seconds']}")

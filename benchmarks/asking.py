"""What the tuning and mining scripts share: a corpus indexed and asked with the shipped searcher
(re-rank, reader, abstention), the answer choice each ask made, captured as it was made, the
questions of the held-back SQuAD 2.0 tuning articles, and the question sets the abstention
scripts ask (question_sets)."""

from __future__ import annotations

from pathlib import Path

from reader_data import squad2_split

ROOT = Path(__file__).resolve().parents[1]
WRITTEN = ROOT / "benchmarks" / "data" / "squad-train-rewritten.jsonl"
WRITTEN_ROUND_2 = (1440, 1440)  # skip, take: rw-1441 to rw-2880, which no reader trained on
BBC_TUNING = (ROOT / "eval" / "bbc-tuning.jsonl", ROOT / "eval" / "bbc-tuning-2.jsonl")
BBC_BLIND = ROOT / "eval" / "bbc-blind.jsonl"
BBC_NEARMISS = ROOT / "eval" / "bbc-nearmiss.jsonl"  # report sets, like the blind one
SEED_SET = ROOT / "qa" / "data" / "seeds.jsonl"


def shipped_searcher(corpus, source: Path, index_dir: Path, *, progress: bool = False, adapter: Path | None = None):
    """(store, searcher): ``corpus`` (read from ``source``) brought up to date in ``index_dir``
    (qa eval's benchmark index) and loaded with the shipped searcher; with ``adapter``, its
    reader reads with that adapter (a candidate of benchmarks/train_reader.py) and its weights."""
    from qa.config import settings_from_env
    from qa.eval.indexes import default_embedder, index_benchmark, make_searcher
    from qa.search.reader import Reader

    settings = settings_from_env().with_(index_dir=index_dir)
    embedder = default_embedder(settings)
    store = index_benchmark(settings, corpus, source, embedder, progress=progress, notify=print)
    searcher = make_searcher(store, settings, embedder)
    if adapter is not None and searcher.reader is not None:
        searcher.reader = Reader(settings.resolved_model_dir(), settings.cache_dir, adapter)
    return store, searcher


def capture_choices() -> dict:
    """From now on, every ``Searcher.ask`` leaves in the returned dict what the answer was chosen
    from: ``sentences`` (scored, by the hits' old index), ``order`` (old index per new position)
    and ``n`` (the passages that competed)."""
    import qa.search.searcher as searcher_module
    from qa.search.answer import best_sentence

    captured: dict = {}

    def spy(sentences, order, n_passages, *rest, **options):
        captured.update(sentences=sentences, order=order, n=n_passages)
        return best_sentence(sentences, order, n_passages, *rest, **options)

    searcher_module.best_sentence = spy  # type: ignore[assignment]
    return captured


def held_back_questions(squad, sample: int | None = None, *, answerable: bool = False) -> list:
    """The questions of the five SQuAD 2.0 dev tuning-half articles that no reader trained on
    (reader_data.squad2_split), in the file's order; only the answerable ones with ``answerable``;
    a fixed sample of ``sample`` of them (qa eval's --sample)."""
    from qa.eval.questions import sample_questions

    held_back = set(squad2_split()[1])  # titles, which are the articles' ids
    return sample_questions(
        [q for q in squad.questions if squad.article_of[q.id] in held_back and (q.answerable or not answerable)],
        sample,
    )


def question_sets(indexes: dict[str, Path], *, blind: bool = False, off_topic: bool = False) -> dict[str, tuple]:
    """{set name: (the shipped searcher over its corpus, [(question, history, answerable)])} for
    the sets whose corpus ``indexes`` names: "squad2" (SQuAD 2.0 dev's held-back tuning articles,
    every question), "written" (the second round of questions written over SQuAD v1.0 train
    paragraphs, calibrate_abstention.written_calibration), "bbc" (the BBC News tuning sets, and the
    report sets, the blind set and the near-miss pairs, with ``blind``; with ``off_topic`` also
    the second half of NQ-open's questions whose answers the BBC corpus never mentions,
    calibrate_abstention.off_topic_questions), "seeds" (the seed set)."""
    from calibrate_abstention import NQ_OPEN, NQ_TUNING, off_topic_questions, written_calibration
    from reader_data import SQUAD2_DEV

    from qa.config import settings_from_env
    from qa.eval.datasets import load_squad
    from qa.eval.questions import load_question_set
    from qa.search.searcher import open_searcher

    sets: dict[str, tuple] = {}
    if "squad2" in indexes:
        squad2 = load_squad(SQUAD2_DEV)
        _, searcher = shipped_searcher(squad2.corpus, SQUAD2_DEV, indexes["squad2"])
        sets["SQuAD 2.0 held-back"] = (searcher, [(q.question, q.history, q.answerable)
                                                  for q in held_back_questions(squad2)])
    if "written" in indexes:
        corpus, written = written_calibration(WRITTEN, *WRITTEN_ROUND_2)
        _, searcher = shipped_searcher(corpus, WRITTEN, indexes["written"])
        sets["written round 2"] = (searcher, [(q.question, q.history, answerable) for q, answerable in written])
    files = [("bbc", path) for path in BBC_TUNING + ((BBC_BLIND, BBC_NEARMISS) if blind else ())]
    for corpus_name, path in files + [("seeds", SEED_SET)]:
        if corpus_name in indexes:
            searcher = open_searcher(settings_from_env().with_(index_dir=indexes[corpus_name]))
            questions = load_question_set(path, searcher.store.articles)
            sets[path.stem] = (searcher, [(q.question, q.history, q.answerable) for q in questions])
            if corpus_name == "bbc" and off_topic and "NQ-open off-topic" not in sets:
                off = off_topic_questions(NQ_OPEN, (a.text for a in searcher.store.articles.values()), NQ_TUNING)
                sets["NQ-open off-topic"] = (searcher, [(q.question, q.history, False) for q, _ in off])
    return sets

"""What the tuning and mining scripts share: a corpus indexed and asked with the shipped searcher
(re-rank, reader, abstention), the answer choice each ask made, captured as it was made, and the
questions of the held-back SQuAD 2.0 tuning articles."""

from __future__ import annotations

from pathlib import Path

from reader_data import squad2_split


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

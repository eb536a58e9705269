"""Filters inside retrieval (issue 19): a Filter resolved to the rows it keeps, each leg searching
only those rows, a selective filter still returning k passages on the flat and the IVF index,
and what the user is told when a filter keeps nothing. A fake embedder gives known rankings;
tests/test_filters_cli.py runs the real model through the CLI, the API and the chat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from corpora import write_dated_corpus

import qa.indexing.faiss_store
from qa.config import Settings
from qa.errors import ConfigError
from qa.indexing.faiss_store import FaissStore
from qa.indexing.filters import RowFilter, date_number
from qa.indexing.indexer import update_index
from qa.indexing.manifest import Manifest
from qa.search.searcher import Searcher
from qa.types import Article, Chunk, Filter


@pytest.fixture
def dated(tmp_path: Path, fake_embedder: FakeEmbedder) -> FaissStore:
    settings = Settings(index_dir=tmp_path / "index", corpus=(write_dated_corpus(tmp_path / "corpus"),))
    update_index(settings, fake_embedder)
    return FaissStore.load(settings.index_dir)


def articles_of(store: FaissStore, rows) -> list[str]:
    return sorted({store.chunks[int(row)].article_id for row in rows if row >= 0})


# -- the filter itself ------------------------------------------------------------------------------


def test_filter_of_checks_dates_and_tidies_sources() -> None:
    assert Filter.of() == Filter() and not Filter.of(" ", None, ["", "  "])
    year = Filter("2024-01-01", "2024-12-31", ("Clare Herald",))
    assert Filter.of("2024-01-01", "2024-12-31", "Clare Herald") == year
    assert Filter.of(sources=["Mayo News", " mayo news ", "Galway Daily"]).sources == ("Mayo News", "Galway Daily")
    for since, until, fragment in (
        ("07/03/2024", None, "since date '07/03/2024' is not a date written YYYY-MM-DD"),
        (None, "2024-02-30", "until date '2024-02-30' is not a date"),
        ("2024-03-07T10:00", None, "'2024-03-07T10:00' is not a date written YYYY-MM-DD"),
        ("2024-05-01", "2024-04-30", "since 2024-05-01 is after until 2024-04-30"),
    ):
        with pytest.raises(ValueError, match=fragment):
            Filter.of(since, until)


def test_filter_keeps_by_date_and_source() -> None:
    year = Filter.of("2024-01-01", "2024-12-31")
    assert year.keeps("2024-01-01", None) and year.keeps("2024-12-31T23:59:00Z", "x")
    assert not year.keeps("2023-12-31", None) and not year.keeps(None, "x") and not year.keeps("soon", "x")
    clare = Filter.of(sources="clare HERALD")
    assert clare.keeps(None, "Clare Herald")
    assert not clare.keeps("2024-01-01", "Mayo News") and not clare.keeps(None, None)
    assert Filter().keeps(None, None)
    assert date_number("2024-03-07") == 20240307 and date_number(None) == date_number("March 2024") == -1


# -- resolving a filter to rows ---------------------------------------------------------------------


def test_a_filter_resolves_to_the_rows_of_the_articles_it_keeps(dated: FaissStore) -> None:
    kept = lambda **options: articles_of(dated, dated.kept_rows(Filter.of(**options)))  # noqa: E731
    assert kept(since="2024-01-01") == ["clare-bridge", "clare-chess", "mayo-bridge"]
    assert kept(until="2023-12-31") == ["galway-bridge", "galway-harvest"]  # the undated article fails a date bound
    assert kept(sources="CLARE HERALD") == ["clare-bridge", "clare-chess"]  # "Clare Herald" and "clare herald"
    assert kept(sources="Mayo News") == ["mayo-bridge", "undated-ferry"]
    assert kept(since="2024-01-01", sources=["Mayo News", "Galway Daily"]) == ["mayo-bridge"]
    assert kept(since="2024-03-07", until="2024-03-07") == ["clare-bridge"]
    assert kept(sources="Kerry Post") == [] and kept(since="2025-01-01") == []
    assert dated.kept_rows(Filter()) is None
    assert dated.row_filter.source_names() == ["Clare Herald", "Galway Daily", "Mayo News"]
    rows = dated.kept_rows(Filter.of(sources="Mayo News"))
    assert dated.kept_rows(Filter.of(sources="mayo news ")) is rows  # cached per filter
    assert not rows.flags.writeable


def test_what_the_user_is_told_about_sources_and_empty_filters(dated: FaissStore) -> None:
    rows = dated.row_filter
    assert rows.notice(Filter.of(sources="Mayo News")) is None
    assert rows.notice(Filter.of(sources=["Mayo News", "Kerry Post"])) == (
        "No article from Kerry Post in the corpus (its sources: Clare Herald, Galway Daily, Mayo News)."
    )
    assert rows.empty_notice(Filter.of(sources="Kerry Post")).startswith("No article from Kerry Post in the corpus")
    assert rows.empty_notice(Filter.of("2025-01-01", sources="Mayo News")) == (
        "No article matches the filter (from Mayo News, dated 2025-01-01 or later): widen the dates or pick"
        " other sources."
    )


# -- each leg ---------------------------------------------------------------------------------------


def test_keyword_leg_scores_only_the_kept_rows(dated: FaissStore) -> None:
    query = "bridge repairs cost"
    _, everywhere = dated.search_keyword(query, 10)
    assert articles_of(dated, everywhere) == ["clare-bridge", "galway-bridge", "mayo-bridge", "undated-ferry"]
    scores, rows = dated.search_keyword(query, 10, Filter.of(sources="Galway Daily"))
    assert articles_of(dated, rows) == ["galway-bridge"]  # the harvest story holds none of the words
    full = dated.keyword.scores(query)
    assert scores.tolist() == pytest.approx(full[rows].tolist())  # the kept rows keep their own score
    assert len(dated.search_keyword(query, 10, Filter.of(since="2025-01-01"))[1]) == 0


def test_dense_leg_searches_only_the_kept_rows(dated: FaissStore, fake_embedder: FakeEmbedder) -> None:
    vector = fake_embedder.encode(["bridge repairs cost"])
    where = Filter.of(since="2024-01-01")
    scores, rows = dated.search(vector, 10, where)
    assert rows.shape == (1, 3) and articles_of(dated, rows[0]) == ["clare-bridge", "clare-chess", "mayo-bridge"]
    kept = dated.kept_rows(where)
    exact = dated.vectors()[kept] @ vector[0]
    assert scores[0].tolist() == pytest.approx(sorted(exact.tolist(), reverse=True), abs=1e-6)
    assert dated.search(vector, 10, Filter.of(sources="Kerry Post"))[1].shape == (1, 0)


# -- a 1 % filter still returns k, on the flat and the IVF index ----------------------------------------


RARE = "Rare Wire"  # one article in a hundred


def synthetic_store(n: int, index_type: str, embedder: FakeEmbedder) -> FaissStore:
    """n one-chunk articles; every hundredth (i % 100 == 7) from RARE, the rest from three
    outlets in turn, dated over 2023-2024 (every tenth undated)."""
    outlets = ("Galway Daily", "Clare Herald", "Mayo News")
    articles, chunks = [], []
    for i in range(n):
        text = f"Story {i} about topic {i % 50} and the harbour, the council, item {i % 7}."
        date = None if i % 10 == 3 else f"{2023 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        source = RARE if i % 100 == 7 else outlets[i % 3]
        articles.append(Article(id=f"a{i:05d}", title="", text=text, sha256=str(i), date=date, source=source))
        chunks.append(Chunk(id=f"a{i:05d}#0", article_id=f"a{i:05d}", n=0, start=0, end=len(text), text=text,
                            sentences=((0, len(text)),)))
    vectors = embedder.encode([chunk.text for chunk in chunks])
    manifest = Manifest(model=embedder.name, model_fingerprint=embedder.fingerprint, dim=embedder.dim, chunking={})
    ids = np.arange(5000, 5000 + n, dtype=np.int64)  # ids are not rows
    return FaissStore.build(manifest, articles, chunks, ids, vectors, np.asarray(vectors, np.float16),
                            index_type=index_type)


@pytest.mark.parametrize(("n", "index_type"), [(2_000, "flat"), (4_000, "ivf-sq8")])
def test_a_one_percent_filter_returns_k_passages(n: int, index_type: str, fake_embedder: FakeEmbedder) -> None:
    store = synthetic_store(n, index_type, fake_embedder)
    assert store.manifest.index_type == index_type
    where = Filter.of(sources=RARE)
    kept = store.kept_rows(where)
    assert len(kept) == n // 100
    vector = fake_embedder.encode(["story about topic 12 and the harbour"])
    scores, rows = store.search(vector, 10, where)
    exact = store.vectors()[kept] @ vector[0]
    assert (rows[0] >= 0).all() and set(rows[0].tolist()) <= set(kept.tolist())  # ten, all kept
    assert scores[0].tolist() == pytest.approx(sorted(exact.tolist(), reverse=True)[:10], abs=1e-5)  # the ten best
    hits = Searcher(store, fake_embedder, abstain=False).search("story about topic 12 and the harbour", 10, source=RARE)
    assert len(hits) == 10 and {hit.source for hit in hits} == {RARE}


def test_ivf_with_a_broad_filter_uses_the_selector_and_finds_k(fake_embedder, monkeypatch) -> None:
    store = synthetic_store(4_000, "ivf-sq8", fake_embedder)
    where = Filter.of(since="2024-01-01")  # half the dated articles
    used = []
    search = store._faiss_search
    monkeypatch.setattr(store, "_faiss_search", lambda q, k, params=None: used.append(params) or search(q, k, params))
    vector = fake_embedder.encode(["story about topic 12 and the harbour"])
    _, rows = store.search(vector, 10, where)
    assert used and used[0] is not None  # the ID selector, not the exact product
    assert (rows[0] >= 0).all() and set(rows[0].tolist()) <= set(store.kept_rows(where).tolist())
    # and with the ratio that picks the exact product, the same rows come back (exact scores agree)
    monkeypatch.setattr(qa.indexing.faiss_store, "FILTER_SELECTOR_MARGIN", 10**9)
    used.clear()
    _, exact_rows = store.search(vector, 10, where)
    assert not used and len(set(exact_rows[0].tolist()) & set(rows[0].tolist())) >= 8


def test_filtered_search_after_loading_from_disk(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    store = synthetic_store(4_000, "ivf-sq8", fake_embedder)
    store.save(tmp_path / "index")
    loaded = FaissStore.load(tmp_path / "index")
    vector = fake_embedder.encode(["topic 3"])
    where = Filter.of(sources=RARE, until="2023-12-31")
    assert loaded.kept_rows(where).tolist() == store.kept_rows(where).tolist()
    assert loaded.search(vector, 10, where)[1].tolist() == store.search(vector, 10, where)[1].tolist()


# -- the searcher ---------------------------------------------------------------------------------------


def test_searcher_answers_only_from_the_kept_articles(dated: FaissStore, fake_embedder: FakeEmbedder) -> None:
    searcher = Searcher(dated, fake_embedder, abstain=False)
    question = "How much did the bridge repairs cost?"
    for options, allowed in (
        ({"source": "Clare Herald"}, {"clare-bridge", "clare-chess"}),
        ({"until": "2023-12-31"}, {"galway-bridge", "galway-harvest"}),
        ({"since": "2024-06-01", "source": ["Mayo News", "clare herald"]}, {"mayo-bridge", "clare-chess"}),
    ):
        result = searcher.ask(question, 5, **options)
        assert {hit.chunk.article_id for hit in result.hits} <= allowed and result.hits
        assert result.answer is not None and result.answer.article_id in allowed
        assert result.notice is None
    hit = searcher.ask(question, 5, source="Clare Herald").hits[0]
    assert (hit.date, hit.source, hit.url) == ("2024-03-07", "Clare Herald", "https://clare.example/bridge")


def test_a_filter_that_keeps_nothing_abstains_and_says_why(dated: FaissStore, fake_embedder: FakeEmbedder) -> None:
    searcher = Searcher(dated, fake_embedder, abstain=False)
    result = searcher.ask("How much did the bridge repairs cost?", 5, since="2030-01-01")
    assert result.abstained and result.answer is None and result.hits == ()
    assert result.notice and "No article matches the filter (dated 2030-01-01 or later)" in result.notice
    assert result.to_dict()["notice"] == result.notice
    unknown = searcher.ask("How much did the bridge repairs cost?", 5, source=["Kerry Post", "Mayo News"])
    assert unknown.hits and unknown.notice and unknown.notice.startswith("No article from Kerry Post")
    with pytest.raises(ConfigError, match="until date '2024-13-01'"):
        searcher.ask("anything", 5, until="2024-13-01")
    with pytest.raises(ConfigError, match="not both"):
        searcher.ask("anything", 5, since="2024-01-01", where=Filter.of("2024-01-01"))


def test_row_filter_of_reads_each_article_once() -> None:
    read = []

    def articles():
        for i, (date, source) in enumerate([("2024-01-05", "A"), (None, "a"), ("bad", None)]):
            read.append(i)
            yield Article(id=str(i), title="", text="", sha256="", date=date, source=source)

    rows = RowFilter.of(articles(), np.array([0, 0, 1, 2]))  # article 0 has two chunks
    assert read == [0, 1, 2]
    assert rows.rows(Filter.of(sources="A")).tolist() == [0, 1, 2]
    assert rows.rows(Filter.of(since="2024-01-01")).tolist() == [0, 1]
    assert rows.source_names() == ["A"]


@pytest.mark.scaleout  # Milvus Lite: `make test` runs it, `make check` does not
def test_milvus_store_filters_inside_each_leg(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from qa.indexing.milvus_store import disconnect, filter_expression
    from qa.indexing.stores import open_store, parse_store

    store_uri = f"milvus://{tmp_path}/filters.db"
    settings = Settings(index_dir=tmp_path / "index", corpus=(write_dated_corpus(tmp_path / "corpus"),),
                        store=store_uri)
    update_index(settings, fake_embedder)
    try:
        milvus = open_store(settings.index_dir)
        vector = fake_embedder.encode(["bridge repairs cost"])
        query = "bridge repairs cost"
        year = Filter.of("2024-01-01", "2024-12-31")
        assert filter_expression(year) == "date >= 0 and date >= 20240101 and date <= 20241231"
        assert filter_expression(Filter.of(sources=["Mayo News", "mayo NEWS", "Clare Herald"])) == (
            'source in ["clare herald", "mayo news"]'
        )
        _, rows = milvus.search(vector, 10, year)
        assert articles_of(milvus, rows[0]) == ["clare-bridge", "clare-chess", "mayo-bridge"]
        _, rows = milvus.search(vector, 10, Filter.of(until="2023-12-31"))  # the undated one is left out
        assert articles_of(milvus, rows[0]) == ["galway-bridge", "galway-harvest"]
        _, rows = milvus.search_keyword(query, 10, Filter.of(sources="CLARE herald"))
        assert articles_of(milvus, rows) == ["clare-bridge"]  # the chess story holds none of the words
        _, rows = milvus.search_keyword(query, 10, Filter.of(sources="Mayo News"))
        assert articles_of(milvus, rows) == ["mayo-bridge", "undated-ferry"]
        for ranker in ("rrf", "weighted"):
            _, rows = milvus.search_hybrid(vector[0], query, 10, ranker=ranker, where=Filter.of(sources="Galway Daily"))
            assert articles_of(milvus, rows) == ["galway-bridge", "galway-harvest"]
        assert milvus.search(vector, 10, Filter.of(since="2030-01-01"))[1].shape == (1, 0)
        result = Searcher(milvus, fake_embedder, abstain=False).ask(query, 3, source="Mayo News", since="2024-01-01")
        assert {hit.chunk.article_id for hit in result.hits} == {"mayo-bridge"}
    finally:
        disconnect(parse_store(store_uri))


@pytest.mark.scaleout  # Milvus Lite
def test_milvus_collection_from_before_filters_says_to_rebuild_then_gains_the_fields(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    import qa.indexing.milvus_store as milvus_store
    from qa.errors import IndexMismatchError
    from qa.indexing.stores import open_store, parse_store

    create, entity = milvus_store.create_collection, milvus_store.entity

    def old_create(client, collection: str, dim: int) -> None:  # the schema before issue 19
        create(client, collection, dim)
        client.drop_collection(collection)
        schema = client.create_schema(auto_id=False)
        from pymilvus import DataType, Function, FunctionType

        schema.add_field("id", DataType.INT64, is_primary=True)
        for name in ("chunk_id", "article_id", "text"):
            schema.add_field(name, DataType.VARCHAR, max_length=milvus_store.MAX_VARCHAR)
        for name in ("n", "start", "end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("terms", DataType.VARCHAR, max_length=milvus_store.MAX_VARCHAR, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                     output_field_names=["sparse"]))
        indexes = client.prepare_index_params()
        indexes.add_index("dense", index_type="FLAT", metric_type="IP")
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=milvus_store.BM25)
        client.create_collection(collection, schema=schema, index_params=indexes, consistency_level="Strong")

    def old_entity(*args):
        record = entity(*args)
        del record["date"], record["source"]
        return record

    corpus = write_dated_corpus(tmp_path / "corpus")
    store_uri = f"milvus://{tmp_path}/old.db"
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,), store=store_uri)
    monkeypatch.setattr(milvus_store, "create_collection", old_create)
    monkeypatch.setattr(milvus_store, "entity", old_entity)
    update_index(settings, fake_embedder)
    monkeypatch.undo()
    try:
        old = open_store(settings.index_dir)
        vector = fake_embedder.encode(["bridge repairs cost"])
        assert len(old.search(vector, 10)[1][0]) == 6  # unfiltered questions work as before
        with pytest.raises(IndexMismatchError, match="written before filters existed.*qa index --rebuild"):
            old.search(vector, 10, Filter.of(sources="Mayo News"))
        (corpus / "more.jsonl").write_text('{"id": "kerry-fair", "title": "Fair", "text": "The fair opened.",'
                                           ' "date": "2024-08-01", "source": "Kerry Post"}\n')
        report = update_index(settings, fake_embedder)
        assert report.embedded == 1  # only the new article: the others' vectors are moved, not re-embedded
        new = open_store(settings.index_dir)
        _, rows = new.search(vector, 10, Filter.of(sources=["Mayo News", "kerry post"]))
        assert articles_of(new, rows[0]) == ["kerry-fair", "mayo-bridge", "undated-ferry"]
    finally:
        milvus_store.disconnect(parse_store(store_uri))

"""The store boundary: what searching needs from an index, and which backend holds it.

Two backends satisfy :class:`Store`: :class:`qa.indexing.faiss_store.FaissStore` (the default: FAISS and
bm25s files in the index directory) and :class:`qa.indexing.milvus_store.MilvusStore` (chunks, vectors
and BM25 in Milvus; the index directory keeps the manifest that points at it). The manifest's
``store`` field says which; :func:`open_store` reads it, so ``qa ask``, ``qa eval``, ``qa serve``
and the chat never need to be told. pymilvus is imported only when a manifest names Milvus.

A store spec, as given to ``qa index --store``: ``faiss`` (the default), ``milvus://PATH.db``
(Milvus Lite, embedded, one local file) or ``milvus://HOST:PORT`` (a Milvus server or cluster,
without authentication); either Milvus form takes ``?collection=NAME`` (default ``qa_chunks``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from qa.errors import ConfigError
from qa.indexing.faiss_store import FaissStore
from qa.indexing.manifest import read_manifest
from qa.indexing.protocol import Store, StoreUpdate

DEFAULT_COLLECTION = "qa_chunks"


def parse_store(spec: str | None) -> dict[str, str]:
    """A store spec as recorded in the manifest: ``{}`` for FAISS, else ``kind``, ``uri`` and
    ``collection``. A Milvus Lite path is made absolute, so the manifest works from any folder."""
    if spec is None or spec in ("", "faiss"):
        return {}
    if not spec.startswith("milvus://"):
        raise ConfigError(
            f"unknown store {spec!r}: use faiss, milvus://PATH.db (Milvus Lite) or milvus://HOST:PORT"
        )
    rest, _, query = spec.removeprefix("milvus://").partition("?")
    collection = parse_qs(query).get("collection", [DEFAULT_COLLECTION])[0]
    if not collection.replace("_", "").isalnum() or not collection[0].isalpha():
        raise ConfigError(f"collection name {collection!r}: use letters, digits and _, starting with a letter")
    if not rest:
        raise ConfigError("--store milvus:// needs a file (milvus://index.db) or a server (milvus://HOST:PORT)")
    if rest.endswith(".db"):
        return {"kind": "milvus", "uri": str(Path(rest).expanduser().resolve()), "collection": collection}
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or "/" in host:
        raise ConfigError(f"{spec!r}: a Milvus server is milvus://HOST:PORT, a Milvus Lite file ends in .db")
    return {"kind": "milvus", "uri": f"http://{host}:{port}", "collection": collection}


def describe(record: dict[str, str]) -> str:
    """A store record in words, for `qa info` and messages."""
    if not record:
        return "FAISS + bm25s (in the index directory)"
    return f"Milvus at {record['uri']}, collection {record['collection']}"


def open_store(index_dir: Path) -> Store:
    """Load the index in ``index_dir`` from whichever store its manifest names."""
    manifest = read_manifest(index_dir)
    if manifest.store.get("kind") == "milvus":
        from qa.indexing.milvus_store import MilvusStore

        return MilvusStore.load(index_dir)
    return FaissStore.load(index_dir)


def write_store(index_dir: Path, update: StoreUpdate, previous: Store | None) -> Store:
    """Write the index to the store its manifest names, reusing what ``previous`` holds."""
    if update.manifest.store.get("kind") == "milvus":
        from qa.indexing.milvus_store import MilvusStore

        return MilvusStore.write(index_dir, update, previous)
    store = FaissStore.build(
        update.manifest, update.articles, update.chunks, update.ids, update.all_vectors(previous),
        update.all_sentences(previous),
    )
    store.save(index_dir)
    return store

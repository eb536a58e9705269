"""Chunks and vectors on disk: manifest, generations and lock, tables, BM25, the FAISS and Milvus
stores, the indexer and its engines.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""

"""Files to articles and articles to chunks: format readers, the corpus walk, chunking.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""

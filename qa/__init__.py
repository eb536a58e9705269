"""qa: answers to questions about a folder of news articles, taken verbatim from the articles.

The public API. Importing it loads no model and no heavy library; the pipeline stages are
the packages text → ingest → embed → index → search, and ``cli``, ``web`` and ``eval`` are shells
around them (docs/ARCHITECTURE.md).
"""

from qa.config import ChunkSettings, Settings
from qa.errors import IndexLockedError, IndexMismatchError, IndexMissingError, QAError
from qa.types import Answer, Article, Chunk, Hit, Result

__version__ = "0.1.0"

__all__ = [
    "Answer", "Article", "Chunk", "ChunkSettings", "Hit", "IndexLockedError", "IndexMismatchError",
    "IndexMissingError", "QAError", "Result", "Settings", "__version__",
]

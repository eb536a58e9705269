"""qa: answers to questions about a folder of news articles, taken verbatim from the articles.

The public API::

    import qa
    qa.index(["articles/"], index_dir="my-index")        # -> IndexReport
    result = qa.open("my-index").ask("Who visited Karachi?")  # -> Result
    result.to_dict()                                      # what `qa ask --json` prints

Importing it loads no model and no heavy library: ``index``, ``open`` and the classes behind
them are imported on first use. The pipeline stages are the packages text → ingest → embed →
indexing → search, and ``cli``, ``web`` and ``eval`` are shells around them
(docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from qa.config import ChunkSettings, Settings
from qa.errors import ConfigError, IndexLockedError, IndexMismatchError, IndexMissingError, QAError
from qa.types import Answer, Article, Chunk, Filter, Hit, Result

if TYPE_CHECKING:  # "as": re-exported, for type checkers that want it said
    from qa.api import index as index
    from qa.api import open as open
    from qa.indexing.indexer import IndexReport as IndexReport
    from qa.search.searcher import Searcher as Searcher

__version__ = "0.1.0"

# name -> the module it comes from, imported when the name is first used
_LAZY = {
    "index": "qa.api", "open": "qa.api", "IndexReport": "qa.indexing.indexer", "Searcher": "qa.search.searcher",
}

# `open` is left out so that `from qa import *` never hides the builtin; use qa.open
__all__ = [
    "Answer", "Article", "Chunk", "ChunkSettings", "ConfigError", "Filter", "Hit", "IndexLockedError",
    "IndexMismatchError", "IndexMissingError", "IndexReport", "QAError", "Result", "Searcher", "Settings",
    "__version__", "index",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

"""One exception family. Every message names the thing at fault and says what to do."""


class QAError(Exception):
    """Base class of every error qa raises on purpose."""


class IndexMissingError(QAError):
    """There is no index where one was expected."""


class IndexMismatchError(QAError):
    """The index on disk is damaged, or was built with other settings than the current ones.

    ``reason`` says what is wrong; with ``rebuild`` (the index directory) the message also says
    how to build it again, which a caller that rebuilds by itself can leave out."""

    def __init__(self, reason: str, *, rebuild: object = None) -> None:
        self.reason = reason
        super().__init__(reason if rebuild is None else f"{reason}: {rebuild_hint(rebuild)}")


def rebuild_hint(index_dir: object) -> str:
    """How to build the index in ``index_dir`` again."""
    return f"run `qa index --rebuild --index-dir {index_dir}` to build it again"


class IndexLockedError(QAError):
    """Another process is writing the index."""


class ConfigError(QAError):
    """A setting has a value qa cannot use."""

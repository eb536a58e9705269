"""One exception family. Every message names the thing at fault and says what to do."""


class QAError(Exception):
    """Base class of every error qa raises on purpose."""


class IndexMissingError(QAError):
    """There is no index where one was expected."""


class IndexMismatchError(QAError):
    """The index on disk is damaged, or was built with other settings than the current ones."""


class IndexLockedError(QAError):
    """Another process is writing the index."""


class ConfigError(QAError):
    """A setting has a value qa cannot use."""

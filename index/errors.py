"""Domain exceptions; the CLI, API and UI translate them into messages and exit codes."""

from __future__ import annotations


class NewsdeskError(Exception):
    """Base class for every error Newsdesk reports to a user."""


class InputError(NewsdeskError):
    """A file or record cannot be read as an article (bad JSON, wrong field type, ...)."""

    def __init__(self, origin: str, message: str) -> None:
        super().__init__(f"{origin}: {message}")
        self.origin = origin
        self.reason = message


class MissingPathError(NewsdeskError):
    """A path named on the command line does not exist."""


class IndexStateError(NewsdeskError):
    """The index directory cannot be used: missing, damaged, newer format or other model."""


class IndexLockedError(NewsdeskError):
    """Another process is writing to the same index."""


class DiskFullError(IndexStateError):
    """A write ran out of disk space; nothing was published and the live version still serves."""

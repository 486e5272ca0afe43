"""Exceptions raised by drgsim.

Every exception derives from :class:`DrgsimError`; the ones about bad values also derive from
:class:`ValueError`, so ``except ValueError`` keeps working for callers that expect it.
A problem with one case is never an exception: it is a ``status`` and a ``message`` on that row.
"""

from __future__ import annotations


class DrgsimError(Exception):
    """Base class of all drgsim errors."""


class TableError(DrgsimError, ValueError):
    """A table set is malformed.

    Attributes
    ----------
    problems : list of (file, line, message)
        Every problem found, when the set was checked as a whole.
    """

    problems: list[tuple[str, int, str]]

    def __init__(self, message: str, problems: list[tuple[str, int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class TableNotFoundError(DrgsimError, LookupError):
    """No table set of that name or path exists."""


class TableImportError(TableError):
    """A source table could not be translated into the project's format."""


class InputError(DrgsimError, ValueError):
    """An input frame or file is unusable (a missing or mistyped column, an unreadable file)."""


class ColumnError(InputError, KeyError):
    """A required column is missing or has the wrong type.

    Attributes
    ----------
    column : str
        The canonical column concerned.
    """

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


__all__ = [
    "ColumnError",
    "DrgsimError",
    "InputError",
    "TableError",
    "TableImportError",
    "TableNotFoundError",
]

"""The one place a domain error becomes a one-line message and an exit code: 1 for a problem with
the data or the index, 2 for a usage problem or a missing path, 130 for an interrupt."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from index.errors import MissingPathError, NewsdeskError

F = TypeVar("F", bound=Callable[..., Any])
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    # Escaped: a message holding brackets ("pip install 'newsdesk[scale]'") is not rich markup. No
    # click.style here: it appends a reset code ("\x1b[0m") that rich passes on to a pipe or a log file;
    # rich alone decides on colour (none when stderr is not a terminal, or when NO_COLOR is set).
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    sys.exit(code)


def reports_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MissingPathError as error:
            _fail(str(error), 2)
        except (NewsdeskError, ValueError) as error:
            _fail(str(error), 1)
        except KeyboardInterrupt:
            _fail("interrupted; the index is unchanged unless a write had completed", 130)

    return wrapper  # type: ignore[return-value]

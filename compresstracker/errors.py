"""Exception and warning types. The CLI turns every CTrackError into a one-line message and exit code 2,
and every CTrackWarning into one ``warning: ...`` line on stderr."""
from __future__ import annotations

import difflib
import sys
import warnings
from typing import Iterable


class CTrackError(Exception):
    """Base class: a problem the user can fix (bad input, wrong file, missing data)."""


class CheckpointError(CTrackError):
    """A checkpoint file is missing, unreadable, unsafe or does not fit the model."""


class ConfigError(CTrackError):
    """A model config, recipe or override is invalid."""


class DatasetError(CTrackError):
    """A dataset root, layout, split or annotation file is wrong."""


class ResultsError(CTrackError):
    """A results file is malformed or does not match its ground truth."""


class TrackingError(CTrackError):
    """Tracking cannot proceed (bad frames, bad initial box)."""


class CTrackWarning(UserWarning):
    """Something the user should know that does not stop the work (printed as one line)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``choices`` to a mistyped ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class GuessedConfigWarning(CTrackWarning):
    """A checkpoint's model config was partly inferred rather than read from the file."""


def print_warnings_on_one_line() -> None:
    """Show each distinct CTrackWarning once as ``warning: <message>`` on stderr; other warnings as Python does.

    Call inside ``warnings.catch_warnings()`` to keep the change local.
    """
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, CTrackWarning):
            print(f"warning: {message}", file=sys.stderr if file is None else file)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("once", CTrackWarning)

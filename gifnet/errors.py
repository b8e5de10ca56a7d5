"""The one exception type users see.

Every error caused by the user's input (a bad file, mismatched sizes, an unwritable output, ...) is raised as a
`GifnetError` whose message says *which* input, *what* is wrong and *what to do*. The CLI and the demo print that
message on one line instead of a traceback; library users can catch it like any `ValueError`.
"""
from __future__ import annotations


class GifnetError(ValueError):
    """A problem with the user's input or environment, with an actionable message. `param`: the library parameter
    at fault, when there is one (e.g. "crop"); the CLI names its own flag for it (`--crop`)."""

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the CLI's SIGTERM/SIGHUP handlers (`gifnet.cli.main`), so a terminated command
    unwinds exactly like Ctrl-C: temp files are removed, a checkpoint is written, and it exits with 128 + `signum`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

"""The one exception type users see.

Every error caused by the user's input (a bad file, mismatched sizes, an unwritable output, ...) is raised as a
`GifnetError` whose message says *which* input, *what* is wrong and *what to do*. The CLI and the demo print that
message on one line instead of a traceback; library users can catch it like any `ValueError`.
"""


class GifnetError(ValueError):
    """A problem with the user's input or environment, with an actionable message."""

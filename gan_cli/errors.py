"""The one exception type that the command-line tools turn into a one-line error."""


class UserError(Exception):
    """A problem with the user's input: config, data, checkpoint or output folder.

    The message names the problem and the fix. Entry points print it on one line and exit non-zero,
    with no traceback.
    """


def describe_os_error(error: OSError) -> str:
    """An OSError as ``path: reason``, the way a person reads it."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason

"""The one exception type that the command-line tools turn into a one-line error."""


class UserError(Exception):
    """A problem with the user's input: config, data, checkpoint or output folder.

    The message names the problem and the fix. Entry points print it on one line and exit non-zero,
    with no traceback.
    """

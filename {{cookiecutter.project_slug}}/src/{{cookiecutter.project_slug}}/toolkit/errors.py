"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """A bad config, a dirty repository, missing data: something the user can fix.

    run.py prints the message and exits non-zero instead of showing a traceback.
    Any other exception is a bug and keeps its traceback.
    """

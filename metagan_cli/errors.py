"""Errors caused by the user's input: printed as one line, exit status 2, no traceback."""


class UserError(Exception):
    """Something the user gave (a path, a value, a run dir) is wrong; the message says
    what and how to fix it."""

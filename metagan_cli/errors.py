"""Errors caused by the user's input, or that the user must act on: printed as one
line, no traceback."""


class UserError(Exception):
    """Something the user gave (a path, a value, a run dir) is wrong; the message says
    what and how to fix it.  Exit status 2."""
    exit_status = 2


class TrainingDiverged(UserError):
    """Training produced NaN or inf; the message names the step and the last good
    checkpoint.  Exit status 3."""
    exit_status = 3

"""Errors caused by the user's input, or that the user must act on: printed as one
line, no traceback."""
import sys

USAGE_ERROR = 2


class UserError(Exception):
    """Something the user gave (a path, a value, a run dir) is wrong; the message says
    what and how to fix it.  Exit status 2."""
    exit_status = 2


class TrainingDiverged(UserError):
    """Training produced NaN or inf; the message names the step and the last good
    checkpoint.  Exit status 3."""
    exit_status = 3


class WriteFailed(UserError):
    """The file system refused a write (full disk, quota, read-only or unwritable run
    dir); the message names what was kept.  Exit status 4."""
    exit_status = 4


def report_user_error(message: str, status: int = USAGE_ERROR) -> None:
    """Prints ``metagan <command>: error: <message>`` and exits with ``status`` (2)."""
    print(f"{sys.argv[0]}: error: {message}", file=sys.stderr)
    sys.exit(status)

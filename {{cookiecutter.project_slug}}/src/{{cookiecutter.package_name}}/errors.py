"""Errors that mean "the input is wrong", as opposed to bugs.

Every stage raises `UserError` for bad data, bad config or bad arguments. The CLI turns it
into a single line on stderr and exit code 2, so users see what to fix, never a traceback.
"""


class UserError(Exception):
    """Bad input: the message names what is wrong and how to fix it."""


class GateFailedError(UserError):
    """A quality gate (validation, evaluation, parity) refused the artifact."""

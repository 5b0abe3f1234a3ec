"""Errors a user can fix. Commands print their message in one line, without a traceback."""


class InputError(ValueError):
    """Input data is malformed or insufficient; the message names where (file, line, row) and the fix."""

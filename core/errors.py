"""The one error type for user mistakes: shown as a single line (CLI exit status 2, TUI inline)."""


class UserError(Exception):
    """Bad input from the user: a config value, a file, an id. The message is the whole story."""

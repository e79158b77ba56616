"""Exit statuses of every `relulab` command (docs/cli.md); long commands end with one of these."""

COMPLETED = 0  # the command did what was asked (a run reached its last step)
USER_ERROR = 2  # bad input: one `relulab: ...` line on stderr, nothing run or recorded
DIVERGED = 3  # the loss stopped being finite; what was kept is reported and recorded
NOT_CONNECTED = 3  # relulab connect: no path found below the level (budget spent, or a gap of H(c))
INTERRUPTED = 130  # Ctrl-C (SIGINT): stopped early, what ran so far is kept

FAILED = 1  # a fault that is not the user's: the session ends `failed` with the reason

BY_STATUS = {"completed": COMPLETED, "diverged": DIVERGED, "interrupted": INTERRUPTED}


def for_status(status: str) -> int:
    """The exit status of a run or experiment that ended with session status `status`."""
    return BY_STATUS.get(status, FAILED)

"""Is the process recording a session still alive? How a killed run comes to read `interrupted`.

A writer stamps its session with host name, pid and a process token (Linux: boot id + the
process's start time, so a recycled pid or a reboot is not mistaken for the writer), and
refreshes a heartbeat every few seconds. A reader on the same host asks the kernel; a reader on
another host (a store on a shared disk, or copied mid-run) can only trust the heartbeat.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache
from pathlib import Path

HEARTBEAT_SECONDS = 5.0  # a writer with nothing to flush still touches its session this often
REMOTE_STALE_SECONDS = 60.0  # a writer on another host silent this long is taken for dead


@lru_cache(maxsize=1)
def this_host() -> str:
    return socket.gethostname()


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_token(pid: int) -> str | None:
    """'<boot id>:<start time>' of a live process, '' if it is gone or a zombie, None if unknown here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "" if Path("/proc/self/stat").exists() else None
    except OSError:
        return None
    # Fields after the parenthesised command name: state is field 3, starttime field 22.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    if fields[0] in ("Z", "X"):
        return ""
    return f"{_boot_id()}:{fields[19]}"


def writer_alive(host: str | None, pid: int | None, token: str | None, heartbeat: float | None) -> bool:
    """Whether the recording process of a `running` session may still be writing it."""
    if pid is None:
        return False
    if host != this_host():
        return heartbeat is not None and time.time() - heartbeat < REMOTE_STALE_SECONDS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    except OSError:
        return False
    now = process_token(pid)
    if token and now is not None and now != token:
        return False  # the pid now belongs to another process, or the machine rebooted
    return now != ""

"""Which code produced a result: the relulab version and the git commit it ran from."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """{"relulab": version, "git_commit": hash (+dirty when tracked files differ)}; a key is
    missing where it cannot be known (an installed copy outside a git checkout)."""
    import importlib.metadata as md

    out: dict = {}
    try:
        out["relulab"] = md.version("relulab")
    except md.PackageNotFoundError:
        pass
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5)
            out["git_commit"] = commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out

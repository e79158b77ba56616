import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """Every test records into its own store, never the user's."""
    monkeypatch.setenv("RELULAB_STORE", str(tmp_path / "store"))
    yield

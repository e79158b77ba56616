"""The session store: record runs as they train, list, replay, export and import them.

    from sessions import open_store
    store = open_store()                     # --store, $RELULAB_STORE or the user data directory
    with store.create_session(config, environment) as w:
        for batch in trainer.batches():
            w.append_batch(batch)            # buffered; committed about once a second
        # (w.append(snapshot) records one Snapshot at a time, at a few us more per snapshot)
    session = store.load(w.id[:4])           # any unique prefix of the id
    session.series(max_points=1000)          # for plots, extremes kept
"""

from sessions.reader import Session
from sessions.db import SCHEMA_VERSION, StoreError
from sessions.info import STATUSES, SessionInfo
from sessions.store import Store, default_store_path, open_store
from sessions.transfer import write_csv
from sessions.writer import FINAL_STATUSES, SessionWriter

__all__ = [
    "FINAL_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "Session",
    "SessionInfo",
    "SessionWriter",
    "Store",
    "StoreError",
    "default_store_path",
    "open_store",
    "write_csv",
]

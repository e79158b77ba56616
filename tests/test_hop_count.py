"""One hop count: what `run --json` reports is what the store holds and what the batches (the
console's source) handed out, also for a run that diverges."""

from __future__ import annotations

import json

from core.config import config_from_toml
from core.train import Trainer
from lab.cli.main import main

# Diverges after a few hundred steps; before the fix the report counted 22 hops, the store 13.
DIVERGING = ('[model]\nhidden = 16\n[init]\nseed = 0\n[data]\nname = "teacher"\nsamples = 50\n'
             '[train]\nlr = 50.0\nsteps = 3000\nlog_every = 1\n')


def test_trainer_hops_are_the_hops_of_the_snapshots_it_yields():
    trainer = Trainer(config_from_toml(DIVERGING))
    batches = list(trainer.batches())
    assert trainer.status == "diverged"
    yielded = [h for b in batches for h in b.hops]
    last = int(batches[-1].step[-1])
    assert yielded and trainer.hops == yielded and all(h.step <= last for h in trainer.hops)


def test_report_and_store_agree_on_the_hops(tmp_path, capsys):
    config = tmp_path / "diverging.toml"
    config.write_text(DIVERGING)
    store = str(tmp_path / "store")
    assert main(["run", str(config), "--json", "--store", store]) == 3  # diverged
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "diverged" and report["hops"]
    assert main(["sessions", "show", report["session"], "--json", "--store", store]) == 0
    stored = json.loads(capsys.readouterr().out)["hops"]
    assert stored == report["hops"]

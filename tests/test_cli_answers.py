"""Issue 12, items 2-13: honest exit statuses and reports, every reachable mistake answered in one
line, and the commands users asked for (--set, config, rerun, sessions config / export-weights)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.cli import exit_codes
from lab.cli.main import main
from sessions import Store

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv, match: str = "") -> str:
    code, out, err = cli(capsys, *argv)
    assert code == exit_codes.USER_ERROR, (out, err)
    assert err.count("\n") == 1 and err.startswith("relulab: ") and "Traceback" not in err, err
    assert match in err, err
    return err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


TEACHER = '[model]\nhidden = 4\n[data]\nname = "teacher"\nsamples = 40\n[train]\nsteps = 40\n'


# -- 2. exit statuses, and a diverged run says where and what it kept ---------------------------


def test_exit_statuses_are_defined_once_and_distinct():
    assert (exit_codes.COMPLETED, exit_codes.USER_ERROR, exit_codes.DIVERGED, exit_codes.INTERRUPTED) == (0, 2, 3, 130)
    assert exit_codes.for_status("completed") == 0 and exit_codes.for_status("diverged") == 3
    assert exit_codes.for_status("interrupted") == 130


def test_a_diverged_run_exits_3_and_labels_the_kept_state(tmp_path, capsys):
    config = write(tmp_path / "div.toml", TEACHER + "lr = 1e3\nlog_every = 1\ndtype = \"float64\"\n")
    code, out, err = cli(capsys, "run", config, "--json")
    assert code == exit_codes.DIVERGED, err
    report = json.loads(out)
    assert report["status"] == "diverged" and report["exit_status"] == 3
    # Snapshots every step: the loss was finite at the kept step and not at the next one.
    assert report["diverged_at"] == report["steps"] + 1
    assert np.isfinite(report["final"]["loss"])
    assert all(h["step"] <= report["steps"] for h in report["hops"])
    info = Store(tmp_path / "store").list()[0]
    assert info.status == "diverged" and f"not finite at step {report['diverged_at']}" in info.error
    assert f"kept the weights of step {report['steps']}" in info.error
    # The text report says the same, and never calls the kept loss "final".
    code, out, err = cli(capsys, "run", config, "--no-save")
    assert code == 3 and f"diverged: the loss was not finite at step {report['diverged_at']}" in out
    assert f"kept (step {report['steps']}, the last finite loss)" in out and "final loss" not in out


# -- 3. an experiment whose networks diverge says so ---------------------------------------------


def test_an_experiment_of_diverged_networks_is_recorded_diverged(tmp_path, capsys):
    code, out, err = cli(capsys, "experiment", "breast-cancer", "--quick", "--lr", "1e9", "--widths", "2",
                         "--seeds", "2", "--steps", "20", "--json")
    assert code == exit_codes.DIVERGED and "Traceback" not in err and "Warning" not in err, err
    report = json.loads(out)
    assert report["status"] == "diverged" and report["diverged"] == {"networks": 6, "of": 6}
    info = Store(tmp_path / "store").list()[0]
    assert info.status == "diverged" and "6 of 6 networks diverged" in info.error
    code, out, err = cli(capsys, "experiment", "breast-cancer", "--quick", "--lr", "1e9", "--widths", "2",
                         "--seeds", "2", "--steps", "20", "--no-save")
    assert code == 3 and "6 of 6 networks" in out and "Traceback" not in err


# -- 4. component counts too big for an exact integer ---------------------------------------------


def test_a_huge_width_reports_components_as_log2(tmp_path, capsys):
    code, out, err = cli(capsys, "check", "--hidden", "30000", "--samples", "10", "--json")
    assert code == 0, err
    sample = json.loads(out)["sample"]
    # Each pathological neuron (one output) and no free one (d_eff = 2) has two pieces.
    assert sample["components"] is None and sample["components_log2"] == sample["pathological"] > 10_000
    code, out, err = cli(capsys, "check", "--hidden", "30000", "--samples", "10")
    assert code == 0 and f"2^{sample['pathological']} components" in out
    config = write(tmp_path / "wide.toml", '[model]\nhidden = 30000\n[data]\nname = "abs"\n[train]\nsteps = 1\n')
    code, out, err = cli(capsys, "run", config, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["classification"]["initial"]["components"] is None
    assert cli(capsys, "sessions", "list", "--json")[0] == 0
    code, out, err = cli(capsys, "sessions", "show", report["session"])
    assert code == 0 and "components" in out and "2^" in out


def test_a_run_that_fails_ends_failed_with_the_reason(tmp_path, capsys, monkeypatch):
    import core.train

    def broken(self):
        raise RuntimeError("the engine broke before its first step")
        yield  # a generator, as Trainer.batches is

    monkeypatch.setattr(core.train.Trainer, "batches", broken)
    with pytest.raises(RuntimeError):  # a fault that is not the user's keeps its traceback
        main(["run", str(EXAMPLES / "abs_free.toml")])
    info = Store(tmp_path / "store").list()[0]
    assert info.status == "failed" and "the engine broke before its first step" in info.error


def test_small_counts_stay_exact(capsys):
    code, out, err = cli(capsys, "check", "--hidden", "3", "--samples", "10", "--json")
    sample = json.loads(out)["sample"]
    assert sample["components"] == 2 ** sample["components_log2"]


# -- 5. accepted-but-ignored values are refused ----------------------------------------------------


@pytest.mark.parametrize("toml, match", [
    ('[train]\noptimizer = "gd"\nbatch_size = 8\n', "[train] batch_size = 8: must be omitted with [train] optimizer = gd"),
    ('[init]\nhidden_weight = [[1.0], [2.0]]\noutput_weight = [[1.0, 1.0]]\npathological = 0\n',
     "[init] pathological: cannot be combined with explicit weights"),
    ('[data]\nname = "breast_cancer"\nsamples = 50\n[train]\nloss = "bce"\n', "[data] samples = 50: must be omitted"),
    ('[data]\nname = "breast_cancer"\nnoise = 0.5\n[train]\nloss = "bce"\n', "[data] noise = 0.5"),
    ('[init]\nscale = 1e200\n', "[init] scale = 1e+200: must be a number > 0 and <= 1e+06"),
    ('[init]\nhidden_weight = [[1e300], [2.0]]\n', "[init] hidden_weight"),
    ('[data]\nname = "teacher"\nsamples = 3\ntest_fraction = 0.9\n', "[data] test_fraction = 0.9: cannot split 3 samples"),
    ('[model]\nhidden = 10\n[data]\nname = "teacher"\nsamples = 2000000000\n', "[data] samples = 2000000000: needs about"),
    ('[data]\npath = "nowhere.csv"\n', "no such file (looked at "),
    ('[modle]\nhidden = 3\n', "unknown section [modle]"),
    ('[model]\nhiden = 3\n', "unknown key [model] hiden"),
])
def test_contradictory_or_unreachable_values_are_one_line(tmp_path, capsys, monkeypatch, toml, match):
    import core.memory

    monkeypatch.setattr(core.memory, "available_memory", lambda: 8 << 30)  # the same answer on every machine
    config = write(tmp_path / "c.toml", toml)
    one_line_error(capsys, "run", config, "--no-save", "--steps", "3", match=match)


def test_seed_with_explicit_weights_is_refused(capsys):
    one_line_error(capsys, "run", EXAMPLES / "abs_free.toml", "--seed", "3", "--no-save", match="--seed")


def test_check_refuses_inputs_the_dataset_does_not_have(capsys):
    one_line_error(capsys, "check", "--config", EXAMPLES / "breast_cancer.toml", "--inputs", "5",
                   match="[model] inputs = 5: the breast_cancer dataset has 30 inputs")


@pytest.mark.parametrize("argv, match", [
    (["--refresh", "0"], "--refresh: 0: must be a number of refreshes per second, > 0"),
    (["--refresh", "-1"], "--refresh: -1: must be"),
    (["run", str(EXAMPLES / "abs_free.toml"), "--refresh", "2"], "unrecognized arguments: --refresh 2"),
    (["run", str(EXAMPLES / "abs_free.toml"), "--name", ""], "a session name cannot be empty"),
    (["run", str(EXAMPLES / "abs_free.toml"), "--name", "beef"], "must not be only hex digits"),
    (["experiment", "breast-cancer", "--widths", "2,,4"], "--widths 2,,4"),
    (["run"], "required: CONFIG.toml"),
    (["sessions", "frobnicate"], "invalid choice"),
])
def test_command_line_mistakes_are_one_line(capsys, argv, match):
    with pytest.raises(SystemExit) as stop:  # argparse's own mistakes exit through SystemExit
        raise SystemExit(main(argv))
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and err.count("\n") == 1 and match in err, err


# -- 6. a pipe that closes early -------------------------------------------------------------------


def test_output_piped_into_head_neither_crashes_nor_interrupts_the_run(tmp_path):
    config = write(tmp_path / "c.toml", TEACHER.replace("steps = 40", "steps = 3000") + "log_every = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "run", str(config)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
    assert Store(tmp_path / "store").list()[0].status == "completed"


# -- 7. data paths belong to the file that names them; their hash is recorded ---------------------


def test_data_path_is_read_against_the_config_file_and_hashed(tmp_path, capsys, monkeypatch):
    rows = "\n".join(f"{x / 10},{abs(x / 10)}" for x in range(-10, 11))
    data = write(tmp_path / "project" / "data" / "abs.csv", "x,y\n" + rows + "\n")
    config = write(tmp_path / "project" / "configs" / "c.toml",
                   '[data]\npath = "../data/abs.csv"\n[train]\nsteps = 20\n')
    monkeypatch.chdir(tmp_path)  # elsewhere: the path must not be read against the working directory
    code, out, err = cli(capsys, "run", config, "--json")
    assert code == 0, err
    sid = json.loads(out)["session"]
    session = Store(tmp_path / "store").load(sid)
    assert session.config.data.path == str(data.resolve())
    recorded = session.environment["provenance"]["data"]
    assert recorded["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and recorded["path"] == str(data.resolve())
    # A rerun on changed data warns (and still runs).
    data.write_text("x,y\n" + rows.replace("0.5", "0.55") + "\n")
    code, out, err = cli(capsys, "rerun", sid, "--no-save", "--json")
    assert code == 0 and "warning: the data differ" in err


# -- 8. names are unique and never read as ids -----------------------------------------------------


def test_session_names_are_unique_and_not_id_like(tmp_path, capsys):
    config = EXAMPLES / "abs_free.toml"
    assert cli(capsys, "run", config, "--steps", "5", "--name", "baseline", "--json")[0] == 0
    one_line_error(capsys, "run", config, "--steps", "5", "--name", "baseline", match="'baseline' is taken")
    sid = Store(tmp_path / "store").list()[0].id
    other = json.loads(cli(capsys, "run", config, "--steps", "5", "--json")[1])["session"]
    one_line_error(capsys, "sessions", "rename", other, "baseline", match="is taken")
    one_line_error(capsys, "sessions", "rename", other, sid[:4], match="hex digits")
    assert cli(capsys, "sessions", "show", "baseline", "--json")[0] == 0
    # An imported session whose name is taken in the other store gets a suffix there.
    export = tmp_path / "x.relulab"
    assert cli(capsys, "sessions", "export", "baseline", "-o", export)[0] == 0
    other = tmp_path / "other"
    assert cli(capsys, "run", config, "--steps", "5", "--name", "baseline", "--store", other, "--json")[0] == 0
    code, out, err = cli(capsys, "sessions", "import", export, "--store", other)
    assert code == 0, err
    assert Store(other).load(out.strip()).info.name == "baseline (2)"
    assert sorted(i.name for i in Store(other).list()) == ["baseline", "baseline (2)"]


# -- 9. destinations first; one rule for unknown keys; no torch before the input is known good ------


def test_bad_destinations_fail_before_any_work(capsys, monkeypatch):
    import core.experiments

    def never(*args, **kwargs):
        raise AssertionError("the experiment ran before its destination was checked")

    monkeypatch.setattr(core.experiments, "run", never)
    one_line_error(capsys, "experiment", "toy", "--out", "/proc/x", match="--out /proc/x")
    one_line_error(capsys, "experiment", "toy", "--store", "/proc/x", match="/proc/x")
    one_line_error(capsys, "run", EXAMPLES / "abs_free.toml", "--store", "/proc/x", match="/proc/x")


def test_unknown_keys_are_one_rule():
    from core.config import ConfigError, config_from_dict, unknown_keys

    raw = {"model": {"hidden": 3, "hiden": 4}, "trian": {}, "train": {"lr": 0.1, "steps": 5}}
    assert unknown_keys(raw) == ["[model] hiden", "[trian]"]
    with pytest.raises(ConfigError, match="unknown"):
        config_from_dict(raw)


def test_a_typo_is_answered_without_importing_torch(tmp_path):
    config = write(tmp_path / "c.toml", "[train]\nlr = -1\n")
    code = ("import sys; from lab.cli.main import main; rc = main(['run', sys.argv[1]]); "
            "print(rc, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(config)], cwd=REPO, capture_output=True, text=True)
    assert r.stdout.split() == ["2", "False"] and "[train] lr = -1" in r.stderr


# -- 10. sessions list / show / csv / delete, and the top-level options ------------------------------


def test_piped_list_is_complete(tmp_path, capsys):
    long_name = "a rather long session name that a narrow table would cut " * 2
    code, out, err = cli(capsys, "run", EXAMPLES / "abs_obstructed.toml", "--steps", "30", "--name", long_name,
                         "--tag", "first", "--tag", "[red]second[/]", "--json")
    assert code == 0, err
    code, out, err = cli(capsys, "sessions", "list")  # capsys: not a terminal, as `| cat` is
    header, row = [line.split("\t") for line in out.splitlines()]
    assert header == ["id", "name", "status", "created", "steps", "loss", "test loss", "l-", "comp.", "tags", "config"]
    fields = dict(zip(header, row))
    assert fields["name"] == long_name.strip() and fields["steps"] == "30" and fields["tags"] == "first, [red]second[/]"
    assert fields["l-"] != "" and fields["comp."] != "" and fields["config"].startswith("abs relu l=2")


def test_show_prints_notes_as_text_and_provenance(tmp_path, capsys):
    sid = json.loads(cli(capsys, "run", EXAMPLES / "abs_free.toml", "--steps", "10", "--json")[1])["session"]
    assert cli(capsys, "sessions", "note", sid, "[bold]not", "markup[/]")[0] == 0
    code, out, err = cli(capsys, "sessions", "show", sid)
    assert "[bold]notes[/]" not in out and "notes\n[bold]not markup[/]" in out
    assert "provenance: relulab" in out


def test_csv_of_an_experiment_session_is_refused(capsys):
    code, out, err = cli(capsys, "experiment", "toy", "--quick", "--steps", "10", "--json")
    sid = json.loads(out)["session"]
    one_line_error(capsys, "sessions", "csv", sid, match="has no training series")


def test_top_level_store_help_and_version(tmp_path, capsys):
    sid = json.loads(cli(capsys, "run", EXAMPLES / "abs_free.toml", "--steps", "5", "--json",
                         "--store", tmp_path / "elsewhere")[1])["session"]
    code, out, err = cli(capsys, "--store", tmp_path / "elsewhere", "sessions", "list", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)] == [sid]
    r = subprocess.run([sys.executable, "-m", "lab.cli", "--help"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "--refresh" in r.stdout and "--store" in r.stdout and "--version" in r.stdout
    r = subprocess.run([sys.executable, "-m", "lab.cli", "--version"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("relulab ")


# -- 11. --set, config defaults / show, sessions config, rerun -----------------------------------------


def test_set_overrides_any_key_and_is_validated(capsys):
    code, out, err = cli(capsys, "run", EXAMPLES / "breast_cancer.toml", "--set", "train.lr=0.2", "model.hidden=3",
                         "train.steps=4", "--no-save", "--json")
    assert code == 0, err
    assert len(json.loads(out)["initial"]["c"]) == 3
    one_line_error(capsys, "run", EXAMPLES / "breast_cancer.toml", "--set", "train.lr=fast",
                   match='[train] lr = "fast": must be a number > 0')
    one_line_error(capsys, "run", EXAMPLES / "breast_cancer.toml", "--set", "lr=0.1", match="SECTION.KEY=VALUE")
    one_line_error(capsys, "run", EXAMPLES / "breast_cancer.toml", "--set", "train.lrr=0.1",
                   match="unknown key [train] lrr")


def test_parse_set_reads_toml_values_and_bare_words():
    from core.config import parse_set

    assert parse_set(["train.lr=0.1", "model.hidden=8", "data.name=xor", "init.signs=\"+-\"", "model.bias=false"]) == {
        "train": {"lr": 0.1}, "model": {"hidden": 8, "bias": False}, "data": {"name": "xor"}, "init": {"signs": "+-"}}


def test_config_defaults_is_the_schema_and_show_resolves(tmp_path, capsys):
    from core.config import Config, config_from_toml, load_config

    code, out, err = cli(capsys, "config", "defaults")
    assert code == 0 and config_from_toml(out) == Config()
    assert out.count("\n# ") >= 20  # every key explained
    code, out, err = cli(capsys, "config", "show", EXAMPLES / "breast_cancer.toml", "--set", "model.hidden=5")
    shown = config_from_toml(out)
    assert shown.model.hidden == 5 and shown.train.lr == load_config(EXAMPLES / "breast_cancer.toml").train.lr


def test_sessions_config_and_rerun_reproduce_the_run_bitwise(tmp_path, capsys):
    first = json.loads(cli(capsys, "run", EXAMPLES / "breast_cancer.toml", "--set", "train.steps=30",
                           "train.dtype=\"float64\"", "--json")[1])
    code, out, err = cli(capsys, "sessions", "config", first["session"])
    again = write(tmp_path / "again.toml", out)
    second = json.loads(cli(capsys, "run", again, "--json")[1])
    third = json.loads(cli(capsys, "rerun", first["session"], "--json")[1])
    unrecorded = json.loads(cli(capsys, "run", again, "--json", "--no-save")[1])
    assert first["final"]["loss"] == second["final"]["loss"] == third["final"]["loss"] == unrecorded["final"]["loss"]
    assert first["final"]["c"] == second["final"]["c"] == third["final"]["c"] == unrecorded["final"]["c"]
    recorded = Store(tmp_path / "store").load(first["session"]).series()["loss"]
    assert recorded[-1] == first["final"]["loss"]
    assert Store(tmp_path / "store").load(third["session"]).info.tags == [f"rerun-of-{first['session']}"]


# -- 12. provenance with every session --------------------------------------------------------------


def test_every_session_kind_records_code_and_data_provenance(tmp_path, capsys):
    from core.provenance import code_version

    run = json.loads(cli(capsys, "run", EXAMPLES / "abs_free.toml", "--steps", "5", "--json")[1])["session"]
    experiment = json.loads(cli(capsys, "experiment", "toy", "--quick", "--steps", "5", "--json")[1])["session"]
    store = Store(tmp_path / "store")
    for sid in (run, experiment):
        prov = store.load(sid).environment["provenance"]
        assert prov["relulab"] == code_version()["relulab"]
        assert prov.get("git_commit") == code_version().get("git_commit")
        assert "data" in prov
    assert store.load(run).environment["provenance"]["data"] == {"name": "abs"}


# -- 13. checkpointed weights as .npz, usable as explicit weights -------------------------------------


def test_export_weights_round_trips_into_a_config(tmp_path, capsys):
    code, out, err = cli(capsys, "run", EXAMPLES / "abs_obstructed.toml", "--set", "train.steps=200",
                         "train.checkpoint_every=50", "--json")
    report = json.loads(out)
    sid = report["session"]
    path = tmp_path / "w.npz"
    code, out, err = cli(capsys, "sessions", "export-weights", sid, "--step", "120", "-o", path)
    assert code == 0, err
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert int(arrays["step"]) == 100  # the newest checkpoint at or before step 120
    assert arrays["hidden_weight"].shape == (2, 1) and arrays["output_weight"].shape == (1, 2)
    # The last checkpoint, as explicit weights: the classification of the end of the run.
    last = tmp_path / "last.npz"
    assert cli(capsys, "sessions", "export-weights", sid, "-o", last)[0] == 0
    with np.load(last, allow_pickle=False) as npz:
        w, b, v = npz["hidden_weight"], npz["hidden_bias"], npz["output_weight"]
    config = write(tmp_path / "from_weights.toml",
                   (EXAMPLES / "abs_obstructed.toml").read_text().split("[init]")[0]
                   + f"[init]\nhidden_weight = {w.tolist()}\nhidden_bias_values = {b.tolist()}\n"
                     f"output_weight = {v.tolist()}\n[data]\nname = \"abs\"\n[train]\nsteps = 1\n")
    code, out, err = cli(capsys, "check", "--config", config, "--samples", "10", "--json")
    assert code == 0, err
    assert json.loads(out)["sample"]["signs"] == report["classification"]["final"]["signs"]
    np.testing.assert_allclose(json.loads(out)["sample"]["c"], report["final"]["c"], rtol=1e-12)
    one_line_error(capsys, "sessions", "export-weights", sid, "--step", "-1", match="first checkpoint")

"""Sweeps: the spec (what a person writes), the runner (what a member computes), the CLI and the
store (what is recorded, resumed, exported), and the Ray backend (same numbers, retried workers)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import ConfigError, config_to_toml, with_values
from core.sweeps import parse_spec, plan_sweep, run_payload
from lab.cli.main import main
from sessions import open_store

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
[model]
hidden = 3
[data]
name = "abs"
samples = 32
[train]
steps = 150
dtype = "float64"
log_every = 10
"""


def write(tmp_path, text, name="spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep_json(capsys, *argv, status: int = 0) -> dict:
    assert main(["sweep", *map(str, argv), "--json"]) == status
    return json.loads(capsys.readouterr().out)


def rows_by_member(report: dict) -> dict:
    return {r["member"]: r for r in report["rows"]}


# -- the spec ---------------------------------------------------------------------------------


def test_with_values_sets_dotted_keys_and_validates():
    config = with_values({"model": {"hidden": 2}}, {"train.lr": 0.5, "model.hidden": 7})
    assert (config.train.lr, config.model.hidden) == (0.5, 7)
    with pytest.raises(ConfigError, match=r"\[train\] lr = -1: must be a number > 0"):
        with_values({}, {"train.lr": -1})
    with pytest.raises(ConfigError, match="unknown key 'train.rate'"):
        with_values({}, {"train.rate": 1})
    with pytest.raises(ConfigError, match="not a config key"):
        with_values({}, {"lr": 1})


def test_product_range_and_grouped_keys_expand_to_every_combination():
    spec = parse_spec(SMALL + """
[sweep]
"init.seed" = "3-6"
"train.lr" = [0.01, 0.1]
"init.pathological,init.signs" = [[1, "-"], [2, "+-"]]
""")
    assert len(spec.members) == 4 * 2 * 2
    points = {(m.values["init.seed"], m.values["train.lr"], m.values["init.signs"]) for m in spec.members}
    assert points == {(s, lr, sg) for s in range(3, 7) for lr in (0.01, 0.1) for sg in ("-", "+-")}
    m = spec.members[-1]
    assert (m.config.init.seed, m.config.init.pathological, m.config.init.signs) == (6, 2, "+-")
    assert m.config.model.hidden == 3  # from the base


def test_zip_pairs_the_ith_values_and_blocks_concatenate():
    spec = parse_spec(SMALL + """
[[sweep]]
mode = "zip"
"init.seed" = [1, 2, 3]
"train.lr" = [0.1, 0.2, 0.3]
[[sweep]]
"model.hidden" = [5]
"init.seed" = "0-1"
""")
    assert [(m.values.get("init.seed"), m.config.train.lr, m.config.model.hidden) for m in spec.members] == [
        (1, 0.1, 3), (2, 0.2, 3), (3, 0.3, 3), (0, 0.05, 5), (1, 0.05, 5)]
    with pytest.raises(ConfigError, match="axes of one length"):
        parse_spec(SMALL + '[sweep]\nmode = "zip"\n"init.seed" = [1, 2]\n"train.lr" = [0.1]\n')


def test_base_file_is_found_next_to_the_spec(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    write(tmp_path / "configs", SMALL, "base.toml")
    spec_path = write(tmp_path / "configs", 'base = "base.toml"\n[train]\nlr = 0.2\n[sweep]\n"init.seed" = "0-1"\n')
    monkeypatch.chdir("/")
    from core.sweeps import load_spec

    spec = load_spec(spec_path)
    assert [m.config.model.hidden for m in spec.members] == [3, 3]
    assert spec.members[0].config.train.lr == 0.2  # the spec's own table overrides the base


@pytest.mark.parametrize("sweep, message", [
    ('"train.lr" = [0.1, -2.0]', 'member 1 (train.lr = -2.0): [train] lr = -2.0: must be a number > 0'),
    ('"init.pathological" = [1, 5]', 'member 1 (init.pathological = 5): [init] pathological = 5: must be an integer between 0 and [model] hidden = 3'),
    ('"train.rate" = [1]', "unknown key 'train.rate'"),
    ('"init.seed" = "9-2"', 'a range A-B needs A <= B'),
    ('"init.seed" = 4', 'must be a non-empty array'),
    ('mode = "grid"\n"init.seed" = [1]', 'mode = "grid": must be one of product, zip'),
])
def test_a_bad_member_is_one_line_naming_member_axis_and_key_before_any_work(tmp_path, capsys, sweep, message):
    spec = write(tmp_path, SMALL + "[sweep]\n" + sweep + "\n")
    assert main(["sweep", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith(f"relulab: {spec}")
    assert open_store(os.environ["RELULAB_STORE"]).list() == []  # nothing was recorded


# -- the runner -------------------------------------------------------------------------------


def member_results(plan) -> dict[int, dict]:
    out = {}
    for payload in plan.payloads():
        arrays = run_payload(payload)
        for j, i in enumerate(plan.chunks[payload["chunk"]].members):
            out[i] = {k: v[j] for k, v in arrays.items() if not k.startswith("series")}
    return out


def test_a_member_equals_relulab_run_of_its_config(tmp_path, capsys):
    spec = parse_spec(SMALL + '[sweep]\n"init.seed" = "0-5"\n"init.pathological,init.signs" = [[1, "-"], [2, "+-"]]\n')
    alone = member_results(plan_sweep(spec, max_members=1))  # each member a chunk of its own
    batched = member_results(plan_sweep(spec))  # all twelve in one batched Sweep
    assert len(plan_sweep(spec).chunks) == 1
    for i in (0, 7):
        config = write(tmp_path, config_to_toml(spec.members[i].config), f"member{i}.toml")
        assert main(["run", str(config), "--json", "--no-save"]) == 0
        run = json.loads(capsys.readouterr().out)
        mine = alone[i]
        # One network alone in its Sweep is exactly the run: the same arithmetic, bit for bit.
        assert mine["loss"] == run["final"]["loss"]
        assert mine["c"].tolist() == run["final"]["c"]
        assert mine["c_init"].tolist() == run["initial"]["c"]
        assert mine["max_drift"] == run["max_c_drift"]
        assert mine["hops"] == len(run["hops"])
        assert mine["signs"] == run["classification"]["final"]["signs"]
        assert mine["pathological_init"] == run["classification"]["initial"]["pathological"]
        assert mine["effective"] == run["classification"]["final"]["effective_components"]
        assert mine["status"] == run["status"] == "completed"
        # Batched with eleven others: still the same arithmetic, bit for bit.
        assert batched[i]["loss"] == run["final"]["loss"]
        assert batched[i]["c"].tolist() == run["final"]["c"]


# Classification beyond the default case: a free neuron's pieces named by its w_k sign (d_eff = 1,
# hops of free neurons counted), several outputs, and an activation with a sign symmetry (linear:
# every component is one effective component).
NAMING = {
    "d_eff = 1": '[model]\nhidden = 4\nbias = false\n[data]\nname = "abs"\nsamples = 32\n[train]\nsteps = 300\n'
                 'lr = 0.5\ndtype = "float64"\nlog_every = 1\n[init]\npathological = 1\n',
    "3 outputs": '[model]\nhidden = 5\noutputs = 3\n[data]\nname = "gaussians"\nsamples = 60\n[train]\n'
                 'loss = "cross_entropy"\nsteps = 200\nlr = 1.0\nlog_every = 1\n[init]\npathological = 2\n',
    "linear": '[model]\nhidden = 3\nactivation = "linear"\n[data]\nname = "abs"\nsamples = 32\n[train]\nsteps = 100\n'
              'lr = 0.05\nlog_every = 10\n[init]\npathological = 2\n',
    "weight decay": '[model]\nhidden = 4\n[data]\nname = "abs"\nsamples = 32\n[train]\nsteps = 300\nlr = 0.05\n'
                    'weight_decay = 0.1\ndtype = "float64"\n[init]\npathological = 2\n',
}


@pytest.mark.parametrize("case", NAMING)
def test_a_member_is_classified_as_relulab_run_classifies_its_config(tmp_path, capsys, case):
    spec = parse_spec(NAMING[case] + '[sweep]\n"init.seed" = "0-3"\n')
    batched = member_results(plan_sweep(spec))
    for i in range(4):
        config = write(tmp_path, config_to_toml(spec.members[i].config), f"member{i}.toml")
        assert main(["run", str(config), "--json", "--no-save"]) == 0
        run = json.loads(capsys.readouterr().out)
        for when, suffix in (("initial", "_init"), ("final", "")):
            expected = run["classification"][when]
            assert batched[i]["signs" + suffix] == expected["signs"]
            assert batched[i]["effective" + suffix] == expected["effective_components"]
            assert batched[i]["pathological" + suffix] == expected["pathological"]
        assert batched[i]["hops"] == len(run["hops"])
        assert batched[i]["loss"] == run["final"]["loss"]
        assert batched[i]["max_drift"] == run["max_c_drift"]
    if case == "d_eff = 1":
        assert all("/" in batched[i]["signs"] for i in range(4))  # the free neurons' pieces are named
    if case == "linear":
        assert all(batched[i]["effective_init"] == 1 for i in range(4))


# abs never dies (relu would switch off at a huge step and stay finite): lr 5 overflows.
DIVERGING = SMALL.replace("hidden = 3", 'hidden = 3\nactivation = "abs"') + '[sweep]\n"train.lr" = [0.05, 5.0]\n'


def test_diverged_members_are_results_with_their_last_finite_values(tmp_path, capsys):
    spec = write(tmp_path, DIVERGING + '"init.seed" = "0-1"\n')
    report = sweep_json(capsys, spec, status=3)  # exit 3, as an experiment with a diverged network
    assert report["status"] == "completed" and report["diverged"] == 2 and report["completed"] == 2
    for row in report["rows"]:
        if row["train.lr"] == 5.0:
            assert row["status"] == "diverged" and row["diverged_at"] > 0
            assert row["steps"] < row["diverged_at"] and math.isfinite(row["loss"])
        else:
            assert row["status"] == "completed" and row["steps"] == 150 and row["diverged_at"] == -1


def test_chunking_is_a_function_of_the_spec_and_results_match_across_chunkings():
    spec = parse_spec(SMALL + '[sweep]\n"init.seed" = "0-9"\n"train.lr" = [0.05, 0.1]\n')
    plans = [plan_sweep(spec, max_members=n) for n in (3, 3, 10)]
    assert [c.members for c in plans[0].chunks] == [c.members for c in plans[1].chunks]
    assert sorted(i for c in plans[0].chunks for i in c.members) == list(range(20))
    a, b, c = (member_results(p) for p in plans)
    for i in range(20):
        assert repr(a[i]) == repr(b[i]) == repr(c[i])


# Each base exercises a kernel whose rounding could follow a network's place in the batch: float32
# sigmoid / softplus (bce) on a sample count that is no multiple of the vector width, gelu and
# softmax (cross_entropy) with momentum and weight decay, tanh with the projection, Adam on
# minibatches, and wide networks whose one-chunk step is big enough for torch to use threads.
CHUNKING_BASES = {
    "bce float32, 45 samples": '[model]\nhidden = 5\nactivation = "leaky_relu"\n[data]\nname = "xor"\n'
                               'samples = 45\n[train]\nloss = "bce"\nlr = 0.5\nsteps = 80\n',
    "gelu cross_entropy momentum": '[model]\nhidden = 7\noutputs = 3\nactivation = "gelu"\noutput_bias = true\n'
                                   '[data]\nname = "gaussians"\nsamples = 91\n[train]\nloss = "cross_entropy"\n'
                                   'optimizer = "momentum"\nweight_decay = 0.001\nlr = 0.1\nsteps = 80\n',
    "tanh projected_gd float64": '[model]\nhidden = 9\nactivation = "tanh"\n[data]\nname = "teacher"\nsamples = 77\n'
                                 '[train]\noptimizer = "projected_gd"\ndtype = "float64"\nsteps = 80\n',
    "adam minibatches": '[model]\nhidden = 6\n[data]\nname = "abs"\nsamples = 50\n[train]\noptimizer = "adam"\n'
                        'batch_size = 16\nlr = 0.01\nsteps = 80\n',
    "wide breast cancer": f'base = "{ROOT / "examples" / "breast_cancer.toml"}"\n[model]\nhidden = 128\n'
                          '[train]\nsteps = 20\nlog_every = 5\n',
}


@pytest.mark.parametrize("base", CHUNKING_BASES)
def test_every_chunking_gives_every_member_bitwise_the_same_numbers(base):
    spec = parse_spec(CHUNKING_BASES[base].replace("\\", "/") + '[sweep]\nseries = 3\n"init.seed" = "0-9"\n')

    def everything(plan):
        out = {}
        for payload in plan.payloads():
            arrays = run_payload(payload)
            for j, i in enumerate(plan.chunks[payload["chunk"]].members):
                out[i] = {k: v[j] for k, v in arrays.items() if k != "series_steps"}
        return out

    alone, threes, together = (everything(plan_sweep(spec, max_members=n)) for n in (1, 3, 10))
    for i in range(10):
        for key, value in alone[i].items():
            for other in (threes, together):
                assert np.array_equal(value, other[i][key], equal_nan=value.dtype.kind == "f"), (i, key)


def test_series_are_thinned_to_the_requested_points():
    spec = parse_spec(SMALL + '[sweep]\nseries = 4\n"init.seed" = "0-1"\n')
    arrays = run_payload(next(plan_sweep(spec).payloads()))
    assert arrays["series_steps"].tolist() == [0, 50, 100, 150]
    assert arrays["series_loss"].shape == (2, 4) and arrays["series_c"].shape == (2, 4, 3)
    assert arrays["series_loss"][:, -1].tolist() == arrays["loss"].tolist()


# -- CLI and store ----------------------------------------------------------------------------


def test_dry_run_counts_members_and_chunks_and_runs_nothing(tmp_path, capsys):
    spec = write(tmp_path, SMALL + '[sweep]\n"init.seed" = "0-9"\n"train.lr" = [0.05, 0.1]\n')
    report = sweep_json(capsys, spec, "--dry-run", "--chunk-members", "4")
    assert report["members"] == 20 and report["groups"] == 2 and report["chunks"] == 6
    assert sum(report["members_per_chunk"]) == 20
    # A few timed steps turn the nominal estimate into this machine's: a positive number of seconds.
    assert report["estimated_seconds"] > 0 and 0 < report["estimated_seconds_here"] < math.inf
    assert open_store(os.environ["RELULAB_STORE"]).list() == []


def test_a_recorded_sweep_shows_exports_and_writes_one_csv_row_per_member(tmp_path, capsys):
    spec = write(tmp_path, SMALL + '[sweep]\n"init.seed" = "0-3"\n"train.lr" = [0.05, 0.1]\n')
    report = sweep_json(capsys, spec, "--name", "my grid", "--tag", "lr", "--chunk-members", "3")
    store = open_store(os.environ["RELULAB_STORE"])
    session = store.load(report["session"])
    assert (session.kind, session.status, session.name) == ("sweep", "completed", "my grid")
    assert set(session.tags) == {"sweep", "lr"}
    assert main(["sweep", "--resume", session.id]) == 2
    assert "is completed: nothing to resume" in capsys.readouterr().err
    assert main(["sessions", "show", session.id]) == 0
    assert "8 members over init.seed, train.lr; 4 of 4 chunks done" in capsys.readouterr().out
    assert main(["sessions", "csv", session.id, "-o", str(tmp_path / "csv")]) == 0
    import csv

    lines = list(csv.DictReader(open(tmp_path / "csv" / f"{session.id}_members.csv")))
    assert len(lines) == 8
    for line, row in zip(lines, report["rows"]):
        assert float(line["train.lr"]) == row["train.lr"] and int(line["init.seed"]) == row["init.seed"]
        assert float(line["loss"]) == row["loss"]  # repr: every digit survives
    assert main(["sessions", "export", session.id, "-o", str(tmp_path / "x.relulab")]) == 0
    other = tmp_path / "other"
    assert main(["sessions", "import", "--store", str(other), str(tmp_path / "x.relulab")]) == 0
    capsys.readouterr()
    assert main(["sessions", "csv", "--store", str(other), session.id, "-o", str(tmp_path / "csv2")]) == 0
    assert (tmp_path / "csv2" / f"{session.id}_members.csv").read_text() == \
        (tmp_path / "csv" / f"{session.id}_members.csv").read_text()


def test_without_ray_the_ray_backend_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray sees
    spec = write(tmp_path, SMALL + '[sweep]\n"init.seed" = "0-1"\n')
    assert main(["sweep", str(spec), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == "relulab: --backend ray: Ray is not installed here; pip install 'relulab[ray]'\n"
    assert open_store(os.environ["RELULAB_STORE"]).list() == []


def test_worker_processes_give_the_numbers_of_one_process_and_stop_when_asked():
    from core.sweeps import backends

    spec = parse_spec(SMALL + '[sweep]\nseries = 3\n"init.seed" = "0-7"\n')
    plan = plan_sweep(spec, max_members=2)  # four chunks

    def collect(workers, should_stop=None):
        got, order = {}, []
        backends.run_local(plan.payloads(), lambda k, a: (got.__setitem__(k, a), order.append(k)), workers=workers,
                           should_stop=should_stop)
        return got, order

    here, _ = collect(1)
    there, _ = collect(2)  # two spawned processes, a chunk each at a time
    assert sorted(there) == sorted(here) == [0, 1, 2, 3]
    for k in here:
        assert here[k].keys() == there[k].keys()
        for key in here[k]:
            nan = here[k][key].dtype.kind == "f"
            assert np.array_equal(here[k][key], there[k][key], equal_nan=nan), (k, key)
    # Asked to stop before anything finished: nothing is handed back, in either mode.
    assert collect(1, lambda: True) == ({}, [])
    assert collect(2, lambda: True) == ({}, [])


def test_worker_processes_start_under_the_console_whose_stderr_has_no_file(tmp_path):
    # Inside Textual sys.stderr is a capture object whose fileno() is -1; multiprocessing's
    # resource tracker hands that to its process and Python refused it (the console's full
    # breast-cancer grid failed with "bad value(s) in fds_to_keep"). A fresh process, since the
    # tracker starts once per process.
    script = """
import io, sys
from core.sweeps import backends, parse_spec, plan_sweep
class Captured(io.StringIO):
    def fileno(self):
        return -1
if __name__ == "__main__":
    sys.stderr = Captured()
    spec = parse_spec('[model]\\nhidden = 2\\n[train]\\nsteps = 5\\n[sweep]\\n"init.seed" = "0-3"\\n')
    plan = plan_sweep(spec, max_members=2)
    done = []
    backends.run_local(plan.payloads(), lambda k, a: done.append(k), workers=2)
    print(sorted(done))
"""
    path = tmp_path / "probe.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[0, 1]"


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers 0: must be an integer from 1 to 4096"),
    (["--workers", "2", "--backend", "ray"], "--workers 2: only used with --backend local"),
])
def test_workers_flag_is_checked_in_one_line(tmp_path, capsys, argv, message):
    spec = write(tmp_path, SMALL + '[sweep]\n"init.seed" = "0-1"\n')
    assert main(["sweep", str(spec), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


SLOW = """
[model]
hidden = 48
[data]
name = "abs"
samples = 3000
[train]
steps = 500
dtype = "float64"
log_every = 50
[sweep]
"init.seed" = "0-7"
"""


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_the_driver_then_resume_computes_every_member_once(tmp_path, capsys):
    from lab.sweep_results import finished_chunks

    spec = write(tmp_path, SLOW)
    store_dir = os.environ["RELULAB_STORE"]
    # Two worker processes: the driver's death must not leave them behind.
    driver = subprocess.Popen([sys.executable, "-m", "lab.cli", "sweep", str(spec), "--chunk-members", "1", "--json",
                               "--name", "seed grid", "--workers", "2"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = open_store(store_dir)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None:
            sessions = store.list()
            if sessions and len(finished_chunks(store.load(sessions[0].id))) >= 2:
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the sweep finished before it could be killed: make SLOW slower"
        workers = children(driver.pid)
        assert workers, "the sweep ran no worker processes"
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "worker processes outlived their driver"
    killed = store.load(store.list()[0].id)
    assert killed.status == "interrupted"
    before = finished_chunks(killed)
    assert 2 <= len(before) < 8

    resumed = sweep_json(capsys, "--resume", killed.id)
    assert resumed["status"] == "completed" and resumed["completed"] == 8 and resumed["chunks_resumed"] == len(before)
    after = finished_chunks(store.load(resumed["session"]))
    assert sorted(after) == list(range(8))
    computed_in = [after[k]["computed_in"] for k in range(8)]
    assert all(computed_in[k] == killed.id for k in before)  # carried over, not recomputed
    assert computed_in.count(resumed["session"]) == 8 - len(before)  # the rest, each once
    for k in before:
        assert after[k] == before[k]
    # Names are unique in a store: the resumed sweep is "seed grid (2)" beside the killed one.
    assert store.load(resumed["session"]).name == "seed grid (2)" and store.load(killed.id).name == "seed grid"
    fresh = sweep_json(capsys, spec, "--chunk-members", "1", "--no-save")
    assert json.dumps(fresh["rows"]) == json.dumps(resumed["rows"])


# -- Ray ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from core.sweeps import backends

    backends.start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


def test_local_and_ray_give_identical_results(ray_cluster, tmp_path, capsys):
    spec = write(tmp_path, DIVERGING + '"init.seed" = "0-5"\n')
    local = sweep_json(capsys, spec, "--chunk-members", "4", status=3)
    remote = sweep_json(capsys, spec, "--chunk-members", "4", "--backend", "ray", status=3)
    assert remote["backend"] == "ray" and remote["diverged"] == 6
    assert json.dumps(local["rows"]) == json.dumps(remote["rows"])
    # Chunked differently (one per worker, here one per cluster CPU): still bitwise the same.
    every = sweep_json(capsys, spec, "--backend", "ray", "--chunk-members", "1", status=3)
    assert every["chunks"] == 12 and json.dumps(every["rows"]) == json.dumps(local["rows"])
    planned = sweep_json(capsys, spec, "--backend", "ray", "--dry-run")
    assert planned["chunks_at_once"] == min(2, planned["chunks"])  # the fixture's Ray has 2 CPUs


def ray_task_workers() -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"ray::ray_task"):
                pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes through /proc")
def test_a_worker_killed_mid_chunk_is_retried(ray_cluster):
    from core.sweeps import backends

    spec = parse_spec(SLOW)
    plan = plan_sweep(spec, max_members=2)
    got: dict[int, dict] = {}
    failure: list[BaseException] = []

    def drive():
        try:
            backends.run_ray(plan.payloads(), lambda k, a: got.__setitem__(k, a))
        except BaseException as e:  # pragma: no cover - reported below
            failure.append(e)

    thread = threading.Thread(target=drive)
    thread.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and thread.is_alive():
        workers = ray_task_workers()
        if workers and not got:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join()
    assert killed is not None and not failure
    assert sorted(got) == [c.index for c in plan.chunks]
    local = {p["chunk"]: run_payload(p) for p in plan.payloads()}
    for k in got:
        assert got[k]["loss"].tolist() == local[k]["loss"].tolist()
        assert got[k]["c"].tolist() == local[k]["c"].tolist()


def test_the_breast_cancer_experiment_is_the_same_grid_written_as_a_spec(tmp_path, capsys):
    from core import experiments as E

    grid = E.breast_cancer(widths=(2, 3), seeds=range(2), steps=40, lr=0.1, device="cpu")
    blocks = []
    for l in (2, 3):
        pairs = ", ".join(f'[{k}, "{"-" * k}"]' for k in range(1, l + 1))
        blocks.append(f'[[sweep]]\n"model.hidden" = [{l}]\n"init.pathological,init.signs" = [{pairs}]\n"init.seed" = "0-1"\n')
        blocks.append(f'[[sweep]]\n"model.hidden" = [{l}]\n"init.pathological" = [0]\n"init.seed" = "0-1"\n')
    spec = write(tmp_path, """
[init]
scheme = "xavier_normal"
[data]
name = "breast_cancer"
[train]
loss = "bce"
steps = 40
lr = 0.1
log_every = 1
device = "cpu"
""" + "\n".join(blocks))
    rows = sweep_json(capsys, spec, "--no-save")["rows"]
    assert len(rows) == 2 * (3 + 4)
    for row in rows:
        l, k, seed = row["model.hidden"], row.get("init.pathological"), row["init.seed"]
        cell = (list(grid.widths).index(l), l - k, list(grid.seeds).index(seed))
        # One batched call per width in both, members in another order: equal to float32 rounding.
        assert row["test_loss"] == pytest.approx(grid.test_loss[cell], rel=1e-6)
        assert row["pathological_init"] == grid.pathological[cell] == k

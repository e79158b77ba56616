"""Issue 12: any config file, however wrong, gets exit 0 or one `relulab: ...` line and exit 2 from
`check --config` and `run --no-save --steps 3`; never a traceback."""

from __future__ import annotations

import math

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import SECTIONS, schema_fields
from lab.cli.main import main

KEYS = {s: [f.name for f in schema_fields(s)] for s in SECTIONS}
CHOICES = sorted({c for s in SECTIONS for f in schema_fields(s) for c in (f.metadata.get("choices") or ())})

numbers = st.one_of(
    st.integers(-3, 40), st.sampled_from([0, 1, 2**31, 10**9, 2**70, -(2**63)]),
    st.floats(-10, 10), st.sampled_from([0.0, 1e-300, 1e200, -1e200, math.inf, -math.inf, math.nan, 0.95]),
)
words = st.one_of(st.sampled_from(CHOICES + ["+-", "-", "+", "cpu", "auto", "cuda:7", "", "x.csv", "../nowhere.npz"]),
                  st.text(max_size=8))
arrays = st.one_of(
    st.lists(numbers, min_size=0, max_size=4),
    st.lists(st.lists(numbers, min_size=1, max_size=3), min_size=1, max_size=4),
)
values = st.one_of(numbers, words, st.booleans(), arrays, st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def plausible_value(section: str, name: str):
    """A value of the field's own type, mostly within its range: deep enough to reach training."""
    from core.config import field_type

    f = next(f for f in schema_fields(section) if f.name == name)
    base, _ = field_type(section, name)
    m = f.metadata
    if m.get("choices"):
        return st.sampled_from(m["choices"])
    if name == "signs":
        return st.sampled_from(["+", "-", "+-", "--", "+++"])
    if name == "device":
        return st.sampled_from(["cpu", "auto", "cuda"])
    if name in ("path", "target"):
        return st.sampled_from(["missing.csv", "y"])
    if base is bool:
        return st.booleans()
    if base is int:
        low = int(m.get("minimum") or 0)
        return st.integers(low, low + (6 if name in ("hidden", "outputs", "inputs", "pathological") else 60))
    if base is float:
        high = min(m.get("maximum") or 2.0, 2.0)
        return st.floats(m.get("minimum") or m.get("above") or 0.0, high)
    if base is list:
        return arrays
    return words


@st.composite
def plausible_configs(draw):
    out = {}
    for section in SECTIONS:
        keys = draw(st.lists(st.sampled_from(KEYS[section]), max_size=4, unique=True))
        out[section] = {k: draw(plausible_value(section, k)) for k in keys}
    return out


@st.composite
def raw_configs(draw):
    """Tables that are mostly the schema's sections and keys with values of any type and size,
    sometimes a misspelt section or key, sometimes not a table at all."""
    out = {}
    for section in draw(st.lists(st.sampled_from(list(SECTIONS) + ["modle", "extra"]), max_size=4, unique=True)):
        if draw(st.integers(0, 20)) == 0:
            out[section] = draw(values)
            continue
        names = KEYS.get(section, ["hidden"]) + ["typo"]
        keys = draw(st.lists(st.sampled_from(names), max_size=5, unique=True))
        out[section] = {k: draw(values) for k in keys}
    return out


def toml_text(raw: dict) -> str:
    try:
        return tomli_w.dumps(raw)
    except (TypeError, ValueError):  # a table where TOML cannot hold it: write broken TOML instead
        return "[model\nhidden = = 3\n"


def answers_in_one_line(capsys, argv: list[str]) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("relulab: "), err
    assert "Traceback" not in err


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(raw=st.one_of(plausible_configs(), raw_configs()), garbage=st.integers(0, 9).map(lambda n: n == 0))
def test_any_config_gets_a_result_or_one_line(tmp_path_factory, capsys, raw, garbage):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(toml_text(raw) if not garbage else toml_text(raw)[: len(toml_text(raw)) // 2] + "\x00]]=")
    answers_in_one_line(capsys, ["check", "--config", str(path), "--samples", "20"])
    answers_in_one_line(capsys, ["run", str(path), "--no-save", "--steps", "3"])

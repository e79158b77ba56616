"""Edit a small network's explicit initial weights as TOML arrays.

hidden_weight is (hidden x inputs), hidden_bias_values (hidden), output_weight (outputs x hidden):
the `[init]` keys of a config file. ctrl+g fills them from the current scheme and seed so one can
start from a random draw and flip a sign.
"""

from __future__ import annotations

import json
import sys

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from core.config import Config, ConfigError, check_value, replace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WEIGHT_KEYS = ("hidden_weight", "hidden_bias_values", "output_weight")
# Above this many weights a text editor stops being a sensible way to set them.
MAX_EDITABLE = 512


def rounded(array) -> list:
    import numpy as np

    return json.loads(json.dumps(np.round(np.asarray(array, np.float64), 6).tolist()))


def weights_text(values: dict) -> str:
    lines = ["# explicit initial weights ([init] keys); delete a line to draw it from the scheme"]
    for key in WEIGHT_KEYS:
        if values.get(key) is not None:
            lines.append(f"{key} = {json.dumps(values[key])}")
    return "\n".join(lines) + "\n"


def drawn_weights(config: Config) -> dict:
    """The weights the scheme (and any prescribed signs) draws for `config`, ignoring its explicit arrays."""
    from core.data import dataset_inputs
    from core.init import initial_params

    plain = replace(config, "init", "weights editor", hidden_weight=None, hidden_bias_values=None,
                    output_weight=None)
    params = initial_params(plain, dataset_inputs(plain))
    out = {"hidden_weight": rounded(params.hidden_weight), "output_weight": rounded(params.output_weight)}
    if params.hidden_bias is not None:
        out["hidden_bias_values"] = rounded(params.hidden_bias)
    return out


def parse_weights(text: str) -> dict:
    """The three arrays from the editor's TOML, each checked by the schema; raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"weights editor: not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(WEIGHT_KEYS))
    if unknown:
        raise ConfigError(f"weights editor: unknown key {unknown[0]}: allowed keys are {', '.join(WEIGHT_KEYS)}")
    return {key: check_value("init", key, data.get(key), "weights editor") for key in WEIGHT_KEYS}


class WeightsEditor(ModalScreen[dict | None]):
    """Returns the three arrays (None where a key was left out) or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("ctrl+g", "draw", "Draw from scheme", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    WeightsEditor { align: center middle; }
    WeightsEditor > Vertical {
        width: 90; max-width: 98%; height: 20; max-height: 95%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    WeightsEditor TextArea { height: 1fr; }
    WeightsEditor .error { color: $text-error; height: auto; }
    WeightsEditor .hint { color: $text-muted; }
    """

    def __init__(self, config: Config, values: dict) -> None:
        super().__init__()
        self.config = config
        self.values = values

    def compose(self) -> ComposeResult:
        m = self.config.model
        with Vertical():
            yield Label(f"Explicit weights: hidden_weight {m.hidden} x inputs, hidden_bias_values {m.hidden}, "
                        f"output_weight {m.outputs} x {m.hidden}")
            yield TextArea(weights_text(self.values), language=None, id="weights-text")
            yield Static("", classes="error", markup=False)
            yield Static("ctrl+s: apply · ctrl+g: draw from the scheme and seed · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.place_cursor()

    def place_cursor(self) -> None:
        """The cursor on the first array, below the comment line, ready to edit a value."""
        area = self.query_one(TextArea)
        area.focus()
        lines = area.text.split("\n")
        row = next((i for i, line in enumerate(lines) if line and not line.startswith("#")), len(lines) - 1)
        column = lines[row].find("[") + 1 if "[" in lines[row] else len(lines[row])
        area.cursor_location = (row, column)

    def action_draw(self) -> None:
        try:
            self.query_one(TextArea).text = weights_text(drawn_weights(self.config))
            self.place_cursor()
        except ConfigError as e:
            self.query_one(".error", Static).update(str(e))

    def action_apply(self) -> None:
        try:
            self.dismiss(parse_weights(self.query_one(TextArea).text))
        except ConfigError as e:
            self.query_one(".error", Static).update(str(e))

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Set-up: the config form, generated from the schema, and a preview of the network at step 0.

Every field validates as it is typed; the whole form is checked again (cross-field rules) when
all fields are valid. An invalid form cannot start a run: ctrl+r then points at the first error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Button, Static

from core.config import SECTIONS, Config, ConfigError, config_from_dict, config_to_dict, config_to_toml
from lab.screens.confirm_screen import ConfirmScreen
from lab.screens.text_prompt import TextPrompt
from lab.screens.weights_editor import MAX_EDITABLE, WEIGHT_KEYS, WeightsEditor
from lab.widgets.config_field import ConfigField
from lab.widgets.config_pane import ConfigPane
from lab.widgets.init_preview import InitPreview
from lab.widgets.key_bar import KeyBar
from lab.widgets.mode_bar import ModeBar
from lab.widgets.reflow_panes import ReflowPanes

PANE_TITLES = {"model": "Architecture", "init": "Initialisation", "data": "Dataset", "train": "Training"}


class SetupScreen(Screen):
    """The form; `config()` is what a run would use."""

    TITLE = "Set-up"
    AUTO_FOCUS = "ConfigField .editor"  # the first field, ready for typing
    HELP = """
Every field is one key of the config schema (the same keys as a TOML config and the CLI flags);
a bad value shows the CLI's message under the field and the run key refuses to start. Leave
inputs empty to take it from the dataset. Small nets can be given explicit weights (ctrl+t).
"""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("ctrl+s", "save", "Save TOML", priority=True),
        Binding("ctrl+o", "open", "Open TOML", priority=True),
        Binding("ctrl+t", "weights", "Weights", priority=True),
        Binding("ctrl+n", "defaults", "Defaults", show=False, priority=True),
        Binding("f6", "next_pane", "Next pane", show=False),
        Binding("shift+f6", "previous_pane", "Previous pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="setup")
        self.path: Path | None = None
        self._cross_error: tuple[str, str] | None = None  # (field key, message) of a cross-field rule
        self._fields: list[ConfigField] = []

    def compose(self) -> ComposeResult:
        config = self.app.initial_config if hasattr(self.app, "initial_config") else Config()
        yield ModeBar("setup", id="mode-bar")
        preview = InitPreview(id="preview")
        preview.border_title = "At initialisation"
        weights = Button("Edit weights… ^t", id="weights-button", compact=True)
        panes = {s: ConfigPane(s, PANE_TITLES[s], getattr(config, s), extra=[weights] if s == "init" else [])
                 for s in SECTIONS}
        yield ReflowPanes([[panes["model"], panes["data"], preview], [panes["init"], panes["train"]]],
                          order=["pane-model", "pane-init", "pane-data", "pane-train", "preview"],
                          scroll=True, id="setup-panes")
        yield Static("", id="field-help", markup=False)
        yield Static("", id="form-error", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.path = getattr(self.app, "initial_path", None)
        self.query_one(ModeBar).set_context(self._mode_context())
        raw = getattr(self.app, "initial_raw", None)
        if raw:
            self.fill_raw(raw)
        self.revalidate()

    def _mode_context(self) -> str:
        return str(self.path) if self.path else "new config"

    # -- the form as a config --------------------------------------------------------------------

    @property
    def fields(self) -> list[ConfigField]:
        if not self._fields:
            self._fields = list(self.query(ConfigField))  # fixed once composed
        return self._fields

    def field(self, section: str, name: str) -> ConfigField:
        return self.query_one(f"#field-{section}-{name}", ConfigField)

    def form_dict(self) -> dict:
        """The fields' checked values as nested dicts (empty fields left out).

        A field that fails its own check is left out; one that passes it but breaks a
        cross-field rule (signs longer than hidden) is kept, so the rule keeps failing: a form
        is never run or saved without a field the user can see.
        """
        data: dict[str, dict] = {s: {} for s in SECTIONS}
        for f in self.fields:
            if f.own_error is None and f.checked is not None:
                data[f.section][f.field.name] = f.checked
        return data

    def config(self) -> Config:
        """The form as a validated Config; raises ConfigError naming the first problem."""
        data: dict[str, dict] = {s: {} for s in SECTIONS}
        for f in self.fields:
            value = f.value()  # the field's own message first
            if value is not None:
                data[f.section][f.field.name] = value
        return config_from_dict(data, "form")

    def revalidate(self) -> Config | None:
        """Re-run the cross-field rules; show the result and refresh the preview."""
        if self._cross_error is not None:
            key, message = self._cross_error
            self._cross_error = None
            field = self.query(f"#field-{key}").first(ConfigField) if self.query(f"#field-{key}") else None
            if field is not None and field.error == message:
                field.validate()
        invalid = [f for f in self.fields if f.own_error is not None]
        preview = self.query_one(InitPreview)
        if invalid:
            self._form_error(f"{len(invalid)} field(s) invalid: {', '.join(f.key for f in invalid[:4])}")
            preview.request(None, "fix the fields marked in red to see the initial classification")
            return None
        try:
            config = config_from_dict(self.form_dict(), "form")
        except ConfigError as e:
            message = str(e)
            self._form_error(message)
            self._mark_cross_error(message)
            preview.request(None, message)
            return None
        self._form_error("")
        preview.request(config)
        return config

    def _form_error(self, text: str) -> None:
        line = self.query_one("#form-error", Static)
        if str(line.content) != text:
            line.update(text)

    def _mark_cross_error(self, message: str) -> None:
        """Show a cross-field message under the field it is about: the first key it names."""
        found = re.search(r"\[(\w+)\] (\w+)", message)
        if not found or not self.query(f"#field-{found[1]}-{found[2]}"):
            return
        field = self.field(found[1], found[2])
        field.show_error(message)
        self._cross_error = (f"{found[1]}-{found[2]}", message)

    def load(self, config: Config, path: Path | None = None) -> None:
        """Fill the form with `config` (after open, restart with a new seed, or from a session)."""
        values = config_to_dict(config)
        for f in self.fields:
            f.set_value(values[f.section].get(f.field.name))
        self.path = path
        self.query_one(ModeBar).set_context(self._mode_context())
        self.revalidate()

    def fill_raw(self, raw: dict) -> None:
        """Fill from a TOML file's tables as they are, so its mistakes show under their fields."""
        from lab.form_values import format_value

        unknown = []
        for section, values in raw.items():
            if section not in SECTIONS or not isinstance(values, dict):
                unknown.append(f"[{section}]")
                continue
            for name, value in values.items():
                found = self.query(f"#field-{section}-{name}")
                if not found:
                    unknown.append(f"[{section}] {name}")
                    continue
                field = found.first(ConfigField)
                try:
                    field.set_value(value)
                except Exception:  # a value the editor cannot hold (a choice that does not exist)
                    if hasattr(field.editor, "value") and isinstance(field.editor.value, str):
                        field.editor.value = format_value(value)
                    field.reject(f"form: [{section}] {name} = {format_value(value)}: not one of the choices")
        if unknown:
            self.notify(f"ignored unknown keys: {', '.join(unknown)}", severity="warning", timeout=8)

    # -- events ---------------------------------------------------------------------------------

    def on_config_field_changed(self, event: ConfigField.Changed) -> None:
        self.revalidate()

    def on_init_preview_computed(self, event: InitPreview.Computed) -> None:
        self.set_inputs_hint(event.inputs)

    def on_descendant_focus(self, event) -> None:
        field = next((n for n in event.widget.ancestors_with_self if isinstance(n, ConfigField)), None)
        for f in self.query("ConfigField.-focused"):
            f.remove_class("-focused")
        if field is not None:
            field.add_class("-focused")
        self.query_one("#field-help", Static).update(field.help if field else "", layout=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "weights-button":
            self.action_weights()

    # -- actions --------------------------------------------------------------------------------

    def action_run(self) -> None:
        try:
            config = self.config()
            preflight(config)
        except ConfigError as e:
            self.revalidate()
            first = next((f for f in self.fields if f.error is not None), None)
            if first is not None:
                self.query_one(ReflowPanes).activate(f"pane-{first.section}")
                first.editor.focus()
            self.notify(str(e), title="Cannot start", severity="error", timeout=8)
            return
        self.app.start_run(config)

    def action_save(self) -> None:
        try:
            config = self.config()
        except ConfigError as e:
            self.notify(str(e), title="Cannot save an invalid form", severity="error", timeout=8)
            return

        def check(text: str) -> str | None:
            if not text:
                return "give a file name"
            try:
                Path(text).expanduser().write_text(config_to_toml(config), encoding="utf-8")
            except OSError as e:
                return f"{text}: cannot write: {e.strerror or e}"
            return None

        def saved(text: str | None) -> None:
            if text:
                self.path = Path(text).expanduser()
                self.query_one(ModeBar).set_context(self._mode_context())
                self.notify(f"saved {text}")

        default = str(self.path) if self.path else "relulab.toml"
        self.app.push_screen(TextPrompt("Save the config as TOML:", default, check=check), saved)

    def action_open(self) -> None:
        from core.config import load_config

        loaded: dict = {}

        def check(text: str) -> str | None:
            if not text:
                return "give a file name"
            try:
                loaded["config"] = load_config(Path(text).expanduser())
            except ConfigError as e:
                return str(e)
            return None

        def opened(text: str | None) -> None:
            if text and "config" in loaded:
                self.load(loaded["config"], Path(text).expanduser())
                self.notify(f"opened {text}")

        default = str(self.path) if self.path else ""
        self.app.push_screen(TextPrompt("Open a TOML config:", default, placeholder="examples/abs_obstructed.toml",
                                        check=check), opened)

    def action_defaults(self) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self.load(Config(), None)
                self.notify("form reset to the defaults")

        self.app.push_screen(ConfirmScreen("Reset every field of the form to its default?"), done)

    def action_weights(self) -> None:
        try:
            config = config_from_dict(self.form_dict(), "form")
        except ConfigError as e:
            self.notify(str(e), title="Fix the form first", severity="error")
            return
        from core.data import dataset_inputs

        try:
            inputs = dataset_inputs(config)
        except ConfigError as e:
            self.notify(str(e), severity="error")
            return
        m = config.model
        size = m.hidden * (inputs + 1 + m.outputs)
        if size > MAX_EDITABLE:
            self.notify(f"{size} weights: the editor is for small nets (up to {MAX_EDITABLE}); "
                        "put arrays in a TOML file instead", severity="warning")
            return
        values = {key: getattr(config.init, key) for key in WEIGHT_KEYS}

        def applied(result: dict | None) -> None:
            if result is None:
                return
            for key in WEIGHT_KEYS:
                self.field("init", key).set_value(result[key])
            self.revalidate()

        self.app.push_screen(WeightsEditor(config, values), applied)

    def action_next_pane(self) -> None:
        self.query_one(ReflowPanes).cycle(1)

    def action_previous_pane(self) -> None:
        self.query_one(ReflowPanes).cycle(-1)

    def set_inputs_hint(self, inputs: int) -> None:
        self.field("model", "inputs").set_placeholder(f"{inputs} (from the dataset)")


def preflight(config: Config) -> None:
    """What would fail a run before its first step, checked before starting it: a data file
    that is not there, a CUDA device this machine lacks. Raises ConfigError, the engine's message."""
    path = config.data.path
    if path and not Path(path).expanduser().is_file():
        raise ConfigError(f"form: [data] path = {json.dumps(path)}: no such file")
    if config.train.device.startswith("cuda"):
        from core.train import resolve_device  # torch: only for a form that asks for CUDA

        resolve_device(config.train.device)

"""What the form's network looks like at step 0: its classification and the odds for its architecture.

The same figures as `relulab check`, recomputed (in a worker thread, debounced) whenever the form
is valid, so one sees "2 pathological, 4 components" before pressing run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from core.config import Config
from core.errors import UserError

DEBOUNCE = 0.25  # seconds of quiet typing before recomputing
MAX_NEURONS_LISTED = 8


class InitPreview(Static):
    """Classification of the initial point and P(pathological) for the current form."""

    @dataclass
    class Computed(Message):
        """The preview found the dataset's input count (the form shows it in the empty inputs field)."""

        inputs: int

    DEFAULT_CSS = """
    InitPreview { height: auto; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.update(Text("fill in the form to see the initial classification", style="dim"))

    def request(self, config: Config | None, reason: str | None = None) -> None:
        """Recompute for `config`; None (an invalid form) shows `reason` instead."""
        if config is None:
            self.workers.cancel_group(self, "preview")
            text = Text(reason or "the form has errors", style="dim")
            if str(self.content) != text.plain:
                self.update(text)
            return
        self._compute(config)

    @work(thread=True, exclusive=True, group="preview")
    def _compute(self, config: Config) -> None:
        worker = get_current_worker()
        time.sleep(DEBOUNCE)
        if worker.is_cancelled:
            return
        from lab.cli.check import check_report
        from lab.live_run import probability_samples

        inputs = None
        try:
            report = check_report(config, probability_samples(config, config.model.inputs or 2))
            text = render_report(report)
            inputs = report["architecture"]["inputs"]
        except UserError as e:
            text = Text(str(e), style="red")
        except Exception as e:  # a figure we failed to compute must not take the form down
            text = Text(f"cannot compute the initial classification: {type(e).__name__}: {e}", style="red")
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, text, inputs)

    def _show(self, text: Text, inputs: int | None) -> None:
        self.update(text)
        if inputs is not None:
            self.post_message(self.Computed(inputs))


def render_report(report: dict) -> Text:
    from core.snapshot import count_text

    a, p, s = report["architecture"], report["probability"], report["sample"]
    text = Text()
    text.append(f"d = {a['inputs']} input(s){' + bias' if a['bias'] else ''} → d_eff = {a['d_eff']}, "
                f"{a['hidden']} hidden, {a['outputs']} output(s)\n")
    text.append("at init: ")
    text.append(f"{s['pathological']} pathological", style="bold")
    text.append(f" · {count_text(2 ** s['components_log2'])} components · {s['effective_components']} effective")
    text.append(f" · signs '{s['signs']}'\n" if s["signs"] else "\n")
    if p["pathological"] is not None:
        text.append(f"P(neuron pathological) = {p['pathological']:.4f} (closed form)\n")
    else:
        text.append(f"P(neuron pathological) ≈ {p['pathological_mc']:.4f} ± {p['pathological_mc_stderr']:.4f} (MC)\n")
    text.append(f"P(H(c) disconnected) = {p['disconnected']:.4f} · E[effective] = {p['expected_effective_components']:.3f}\n")
    cs = s["c"][:MAX_NEURONS_LISTED]
    text.append("c_k(0): " + "  ".join(f"{c:+.3f}" for c in cs))
    if len(s["c"]) > MAX_NEURONS_LISTED:
        text.append(f"  … ({len(s['c']) - MAX_NEURONS_LISTED} more)")
    return text

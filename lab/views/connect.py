"""A connection (relulab connect) in words: shared by the command line and the console screen."""

from __future__ import annotations

from rich.text import Text


def summary_text(report: dict) -> Text:
    """The verdict and the numbers of a connection; every user-supplied string stays plain text."""
    text = Text()
    text.append("connect ", style="bold")
    text.append(str(report.get("a", "A")))
    text.append(" -> ")
    text.append(str(report.get("b", "B")))
    text.append(f"   space {report['space']}")
    if report.get("aligned"):
        text.append(f"   aligned: permutation {report['permutation']}, unaligned distance "
                    f"{report['unaligned_distance']:.4g}")
    text.append("\n")
    verdict, style = ("connected", "bold green") if report["connected"] else ("not connected", "bold red")
    text.append(verdict, style=style)
    text.append(f": {report['reason']}\n")
    text.append(f"level L0 {report['level']:.6g}   L(A) {report['loss_a']:.6g}   L(B) {report['loss_b']:.6g}   "
                f"max on the chain {report['max_loss']:.6g}   barrier {report['barrier']:.4g}\n")
    text.append(f"beads {report['beads']}   path length {report['path_length']:.6g}   "
                f"||B - A|| {report['distance']:.6g}   normalised length {report['normalized_length']:.6f}")
    for gap in report.get("gaps", []):
        text.append(f"\ngap: neuron {gap['neuron']}: {gap['coordinate']} = {gap['at_a']:+.4g} in A, "
                    f"{gap['at_b']:+.4g} in B (the straight segment crosses 0 at {gap['position']:.3f})")
    if report.get("session"):
        text.append(f"\nsession {report['session']}")
    return text

"""The report's section on a target of another architecture (config target): its bundles as
checked under emulation, those not built and why, and the plain statement that nothing was timed."""

from __future__ import annotations

import html

from .page import html_table


def target_section(summary: dict | None) -> str:
    if not summary:
        return ""
    target = summary["target"]
    not_built = "".join(f"<li>{html.escape(v)}: {html.escape(r)}</li>" for v, r in summary["not_built"].items())
    return (f"<h2>Target {html.escape(target['name'])}: {html.escape(target['arch'])} {html.escape(target['cpu'])}</h2>"
            f"<p><b>{html.escape(summary['note'])}</b> Each bundle below read its plates under qemu-user as "
            f"<code>-cpu {html.escape(str(summary['qemu_cpu']))}</code>, on the target's numerics.</p>"
            f"<div id=\"target\">{html_table(summary['table'])}</div>"
            + (f"<p>Not built for this target:</p><ul>{not_built}</ul>" if not_built else ""))

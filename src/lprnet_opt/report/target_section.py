"""The report's section on a target (config target): its bundles as checked on its numerics, those
not built and why, and either the bundle its device's timings ship or the plain statement that
nothing was timed."""

from __future__ import annotations

import html

from .page import html_table


def target_section(summary: dict | None) -> str:
    if not summary:
        return ""
    target = summary["target"]
    not_built = "".join(f"<li>{html.escape(v)}: {html.escape(r)}</li>" for v, r in summary["not_built"].items())
    return (f"<h2>Target {html.escape(target['name'])}: {html.escape(target['arch'])} {html.escape(target['cpu'])}</h2>"
            f"<p><b>{html.escape(summary['note'])}</b> {html.escape(summary['where'])}</p>"
            f"<div id=\"target\">{html_table(summary['table'])}</div>"
            + (f"<p>Not built for this target:</p><ul>{not_built}</ul>" if not_built else ""))

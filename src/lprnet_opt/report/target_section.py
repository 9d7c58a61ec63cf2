"""The report's section on a target of another architecture (config target): its bundles as
checked under emulation, those not built and why, and the plain statement that nothing was timed."""

from __future__ import annotations

import html

from .page import html_table


def target_section(summary: dict | None) -> str:
    if not summary:
        return ""
    target = summary["target"]
    rows = []
    for row in summary["checked"]:
        drop = row["judge_drop"]
        rows.append({
            "variant": row["variant"], "built": row["built"], "precision read back": str(row["precision"] or "-"),
            "agrees with the host (evaluation sample)": f"{row['agreement_with_host']:.3f} of {row['evaluation_images']}",
            "accuracy on the sample (host)": f"{row['accuracy']:.3f} ({row['host_accuracy']:.3f})",
            "judge sample: agrees with fp32 source; lost / gained": f"{row['judge_agreement_with_source']:.3f}; "
                                                                  f"{drop['lost']} / {drop['gained']}",
            "fit": "yes" if row["fit"] else f"no: {row['unfit_reason']}",
            "bundle": row["bundle"],
        })
    not_built = "".join(f"<li>{html.escape(v)}: {html.escape(r)}</li>" for v, r in summary["not_built"].items())
    return (f"<h2>Target {html.escape(target['name'])}: {html.escape(target['arch'])} {html.escape(target['cpu'])}</h2>"
            f"<p><b>{html.escape(summary['note'])}</b> Each bundle below read its plates under qemu-user as "
            f"<code>-cpu {html.escape(str(summary['qemu_cpu']))}</code>, on the target's numerics.</p>"
            f"<div id=\"target\">{html_table(rows)}</div>"
            + (f"<p>Not built for this target:</p><ul>{not_built}</ul>" if not_built else ""))

"""The target's summary (rule target_summary): what was built for it, how each bundle read its
plates under emulation, what was not built and why, and that nothing was timed."""

from __future__ import annotations

from ..atomic import read_json
from ..targets import target_record

NOT_TIMED = ("Nothing was timed for this target, so nothing is recommended for it: the report's answer is "
             "for this machine. Emulated time is not a latency, and timing on a device (target.device) is "
             "not built yet: copy a bundle folder to the device, pip install -r requirements.txt there, "
             "and time predict.py's load().predict on it.")


def target_summary(target: dict, check_paths: list[str], bundle_paths: list[str], not_built: dict[str, str]) -> dict:
    rows = []
    for check_path, bundle_path in zip(check_paths, bundle_paths, strict=True):
        check, bundle = read_json(check_path), read_json(bundle_path)
        evaluation, judge = check["evaluation_sample"], check["judge_sample"]
        rows.append({"variant": check["variant"], "runtime": bundle["runtime"], "built": bundle["built"],
                     "bundle": bundle_path.rsplit("/", 1)[0], "precision": check["precision"],
                     "qemu_cpu": check["qemu_cpu"],
                     "evaluation_images": evaluation["images"], "agreement_with_host": evaluation["agreement_with_host"],
                     "agreement_with_source": evaluation["agreement_with_source"],
                     "accuracy": evaluation["accuracy"], "host_accuracy": evaluation["host_accuracy"],
                     "judge_images": judge["images"], "judge_agreement_with_source": judge["agreement_with_source"],
                     "judge_drop": judge["drop_vs_baseline"], "fit": check["fit"],
                     "unfit_reason": check["unfit_reason"]})
    return {"target": target_record(target), "emulated": True, "timed": False, "note": NOT_TIMED,
            "qemu_cpu": rows[0]["qemu_cpu"] if rows else None, "checked": rows, "not_built": not_built,
            "table": table_rows(rows)}


def table_rows(checked: list[dict]) -> list[dict[str, str]]:
    """One row of display strings per checked bundle: what summary.md and the report show."""
    return [{
        "variant": row["variant"], "runtime": row["runtime"], "built": row["built"],
        "precision read back": (row["precision"] or {}).get("ran", "-"),
        "agrees with the host (evaluation sample)": f"{row['agreement_with_host']:.3f} of {row['evaluation_images']}",
        "accuracy on the sample (host)": f"{row['accuracy']:.3f} ({row['host_accuracy']:.3f})",
        "judge sample: agrees with fp32 source; lost / gained vs baseline":
            f"{row['judge_agreement_with_source']:.3f} of {row['judge_images']}; "
            f"{row['judge_drop']['lost']} / {row['judge_drop']['gained']}",
        "fit": "yes" if row["fit"] else f"no: {row['unfit_reason']}",
        "bundle": row["bundle"],
    } for row in checked]


def summary_markdown(summary: dict) -> str:
    target, table = summary["target"], summary["table"]
    lines = [f"# Target {target['name']}: {target['arch']} {target['cpu']} ({target['triple']})", "",
             f"Checked under qemu-user as `-cpu {summary['qemu_cpu']}` with that CPU's /proc/cpuinfo.", "",
             summary["note"], ""]
    if table:
        lines += ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
        lines += ["| " + " | ".join(row.values()) + " |" for row in table]
    if summary["not_built"]:
        lines += ["", "Not built for this target:", ""]
        lines += [f"- {variant}: {reason}" for variant, reason in summary["not_built"].items()]
    return "\n".join(lines) + "\n"

"""The target's summary (rule target_summary): what was built for it, how each bundle read its
plates (under emulation, or on the device), what was not built and why, and, with a device, the
bundle to ship there, chosen as the host's goal chooses (report/goal.py) from the device's timings
and the checks' judge samples. Without a device nothing was timed, and nothing is chosen."""

from __future__ import annotations

from ..atomic import read_json
from ..report.goal import Goal, choose
from ..targets import target_record

NOT_TIMED = ("Nothing was timed for this target, so nothing is recommended for it: the report's answer is "
             "for this machine, and emulated time is not a latency. To time these bundles on the device, give "
             "the target its SSH destination in your overlay (target: device: {ssh: user@host}), install a "
             "bundle's requirements.txt there with pip, and rerun the same snakemake command: the checks then "
             "run on the device, and rule target_timing times every bundle there side by side.")


def device_choice(checks: list[dict], timing: dict, goal: Goal) -> dict:
    """The bundle to ship on the device: `report.goal.choose` over the checks' judge samples
    (drop against the baseline's host reading of the same plates; fp32 forms of exact kinds
    are exact) and the device's paired ratios to its ONNX Runtime fp32 bundle."""
    judged = {check["variant"]: {**check["judge_sample"]["drop_vs_baseline"], "fit": check["fit"],
                                 "exact": bool(check.get("exact"))} for check in checks}
    return choose(judged, timing, goal)


def target_summary(target: dict, check_paths: list[str], bundle_paths: list[str], not_built: dict[str, str],
                   timing_path: str | None = None, goal: Goal | None = None) -> dict:
    rows = []
    timing = read_json(timing_path) if timing_path else None
    checks = [read_json(path) for path in check_paths]
    for check, bundle_path in zip(checks, bundle_paths, strict=True):
        bundle = read_json(bundle_path)
        evaluation, judge = check["evaluation_sample"], check["judge_sample"]
        rows.append({"variant": check["variant"], "runtime": bundle["runtime"], "built": bundle["built"],
                     "bundle": bundle_path.rsplit("/", 1)[0], "precision": check["precision"],
                     "qemu_cpu": check["qemu_cpu"],
                     "evaluation_images": evaluation["images"], "agreement_with_host": evaluation["agreement_with_host"],
                     "agreement_with_source": evaluation["agreement_with_source"],
                     "accuracy": evaluation["accuracy"], "host_accuracy": evaluation["host_accuracy"],
                     "judge_images": judge["images"], "judge_agreement_with_source": judge["agreement_with_source"],
                     "judge_drop": judge["drop_vs_baseline"], "fit": check["fit"],
                     "unfit_reason": check["unfit_reason"], "emulated": check["emulated"],
                     "timed": timing["variants"].get(check["variant"]) if timing else None})
    chosen = device_choice(checks, timing, goal or Goal()) if timing else None
    emulated = any(row["emulated"] for row in rows)
    qemu_cpu = rows[0]["qemu_cpu"] if rows else None
    return {"target": target_record(target), "emulated": emulated, "timed": timing is not None,
            "note": note(chosen, timing, target) if timing else NOT_TIMED, "where": where_read(emulated, qemu_cpu, timing),
            "qemu_cpu": qemu_cpu, "device": timing["device"] if timing else None,
            "device_cpu": timing["env"]["cpu_model"] if timing else None, "choice": chosen,
            "checked": rows, "not_built": not_built, "table": table_rows(rows)}


def note(chosen: dict, timing: dict, target: dict) -> str:
    """What the device's timings say to ship, in one paragraph."""
    where = f"on {timing['device']['ssh']} ({timing['env']['cpu_model']}, {timing['rounds']} rounds side by side)"
    if timing["contended"]:
        return f"Timed {where}, but other work ran on the device during it, so nothing is chosen: rerun rule " \
               "target_timing when the device is idle."
    if not chosen["variant"]:
        return f"Timed {where}; no checked bundle fits the goal's budget of {chosen['max_drop']} pt on the judge sample."
    best = timing["variants"][chosen["variant"]]
    ties = f"; not told apart from {', '.join(chosen['ties'])}" if chosen["ties"] else ""
    return (f"Ship {chosen['variant']} on {target['name']}: the fastest bundle that fits the goal's budget of "
            f"{chosen['max_drop']} pt, at {best['ratio_to_onnxruntime']:.3f}x ONNX Runtime fp32 "
            f"[95% CI {best['ratio_to_onnxruntime_ci'][0]:.3f}, {best['ratio_to_onnxruntime_ci'][1]:.3f}], timed "
            f"{where}{ties}.")


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
        **({"x ONNX Runtime fp32 on the device [95% CI]": speed(row["timed"])} if any(r["timed"] for r in checked)
           else {}),
        "bundle": row["bundle"],
    } for row in checked]


def speed(timed: dict | None) -> str:
    if not timed or timed.get("ratio_to_onnxruntime") is None:
        return "-"
    low, high = timed["ratio_to_onnxruntime_ci"]
    return f"{timed['ratio_to_onnxruntime']:.3f} [{low:.3f}, {high:.3f}] ({timed['latency_ms']:.2f} ms)"


def summary_markdown(summary: dict) -> str:
    target, table = summary["target"], summary["table"]
    lines = [f"# Target {target['name']}: {target['arch']} {target['cpu']} ({target['triple']})", "",
             summary["where"], "", summary["note"], ""]
    if table:
        lines += ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
        lines += ["| " + " | ".join(row.values()) + " |" for row in table]
    if summary["not_built"]:
        lines += ["", "Not built for this target:", ""]
        lines += [f"- {variant}: {reason}" for variant, reason in summary["not_built"].items()]
    return "\n".join(lines) + "\n"


def where_read(emulated: bool, qemu_cpu: str | None, timing: dict | None) -> str:
    """Where the bundles read their plates (and were timed), in one sentence."""
    if emulated:
        return f"Each bundle read its plates under qemu-user as -cpu {qemu_cpu}, with that CPU's /proc/cpuinfo."
    timed = f" and was timed on {timing['device']['ssh']} ({timing['env']['cpu_model']})" if timing else ""
    return f"Each bundle read its plates on the device{timed}, on its own numerics."

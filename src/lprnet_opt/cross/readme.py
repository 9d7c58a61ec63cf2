"""A target bundle's README.md (rule target_summary): what it was built for, how it read its
plates on the target's numerics, how fast it ran on the device (or that nothing was timed), how
to run it, and what must match there."""

from __future__ import annotations

from ..deploy.readme import run_section


def target_readme(row: dict, bundle: dict, summary: dict) -> str:
    """README.md of one target bundle: `row` is its line of the target summary ("checked"),
    `bundle` its bundle.json, `summary` the target summary."""
    target, timed, judge = summary["target"], row["timed"], row["judge_drop"]
    read_where = (f"under qemu-user as `-cpu {row['qemu_cpu']}` (emulated: its time is no latency)" if row["emulated"]
                  else f"on the device {summary['device']['ssh']} ({summary['device_cpu']})")
    latency = (f"{timed['latency_ms']:.3f} ms batch 1 on the device, {timed['ratio_to_onnxruntime']:.3f}x its ONNX "
               f"Runtime fp32 bundle (95% interval {timed['ratio_to_onnxruntime_ci'][0]:.3f} to "
               f"{timed['ratio_to_onnxruntime_ci'][1]:.3f}), timed side by side with the target's other bundles"
               if timed else "not timed: " + ("set target.device to time it on the device" if row["emulated"]
                                               else "the device's timing has no row for it"))
    rows = [
        ("target", f"{target['name']}: {target['arch']} `{target['cpu']}` ({target['triple']})"),
        ("built", bundle["built"]),
        ("plates read", read_where),
        ("agrees with the host's reading", f"{row['agreement_with_host']:.3f} of {row['evaluation_images']} "
                                           "evaluation plates"),
        ("accuracy on those plates", f"{row['accuracy']:.3f} (the host's reading: {row['host_accuracy']:.3f})"),
        ("judge plates", f"agrees with the fp32 source on {row['judge_agreement_with_source']:.3f} of "
                         f"{row['judge_images']}; {judge['lost']} lost and {judge['gained']} gained against the "
                         "baseline's host reading"),
        ("fit to ship", "yes" if row["fit"] else f"**UNFIT**: {row['unfit_reason']}"),
        ("latency", latency),
    ]
    table = "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    pins = ", ".join(f"{name} {version}" for name, version in bundle["requirements"].items())
    must = [f"- **The runtime's version**: requirements.txt pins what was checked ({pins}), as {target['arch']} "
            "wheels. Another version is another check."]
    if bundle.get("tvm_target"):
        tuning = "tuned on the device" if bundle.get("tuned_on_device") else "untuned (TVM's default schedules)"
        must.append(f"- **The CPU**: model.so is {target['arch']} machine code for `-mcpu={target['cpu']}`, {tuning}. "
                    "On a CPU without those features it fails to load or crashes.")
    return f"""# {target['name']} bundle: {row['variant']}

Built for {target['name']} from the host variant `{bundle['host_variant']}`. Image files in, plate
strings out, with the preprocessing, decode and runtime settings it was checked with.

{table}

{run_section(bundle['artifact'])}

## What must match on the device

{chr(10).join(must)}
"""

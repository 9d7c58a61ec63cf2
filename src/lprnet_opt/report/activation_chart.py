"""The activation-quantizer scan of the ONNX Runtime INT8 builds (compress/activation_scan.py),
when `quantization.activation_scan` recorded one: agreement with the fp32 source as the k
most harmful activation quantizers are clipped instead of rounded, with what that costs in speed."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .chart_labels import HEIGHT


def activation_scan_chart(frame: pd.DataFrame, width) -> alt.Chart | None:
    rows = []
    for _, row in frame.iterrows():
        scan = (row["build"] or {}).get("activation_sensitivity")
        if not scan:
            continue
        rows.append({"variant": row["variant"], "k": 0, "agreement": scan["agreement"], "latency_ratio": 1.0,
                     "tensors": "(none: the INT8 build)"})
        rows += [{"variant": row["variant"], "k": c["k"], "agreement": c["agreement"],
                  "latency_ratio": c["latency_ratio"], "tensors": ", ".join(c["tensors"])} for c in scan["cumulative"]]
    if not rows:
        return None
    data = pd.DataFrame(rows)
    base = alt.Chart(data).encode(x=alt.X("k:Q", title="most harmful activation quantizers clipped, not rounded"),
                                  color=alt.Color("variant:N"),
                                  tooltip=["variant", "k", alt.Tooltip("agreement:Q", format=".4f"),
                                           alt.Tooltip("latency_ratio:Q", format=".3f"), "tensors"])
    agreement = base.mark_line(point=True).encode(
        y=alt.Y("agreement:Q", title="agreement with the fp32 source (judge plates)", scale=alt.Scale(zero=False)))
    latency = base.mark_line(point=True, strokeDash=[4, 3]).encode(
        y=alt.Y("latency_ratio:Q", title="latency / the INT8 build (dashed)", scale=alt.Scale(zero=False)))
    return alt.layer(agreement, latency).resolve_scale(y="independent").properties(
        title="INT8 activation scan: agreement (solid) and latency (dashed) as quantizers are clipped instead of rounded",
        width=width, height=HEIGHT)

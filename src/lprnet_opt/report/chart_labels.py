"""Point labels for Altair charts, placed in pixels by `labels.place_labels`: explicit axis
domains map data to pixels, and a leader line joins a point to a label that had to move."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .labels import leader, place_labels

HEIGHT = 300
# Charts that label points are drawn at this width in the page and the exports alike, so that
# labels placed in pixels land where they were placed.
LABELLED_WIDTH = 640


def padded(values: pd.Series, share: float = 0.08) -> list[float]:
    """An explicit axis domain around `values`: labels are placed in pixels, so the mapping from
    data to pixels must be known (no "nice" rounding of the domain)."""
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * share or abs(high) * share or 1.0
    return [low - pad, high + pad]


def point_labels(data: pd.DataFrame, x: str, y: str, x_domain: list[float], y_domain: list[float]):
    """The labels layer, placed by `labels.place_labels` (no two intersect, none covers a point),
    with a leader line from each point to a label that had to move away from it; and the key of
    the points labelled by number (None when every point carries its name)."""
    width, height = LABELLED_WIDTH, HEIGHT
    (x0, x1), (y0, y1) = x_domain, y_domain
    px = (data[x] - x0) / (x1 - x0) * width
    py = height - (data[y] - y0) / (y1 - y0) * height
    placed = place_labels(list(zip(px, py)), list(data["variant"]), (width, height))
    rows = []
    for (_, row), label, bx, by in zip(data.iterrows(), placed, px, py):
        box = label.box
        (_, (ex, ey)) = leader((bx, by), box)
        rows.append({"text": label.text, "variant": row["variant"], "key": label.key,
                     "label_x": x0 + box.left / width * (x1 - x0),
                     "label_y": y0 + (height - (box.top + box.bottom) / 2) / height * (y1 - y0),
                     "x": row[x], "y": row[y], "end_x": x0 + ex / width * (x1 - x0),
                     "end_y": y0 + (height - ey) / height * (y1 - y0),
                     "moved": ((ex - bx) ** 2 + (ey - by) ** 2) ** 0.5 > 12})
    labels = pd.DataFrame(rows)
    xs, ys = alt.Scale(domain=x_domain, nice=False), alt.Scale(domain=y_domain, nice=False)
    text = alt.Chart(labels).mark_text(align="left", baseline="middle", fontSize=11).encode(
        x=alt.X("label_x:Q", scale=xs), y=alt.Y("label_y:Q", scale=ys), text="text:N", tooltip=["variant"])
    leaders = alt.Chart(labels[labels["moved"]]).mark_rule(color="gray", strokeWidth=0.7).encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), x2="end_x:Q", y2="end_y:Q")
    keyed = labels[labels["key"].notna()]
    if keyed.empty:
        return leaders + text, None
    keyed = keyed.assign(number=keyed["text"].astype(int)).sort_values("number")
    entries = pd.DataFrame({"entry": [f"{n}  {k}" for n, k in zip(keyed["number"], keyed["key"])],
                            "order": range(len(keyed))})
    key = alt.Chart(entries).mark_text(align="left", fontSize=11).encode(
        x=alt.value(0), y=alt.Y("order:O", axis=None), text="entry:N").properties(
        title=alt.TitleParams("numbered points", anchor="start"), width=200, height=16 * len(entries),
        view=alt.ViewConfig(stroke=None))
    return leaders + text, key


def with_key(chart, key):
    """The chart, and beside it the key of its numbered points if it has one."""
    return chart if key is None else alt.hconcat(chart, key)

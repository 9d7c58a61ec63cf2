"""Where a chart's point labels go: no two label boxes intersect and no label covers a point.

A pure function of pixel positions and label sizes, so it is tested on many close points without
drawing anything (tests/test_labels.py). In the default run's accuracy-against-latency chart,
labels at a fixed offset printed over each other where three runtimes ran near the same latency.
"""

from __future__ import annotations

from dataclasses import dataclass

# Label box size estimate for Vega's default 11 px sans-serif text.
CHAR_WIDTH_PX = 6.6
LINE_HEIGHT_PX = 13.0
GAP_PX = 5.0
POINT_RADIUS_PX = 5.0
# Candidate directions around a point, tried in this order at growing distances.
DIRECTIONS = ((1, 0), (1, -1), (1, 1), (-1, 0), (-1, -1), (-1, 1), (0, -1), (0, 1))
DISTANCES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 22, 27, 33, 40)


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def intersects(self, other: Box) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


    def crossed_by(self, start: tuple[float, float], end: tuple[float, float]) -> bool:
        """Whether the segment start-end passes through the box (Liang-Barsky clipping)."""
        (x0, y0), (x1, y1) = start, end
        dx, dy = x1 - x0, y1 - y0
        low, high = 0.0, 1.0
        for p, q in ((-dx, x0 - self.left), (dx, self.right - x0), (-dy, y0 - self.top), (dy, self.bottom - y0)):
            if p == 0:
                if q <= 0:
                    return False
                continue
            t = q / p
            if p < 0:
                low = max(low, t)
            else:
                high = min(high, t)
            if low >= high:
                return False
        return True


def leader(point: tuple[float, float], box: Box) -> tuple[tuple[float, float], tuple[float, float]]:
    """The line from a point to the nearest point of its label's box."""
    x, y = point
    return point, (min(max(x, box.left), box.right), min(max(y, box.top), box.bottom))


def label_size(text: str) -> tuple[float, float]:
    return len(text) * CHAR_WIDTH_PX, LINE_HEIGHT_PX


def candidate(x: float, y: float, size: tuple[float, float], direction: tuple[int, int], distance: int) -> Box:
    """The label box `distance` gaps from the point (x, y) in `direction` (pixels, y down)."""
    width, height = size
    reach = GAP_PX * distance + POINT_RADIUS_PX
    dx, dy = direction
    left = x + reach if dx > 0 else x - reach - width if dx < 0 else x - width / 2
    top = y - height / 2 + dy * (reach + height / 2) if dy else y - height / 2
    return Box(left, top, left + width, top + height)


# A name goes beside its point only this close (in gaps); farther, the point gets a number and
# the chart a key: in the default run long names pulled far from a crowd of points were harder
# to match to their points than numbers.
NAME_REACH = 3


@dataclass(frozen=True)
class Label:
    text: str
    box: Box
    # The variant name a number stands for (the key), None when the name itself is shown.
    key: str | None = None


def place_labels(points: list[tuple[float, float]], names: list[str], area: tuple[float, float]) -> list[Label]:
    """A label per point, in pixels (x right, y down), inside `area` (width, height) where possible.

    No label box meets another label or a point. A name goes beside its point when a spot within
    NAME_REACH gaps is free and no leader line would cross a label; every other point is labelled
    with a number (1, 2, ... left to right), placed the same way but anywhere in the area,
    preferring spots whose leader crosses the fewest labels. Only when the area is full does a
    label go below everything placed so far.
    """
    if len(points) != len(names):
        raise ValueError(f"{len(points)} points for {len(names)} labels")
    width, height = area
    markers = [Box(x - POINT_RADIUS_PX, y - POINT_RADIUS_PX, x + POINT_RADIUS_PX, y + POINT_RADIUS_PX)
               for x, y in points]
    placed: dict[int, Box] = {}
    leaders: list[tuple[tuple[float, float], tuple[float, float]]] = []

    def crossings(i: int, box: Box) -> int | None:
        """None where the box cannot go (outside the area, on a label or a point); else how many
        placed labels its leader crosses plus how many placed leaders cross it."""
        if box.left < 0 or box.right > width or box.top < 0 or box.bottom > height:
            return None
        if any(box.intersects(t) for t in [*placed.values(), *markers]):
            return None
        own = leader(points[i], box)
        return sum(t.crossed_by(*own) for t in placed.values()) + sum(box.crossed_by(*line) for line in leaders)

    def ring(i: int, text: str, reach: int) -> list[Box]:
        x, y = points[i]
        return [candidate(x, y, label_size(text), direction, distance)
                for distance in DISTANCES if distance <= reach for direction in DIRECTIONS]

    def grid(i: int, text: str) -> list[Box]:
        """Every spot of the area on a half-line grid, nearest the point first."""
        x, y = points[i]
        size, step = label_size(text), LINE_HEIGHT_PX / 2
        spots = [Box(left, top, left + size[0], top + size[1])
                 for left in [k * step for k in range(int((width - size[0]) // step) + 1)]
                 for top in [k * step for k in range(int((height - size[1]) // step) + 1)]]
        return sorted(spots, key=lambda b: ((b.left + b.right) / 2 - x) ** 2 + ((b.top + b.bottom) / 2 - y) ** 2)

    def put(i: int, box: Box) -> None:
        placed[i] = box
        leaders.append(leader(points[i], box))

    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    labels: dict[int, Label] = {}
    for i in order:  # names, only right beside their points
        box = next((b for b in ring(i, names[i], NAME_REACH) if crossings(i, b) == 0), None)
        if box is not None:
            put(i, box)
            labels[i] = Label(names[i], box)
    for number, i in enumerate((i for i in order if i not in labels), start=1):
        text = str(number)
        best: tuple[int, Box] | None = None
        for spots in (ring(i, text, DISTANCES[-1]), None):  # the grid only when the ring has no clear spot
            for box in spots if spots is not None else grid(i, text):
                count = crossings(i, box)
                if count is not None and (best is None or count < best[0]):
                    best = (count, box)
                    if count == 0:
                        break
            if best is not None and best[0] == 0:
                break
        if best is None:
            x, size = points[i][0], label_size(text)
            floor = max(b.bottom for b in [*placed.values(), *markers]) + GAP_PX
            left = min(max(0.0, x - size[0] / 2), max(0.0, width - size[0]))
            best = (0, Box(left, floor, left + size[0], floor + size[1]))
        put(i, best[1])
        labels[i] = Label(text, best[1], names[i])
    return [labels[i] for i in range(len(points))]

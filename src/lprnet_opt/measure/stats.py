"""The statistics the report decides from: how sure an accuracy, a difference between two
variants on the same plates, and a speedup are.

Pure functions of counts and numbers (no numpy beyond the bootstrap), each checked against
worked values in tests/test_stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal
ALPHA = 0.05
# Bootstrap settings, recorded with every interval they produce (timing.json).
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 4000


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion: unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0/n or n/n (Newcombe 1998, method 3)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}], got {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Clamp rounding (e.g. 1.0000000000000002 at n/n); the exact ends are 0 and 1 there.
    return max(0.0, centre - half) if successes else 0.0, min(1.0, centre + half) if successes < n else 1.0


def discordant_pairs(variant_correct: Sequence[bool], baseline_correct: Sequence[bool]) -> tuple[int, int]:
    """Plates the variant reads right and the baseline wrong (gained), and the reverse (lost)."""
    if len(variant_correct) != len(baseline_correct):
        raise ValueError(f"paired vectors differ in length: {len(variant_correct)} and {len(baseline_correct)}")
    gained = sum(1 for v, b in zip(variant_correct, baseline_correct) if v and not b)
    lost = sum(1 for v, b in zip(variant_correct, baseline_correct) if b and not v)
    return gained, lost


def paired_difference_interval(lost: int, gained: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """95% interval of (lost - gained) / n for paired plates: Agresti and Min's adjusted Wald
    interval (half a plate added to each discordant count). The plain Wald interval collapses
    to [0, 0] when no plate changed, which on 186 real calibration plates claimed a certainty
    the counts do not hold."""
    b, c, m = lost + 0.5, gained + 0.5, n + 2
    centre = (b - c) / m
    half = z * math.sqrt(max((b + c) / m - centre * centre, 0.0) / m)
    return centre - half, centre + half


def paired_drop(source_correct: Sequence[bool], candidate_correct: Sequence[bool]) -> dict:
    """A candidate's accuracy drop against its source on the same plates, in points, with the
    95% interval of that paired difference (`paired_difference_interval`): what an accuracy
    budget (`max_drop`) is judged by."""
    gained, lost = discordant_pairs(candidate_correct, source_correct)
    return drop_from_counts(lost, gained, len(source_correct))


def drop_from_counts(lost: int, gained: int, n: int) -> dict:
    """`paired_drop` from its counts: plates lost and gained of n paired plates."""
    low, high = paired_difference_interval(lost, gained, n)
    return {"drop_pt": 100 * (lost - gained) / n, "drop_ci_pt": [100 * low, 100 * high], "lost": lost,
            "gained": gained, "images": n}


# The four verdicts of a paired drop against an accuracy budget, from its 95% interval.
VERDICTS = ("within", "consistent", "inconclusive", "over")


def budget_verdict(drop: dict, max_drop: float) -> str:
    """A paired drop (`paired_drop`) against a budget in points: "within" when the interval's
    upper end is at most the budget, "over" when its lower end exceeds it, and when the interval
    holds the budget, "consistent" (estimate at most the budget) or "inconclusive" (above it).
    "Not significant" is none of these: a drop whose interval holds the budget is not within it."""
    low, high = drop["drop_ci_pt"]
    if high <= max_drop + 1e-9:
        return "within"
    if low > max_drop + 1e-9:
        return "over"
    return "consistent" if drop["drop_pt"] <= max_drop + 1e-9 else "inconclusive"


Z_80_POWER = 0.8416212335729143  # the 80% quantile of the standard normal


def plates_to_separate(drop: dict, max_drop: float, z: float = Z_95, z_power: float = Z_80_POWER) -> int | None:
    """Paired plates at which a test of the drop against the budget would succeed with 80%
    power, if the true drop and the share of changed plates were what was observed: the paired
    interval's half width is z * sqrt((d - delta^2) / n), with d the (adjusted) share of changed
    plates and delta the drop, so n >= (z + z_power)^2 (d - delta^2) / (delta - budget)^2
    (docs/goal.md). Without z_power (0) it is the count at which the *expected* interval edge
    touches the budget: about 50% power. None when the estimate equals the budget: no number
    of plates separates them."""
    n = drop["images"]
    changed = (drop["lost"] + drop["gained"] + 1) / (n + 2)  # the half plates of paired_difference_interval
    delta, gap = drop["drop_pt"] / 100, (drop["drop_pt"] - max_drop) / 100
    if abs(gap) < 1e-9:
        return None
    return math.ceil((z + z_power) ** 2 * max(changed - delta * delta, 0.0) / (gap * gap))


def verdict_sentence(drop: dict, max_drop: float) -> str:
    """The verdict in words, with the counts, and for an interval that holds the budget how many
    plates would tell them apart."""
    verdict = budget_verdict(drop, max_drop)
    low, high = drop["drop_ci_pt"]
    text = (f"{verdict}: drop {drop['drop_pt']:.2f} pt [{low:.2f}, {high:.2f}] ({drop['lost']} lost, "
            f"{drop['gained']} gained of {drop['images']} plates) against a budget of {max_drop:g} pt")
    if verdict in ("consistent", "inconclusive"):
        needed = plates_to_separate(drop, max_drop)
        text += ("; cannot be separated at this drop" if needed is None else
                 f"; about {needed} plates at this rate of changed plates would separate them with 80% power")
    return text


def mcnemar_exact(gained: int, lost: int) -> float:
    """Exact McNemar test: two-sided binomial test of the discordant pairs against p = 1/2.

    Plates both read alike carry no information about a difference. With few discordant
    pairs the chi-square version is wrong, and a 2-core evaluation of a few hundred plates
    usually has few.
    """
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_median_interval(values: Sequence[float], seed: int = BOOTSTRAP_SEED,
                              resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median; the same seed gives the same interval.

    With the few rounds of a timing run (5 by default) the interval is wide and close to
    the range of the values: it says how little a handful of rounds pins a ratio down.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    medians = np.median(data[rng.integers(0, data.size, size=(resamples, data.size))], axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(medians, tail)), float(np.percentile(medians, 100 - tail))


def bootstrap_grouped_median_interval(values: Sequence[float], groups: Sequence[int] | None = None,
                                      seed: int = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES,
                                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of values that come in groups (a timing
    run's rounds in sets of fresh processes): each resample draws the groups with replacement,
    then within each drawn group its values with replacement (a two-stage bootstrap). Rounds of
    one set share its processes, so a plain bootstrap over them would treat what one process
    happened to get (eager's round medians ranged 3.65-5.73 ms across fresh processes on an
    idle machine, docs/timing-protocol.md) as if every round had drawn it afresh. Without
    groups, or with one, it is `bootstrap_median_interval`. The same seed gives the same interval.
    """
    data = np.asarray(values, dtype=float)
    labels = np.zeros(data.size, dtype=int) if groups is None else np.asarray(groups)
    members = [data[labels == g] for g in np.unique(labels)]
    if len(members) <= 1:
        return bootstrap_median_interval(data, seed, resamples, level)
    # Vectorised: groups padded with NaN to the largest, drawn slots of a padded group left NaN.
    sizes = np.array([m.size for m in members])
    padded = np.full((len(members), sizes.max()), np.nan)
    for g, m in enumerate(members):
        padded[g, :m.size] = m
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(members), size=(resamples, len(members)))
    picks = np.floor(rng.random((resamples, len(members), sizes.max())) * sizes[drawn][..., None]).astype(int)
    samples = padded[drawn[..., None], picks]
    samples[np.arange(sizes.max()) >= sizes[drawn][..., None]] = np.nan
    medians = np.nanmedian(samples.reshape(resamples, -1), axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(medians, tail)), float(np.percentile(medians, 100 - tail))


def difference_in_words(variant_accuracy: float, baseline_accuracy: float, gained: int, lost: int, p_value: float,
                        n: int, alpha: float = ALPHA) -> str:
    """One sentence on a variant against the baseline, e.g. "-1.2 pt (5 plates lost, 0
    gained), p = 0.06: not significant with 414 plates"."""
    points = (variant_accuracy - baseline_accuracy) * 100
    if gained == lost == 0:
        return f"same plates as the baseline on all {n}"
    verdict = "significant" if p_value < alpha else "not significant"
    return (f"{points:+.1f} pt ({lost} plate{'s' * (lost != 1)} lost, {gained} gained), p = {p_value:.2g}: "
            f"{verdict} with {n} plates")


def is_significant_loss(lost: int, gained: int, p_value: float, alpha: float = ALPHA) -> bool:
    return lost > gained and p_value < alpha

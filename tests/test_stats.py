"""The report's statistics against textbook values."""

from __future__ import annotations

import numpy as np
import pytest

from lprnet_opt.measure.stats import (bootstrap_grouped_median_interval, bootstrap_median_interval, budget_verdict,
                                     difference_in_words, discordant_pairs, drop_from_counts, is_significant_loss,
                                     mcnemar_exact, paired_difference_interval, plates_to_separate, wilson_interval)


def test_wilson_interval_at_the_ends_is_not_zero_width():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)


def test_wilson_interval_textbook_case():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    # And 15/148 -> 0.0624 to 0.1605 from the same table.
    low, high = wilson_interval(15, 148)
    assert low == pytest.approx(0.0624, abs=1e-4) and high == pytest.approx(0.1605, abs=1e-4)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_mcnemar_with_no_discordant_pairs_is_one():
    assert mcnemar_exact(0, 0) == 1.0


def test_mcnemar_textbook_cases():
    # 5 lost, 0 gained: two-sided binomial 2 * (1/2)^5 = 0.0625.
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert mcnemar_exact(5, 0) == pytest.approx(0.0625)
    # 1 vs 9: 2 * (1 + 10) / 1024 = 0.021484375 (scipy.stats.binomtest(1, 10).pvalue).
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375)
    # Balanced discordance is no evidence at all.
    assert mcnemar_exact(3, 3) == 1.0


def test_discordant_pairs_count_gains_and_losses():
    variant = [True, True, False, False, True]
    baseline = [True, False, True, False, False]
    assert discordant_pairs(variant, baseline) == (2, 1)
    with pytest.raises(ValueError, match="length"):
        discordant_pairs([True], [True, False])


def test_bootstrap_is_deterministic_under_a_fixed_seed():
    values = list(np.random.default_rng(1).normal(1.0, 0.1, 24))  # an even count: medians interpolate
    first = bootstrap_median_interval(values, seed=7)
    assert first == bootstrap_median_interval(values, seed=7)
    assert first != bootstrap_median_interval(values, seed=8)  # the seed, not chance, makes it repeat
    low, high = first
    assert min(values) < low <= float(np.median(values)) <= high < max(values)
    assert bootstrap_median_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_bootstrap_of_five_rounds_spans_their_range():
    """With 5 rounds the median's 95% interval is the whole range: the median is the smallest
    value in 5.8% of resamples, more than the 2.5% tail."""
    assert bootstrap_median_interval([0.31, 0.29, 0.35, 0.30, 0.42]) == (0.29, 0.42)


def test_difference_in_words_says_when_a_drop_is_noise():
    sentence = difference_in_words(0.8816, 0.8937, gained=0, lost=5, p_value=mcnemar_exact(0, 5), n=414)
    assert sentence == "-1.2 pt (5 plates lost, 0 gained), p = 0.062: not significant with 414 plates"
    assert not is_significant_loss(5, 0, mcnemar_exact(0, 5))
    assert is_significant_loss(9, 1, mcnemar_exact(1, 9))
    assert not is_significant_loss(1, 9, mcnemar_exact(1, 9))  # a significant gain is no loss


def test_paired_interval_on_agrestis_presidential_approval_example():
    """Agresti, Categorical Data Analysis (2002), Table 10.1: 1600 people asked twice; 150 approved
    then disapproved, 86 the reverse. Difference 0.040, Wald interval (0.021, 0.059) in the book.
    Agresti and Min's adjustment adds 0.5 to each cell: b = 150.5, c = 86.5, m = 1602;
    centre 64/1602 = 0.039950; variance ((237/1602) - 0.039950^2) / 1602 = 9.1351e-5; half width
    1.96 * 0.0095578 = 0.018733: (0.021217, 0.058683), by hand."""
    low, high = paired_difference_interval(lost=150, gained=86, n=1600)
    assert low == pytest.approx(0.021217, abs=2e-6) and high == pytest.approx(0.058683, abs=2e-6)
    assert round(low, 3) == 0.021 and round(high, 3) == 0.059  # the book's Wald interval, to its digits


def test_verdicts_of_a_worked_drop():
    """10 lost, 2 gained of 200: drop 4 pt; b = 10.5, c = 2.5, m = 202: centre 3.9604 pt, half width
    1.96 * sqrt((13/202 - 0.039604^2) / 202) = 3.4555 pt: [0.505, 7.416] pt, by hand."""
    drop = drop_from_counts(lost=10, gained=2, n=200)
    assert drop["drop_pt"] == 4.0
    assert drop["drop_ci_pt"] == pytest.approx([0.5049, 7.4159], abs=1e-4)
    assert [budget_verdict(drop, b) for b in (8.0, 5.0, 3.0, 0.4)] == ["within", "consistent", "inconclusive", "over"]
    assert budget_verdict(drop, 7.4158) == "consistent" and budget_verdict(drop, 7.4159) == "within"


def test_plates_to_separate_a_worked_drop_at_80_percent_power():
    """The same drop against 1 pt: changed share d = 13/202 = 0.064356, delta = 0.04, gap 0.03;
    n = (1.96 + 0.8416)^2 (d - delta^2) / gap^2 = 7.84888 * 0.062756 / 0.0009 = 547.3, so 548 plates;
    at 50% power (z_power 0) 3.84146 * 0.062756 / 0.0009 = 267.9, so 268."""
    drop = drop_from_counts(lost=10, gained=2, n=200)
    assert plates_to_separate(drop, 1.0) == 548
    assert plates_to_separate(drop, 1.0, z_power=0.0) == 268
    assert plates_to_separate(drop, 4.0) is None


def test_grouped_bootstrap_widens_the_interval_by_what_the_groups_differ():
    """Rounds of two process sets, one set a tenth slower: resampling the sets spans both levels,
    resampling rounds alone pins the median between them."""
    values = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.10, 1.11, 1.09, 1.10, 1.12, 1.08]
    groups = [0] * 6 + [1] * 6
    grouped = bootstrap_grouped_median_interval(values, groups)
    plain = bootstrap_median_interval(values)
    assert grouped[0] <= 1.00 and grouped[1] >= 1.10
    assert grouped[1] - grouped[0] > plain[1] - plain[0]
    assert bootstrap_grouped_median_interval(values, [0] * 12) == plain  # one group: the plain bootstrap
    assert bootstrap_grouped_median_interval(values, groups) == grouped  # fixed seed

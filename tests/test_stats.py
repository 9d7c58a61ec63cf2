"""The report's statistics against textbook values."""

from __future__ import annotations

import numpy as np
import pytest

from lprnet_opt.measure.stats import (bootstrap_median_interval, difference_in_words, discordant_pairs, is_significant_loss,
                              mcnemar_exact, wilson_interval)


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

"""The plain cumulative histogram the CDR writer and the loop-lag probe record into."""

from __future__ import annotations

import pytest

from ccd.metrics.histogram import Histogram


def test_samples_fall_in_the_first_bucket_at_or_above_them_and_accumulate() -> None:
    histogram = Histogram((0.1, 1.0))
    for sample in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(sample)
    # Prometheus' buckets are "less than or equal": 0.1 belongs to le=0.1.
    assert histogram.cumulative() == [(0.1, 2), (1.0, 3), (float("inf"), 4)]
    assert histogram.count == 4
    assert histogram.sum == pytest.approx(3.65)


def test_an_empty_histogram_has_every_bucket_at_zero() -> None:
    assert Histogram((1.0,)).cumulative() == [(1.0, 0), (float("inf"), 0)]


@pytest.mark.parametrize("buckets", [(), (1.0, 1.0), (2.0, 1.0)])
def test_buckets_must_increase_strictly(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        Histogram(buckets)

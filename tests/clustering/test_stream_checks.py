"""scikit-learn's estimator checks on the stream clusterer."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from clustering.stream import StreamClusterer

# Checks that cannot hold for an online clusterer of count data, and why.
# The model clusters non-negative counts (a multinomial mixture); check_clustering feeds standardised blobs
# with negative values and expects k-means-like geometry on them.
EXPECTED_FAILURES: dict[str, str] = {
    "check_clustering": "count model: standardised (negative) Gaussian blobs are not its input",
    "check_clustering(readonly_memmap=True)": "count model: standardised (negative) Gaussian blobs are not its input",
}


@parametrize_with_checks([StreamClusterer()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_compatible(estimator: StreamClusterer, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)

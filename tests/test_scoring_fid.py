"""FID arithmetic against pytorch-fid's own function and hand-computed Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from reidkit.errors import DatasetError
from reidkit.scoring.fid import fid_from_activations, frechet_distance, statistics


def _sets(n1: int, n2: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dims, dims)) / np.sqrt(dims)
    a = rng.normal(size=(n1, dims)) @ mix + 0.3
    b = rng.normal(size=(n2, dims)) @ (mix * 1.2) + 0.1
    return a, b


def test_frechet_distance_equals_pytorch_fid():
    a, b = _sets(400, 300, 48)
    stats = (*statistics(a), *statistics(b))
    ours = frechet_distance(*stats)
    theirs = calculate_frechet_distance(*stats)
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9)
    assert ours > 0.1


def test_statistics_match_numpy_float64():
    a, _ = _sets(50, 2, 8)
    mu, sigma = statistics(a.astype(np.float32))
    assert mu.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(a.astype(np.float32).astype(np.float64).T))


def test_one_dimensional_gaussians_by_hand():
    # FID of N(m1, s1²) and N(m2, s2²) is (m1 - m2)² + (s1 - s2)².
    value = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]]))
    assert value == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


@pytest.mark.parametrize("n1,n2", [(6, 9), (9, 6), (12, 400)])
def test_sample_space_route_equals_feature_space(n1, n2):
    # Fewer images than dimensions: singular covariances, the trace term is taken in sample space.
    a, b = _sets(n1, n2, 32, seed=n1)
    direct = frechet_distance(*statistics(a), *statistics(b))
    assert fid_from_activations(a, b) == pytest.approx(direct, rel=1e-7)


def test_sample_space_route_equals_pytorch_fid_on_singular_covariances():
    a, b = _sets(7, 10, 24, seed=3)
    theirs = calculate_frechet_distance(*statistics(a), *statistics(b))
    assert fid_from_activations(a, b) == pytest.approx(theirs, rel=1e-6)


def test_identical_sets_give_zero_and_order_does_not_matter():
    a, b = _sets(20, 30, 16)
    assert fid_from_activations(a, a) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_activations(a, b) == pytest.approx(fid_from_activations(b, a), rel=1e-12)


def test_single_image_set_is_refused():
    a, b = _sets(1, 5, 4)
    with pytest.raises(DatasetError, match="at least 2"):
        fid_from_activations(a, b)

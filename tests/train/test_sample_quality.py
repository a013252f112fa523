"""Inception Score and Fréchet distance against cases with known answers; the classifier's pieces."""

import math

import pytest
import torch

from train.models.classifier import Classifier, ClassifierConfig
from train.sample_quality import frechet_distance, inception_score
from train.train_classifier import random_shift


def test_inception_score_extremes():
    confident_balanced = torch.eye(10, dtype=torch.float64).repeat(100, 1)  # every class, each predicted surely
    assert inception_score(confident_balanced, splits=1)[0] == pytest.approx(10.0)
    one_class = torch.zeros(1000, 10, dtype=torch.float64)
    one_class[:, 3] = 1
    assert inception_score(one_class, splits=1)[0] == pytest.approx(1.0)
    unsure = torch.full((1000, 10), 0.1, dtype=torch.float64)
    assert inception_score(unsure, splits=1)[0] == pytest.approx(1.0)
    two = torch.eye(10, dtype=torch.float64)[[0, 1] * 500]
    assert inception_score(two, splits=5)[0] == pytest.approx(2.0)


def test_frechet_distance_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 4, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # N(0, I) vs N(m, s² I): FD = ‖m‖² + d (1 − s)²
    b = 3.0 * torch.randn(20000, 4, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0, 0, 2.0])
    assert frechet_distance(a, b) == pytest.approx(5.0 + 4 * (1 - 3) ** 2, rel=0.03)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_random_shift_moves_without_losing_ink():
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 10:18, 10:18] = 1.0
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)))
    assert not torch.equal(y, x)
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_classifier_shapes():
    clf = Classifier(ClassifierConfig()).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert clf(x).shape == (5, 10) and clf.features(x).shape == (5, 128)
        assert math.isfinite(float(clf(x).sum()))

"""The 2-D data sets and the energy distance (train/data2d.py)."""

import itertools

import pytest
import torch

from train.data2d import DATASETS, energy_distance, sample


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_set_is_seeded_finite_and_on_the_lab_s_scale(name):
    a, b = (sample(name, 3000, torch.Generator().manual_seed(4)) for _ in range(2))
    assert a.shape == (3000, 2) and a.dtype == torch.float64 and torch.equal(a, b)
    assert torch.isfinite(a).all() and a.abs().max() < 4 and 0.3 < a.std(0).min() < 2


def test_the_checkerboard_fills_only_its_black_squares():
    p = sample("checkerboard", 5000, torch.Generator().manual_seed(0)) + 2.0  # [0, 4]²
    col, row = p[:, 0].floor().long(), p[:, 1].floor().long()
    assert ((col + row) % 2 == 0).all()
    counts = torch.bincount(4 * row + col, minlength=16)
    assert (counts[(torch.arange(16) // 4 + torch.arange(16) % 4) % 2 == 1] == 0).all()


def test_energy_distance_is_its_definition_and_tells_sets_apart():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 2, generator=g, dtype=torch.float64), torch.randn(30, 2, generator=g, dtype=torch.float64)

    def mean(a, b):
        return sum(float((p - q).norm()) for p, q in itertools.product(a, b)) / (len(a) * len(b))

    assert energy_distance(x, y, chunk=7) == pytest.approx(2 * mean(x, y) - mean(x, x) - mean(y, y), rel=1e-12)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    a, b = (sample("moons", 2000, torch.Generator().manual_seed(s)) for s in (2, 3))
    floor, shifted = energy_distance(a, b), energy_distance(a, b + torch.tensor([0.3, 0.0], dtype=torch.float64))
    assert 0 <= floor < 0.01 < shifted  # two draws of one set sit at the floor; a shift of 0.3 does not
    with pytest.raises(ValueError, match="unknown 2-D data set 'rings'"):
        sample("rings", 10)


def test_the_checkerboards_entropy_is_that_of_a_uniform_density_on_its_squares():
    """ENTROPY['checkerboard'] = log 8: the points fill exactly 8 of the 16 unit squares of [−2, 2]², evenly."""
    import math

    from train.data2d import ENTROPY

    x = sample("checkerboard", 160_000, torch.Generator().manual_seed(0))
    cells = torch.floor(x + 2).long()
    counts = torch.bincount(cells[:, 1] * 4 + cells[:, 0], minlength=16)
    filled = counts[counts > 0]
    assert len(filled) == 8 and (filled - 20_000).abs().max() < 600  # 8 squares, ~20,000 each (±4σ)
    assert ENTROPY["checkerboard"] == math.log(len(filled))  # log of the area, 8 unit squares

"""Power spectra (train/spectrum.py) against images whose spectrum is known by construction."""

import math

import pytest
import torch

from train.spectrum import crossover, radial_power


def test_a_cosine_puts_all_its_power_on_its_own_ring_and_parseval_holds():
    n, f = 28, 5
    xs = torch.arange(n, dtype=torch.float64)
    img = torch.cos(2 * math.pi * f * xs / n)[None, :].expand(n, n)  # f cycles across, constant down
    k, p = radial_power(img)
    assert k.tolist() == list(range(15))
    assert p[f] > 0 and torch.all(p[torch.arange(15) != f] < 1e-20)
    # its two DFT coefficients (±f) hold all the energy Σx² = n²/2; ring f has as many cells as round(r) = f gives
    freq = torch.fft.fftfreq(n, d=1 / n)
    ring = (torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).round() == f).sum()
    assert float(p[f]) * int(ring) == pytest.approx(n * n / 2)
    rnd = torch.randn(3, n, n, generator=torch.Generator().manual_seed(0))
    full = torch.fft.fft2(rnd, norm="ortho").abs().pow(2).sum((-2, -1))
    assert torch.allclose(full, rnd.pow(2).sum((-2, -1)))  # the orthonormal DFT that radial_power uses keeps energy


def test_white_noise_is_flat_at_its_variance():
    sigma = 0.7
    noise = sigma * torch.randn(4000, 28, 28, generator=torch.Generator().manual_seed(1))
    _, p = radial_power(noise)
    assert p.mean(0)[1:].tolist() == pytest.approx([sigma**2] * 14, rel=0.05)


def test_the_crossover_is_where_the_scaled_signal_meets_the_noise():
    k = torch.arange(15, dtype=torch.float64)
    power = 100.0 * (k.clamp_min(1) ** -2.0)  # P(k) = 100 / k²
    abar = 0.5  # noise 0.5 meets 0.5 · 100 / k² at k = 10
    assert crossover(k, power, abar) == pytest.approx(10.0, abs=0.6)
    assert crossover(k, power, 1.0) is None and crossover(k, power, 0.9999) is None  # the signal wins everywhere
    assert crossover(k, power, 1e-4) == 1.0  # the noise wins at the coarsest ring
    with pytest.raises(ValueError, match="square"):
        radial_power(torch.zeros(28, 20))

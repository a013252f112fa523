"""Radially averaged power spectra of images, and where the forward process's noise overtakes a digit's signal.

With the orthonormal 2-D DFT, F = fft2(x) / √(HW), Parseval holds (Σ|F|² = Σx²) and white noise of variance σ²
has E|F_k|² = σ² at every frequency k: a flat spectrum. An image's power P(k) is |F_k|² averaged over the ring of
frequencies whose radius rounds to k cycles per image (k = 0 is the mean; k = H/2 the finest a 28-pixel side holds).

The forward process z_t = √ᾱ_t x + √(1−ᾱ_t) ε keeps every frequency's share of the signal and adds flat noise:
E P_{z_t}(k) = ᾱ_t P_x(k) + (1 − ᾱ_t) (the cross term has mean 0). Digits, like natural images, have far less power
at high k than at low k, so the noise overtakes the signal at high frequencies first: at step t the signal still
dominates below the frequency k*(t) where ᾱ_t P_x(k) = 1 − ᾱ_t, and the reverse process, run from t = T down, fills
the spectrum in from low k to high k (Dieleman 2024, "Diffusion is spectral autoregression"). Per frequency the
signal-to-noise ratio is ᾱ_t P_x(k) / (1 − ᾱ_t) (Falck et al. 2025, "A Fourier Space Perspective on Diffusion
Models", who read the same hierarchy as a bias of white noise, not a design: high frequencies are noised earlier,
and their reverse steps fit the Gaussian assumption worse).

Imports only torch.
"""

from __future__ import annotations

import torch


def radial_power(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, P): the frequencies 0 … H//2 in cycles per image, (K,), and each image's ring-averaged power |F_k|² with
    the orthonormal DFT, (..., K). x: (..., H, W), H = W. Frequencies beyond H//2 (the square's corners) are left
    out."""
    H, W = x.shape[-2:]
    if H != W:
        raise ValueError(f"a square image is needed, not {H} × {W}")
    f = torch.fft.fft2(x.double(), norm="ortho")
    power = f.real**2 + f.imag**2  # (..., H, W)
    freq = torch.fft.fftfreq(H, d=1.0 / H, dtype=torch.float64)  # integer cycles per image: 0, 1, …, −1
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).round().long()  # (H, W)
    K = H // 2 + 1
    inside = radius < K
    ring = radius[inside]
    counts = torch.bincount(ring, minlength=K).double()  # (K,)
    flat = power[..., inside]  # (..., n)
    sums = torch.zeros((*flat.shape[:-1], K), dtype=torch.float64).index_add_(-1, ring, flat)
    return torch.arange(K, dtype=torch.float64), sums / counts


def crossover(k: torch.Tensor, power: torch.Tensor, abar: float) -> float | None:
    """k*(t): the lowest frequency k ≥ 1 at which the noise's power 1 − ᾱ reaches the signal's ᾱ·P(k) (the signal
    wins below it), interpolated between rings on log power; None when the signal wins everywhere (t near 0) and
    k = 1 when the noise already wins at the coarsest ring. k, power: (K,) as `radial_power` gives for one image."""
    if abar >= 1.0:
        return None
    noise = 1.0 - abar
    signal = abar * power
    for i in range(1, len(k)):
        if signal[i] <= noise:
            if i == 1:
                return float(k[1])
            a, b = torch.log(signal[i - 1] / noise), torch.log(signal[i] / noise)  # a > 0 ≥ b
            return float(k[i - 1] + (k[i] - k[i - 1]) * a / (a - b))
    return None

"""The in-session VAE trainer (train/fit_vae.py): it learns, and its three numbers agree with independent routes."""

import math

import pytest
import torch

from train.data import load_split
from train.fit_vae import fit, lr_at, scores
from train.models.vae import VAE, VAEConfig, posterior_grid


def test_training_raises_the_elbo_and_ends_each_epoch_once(synthetic_data):
    images = load_split("mnist", True, synthetic_data).flat()  # (256, 784)
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden_dim=32, n_layers=1))
    steps = list(fit(model, images, epochs=3, batch_size=64, seed=1))
    assert len(steps) == 12 and [s[3] for s in steps].count(True) == 3 and steps[-1][:2] == (3, 12)
    first, last = sum(s[2] for s in steps[:4]) / 4, sum(s[2] for s in steps[-4:]) / 4
    assert last > first + 20, (first, last)
    assert not model.training  # left in eval mode
    assert lr_at(1e-3, 0, 10) == pytest.approx(1e-3) and lr_at(1e-3, 10, 10) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="outside"):
        next(fit(model, images, 1, beta=-1))


def test_the_scores_are_ordered_and_the_exact_value_matches_another_quadrature(vae2d, model_digits):
    s = scores(vae2d, model_digits[:2], k=200, elbo_samples=200)
    assert s.elbo < s.iwae + 0.05 and s.elbo < s.exact  # ELBO ≤ log p(x); IWAE ≤ log p(x) in expectation
    assert s.iwae == pytest.approx(s.exact, abs=0.5)
    other = posterior_grid(vae2d, model_digits[:2], fine=241).log_px.double().mean()  # one shared box, fine grid
    assert s.exact == pytest.approx(float(other), abs=0.02)
    assert math.isfinite(s.elbo) and s.k == 200

"""The 2-D diffusion model (train/models/ddpm2d.py): the image model's forward process and samplers, reused as they
are on points in the plane, and a short training that learns the exact noise prediction of a mixture
(train/mixture2d.py)."""

import math

import pytest
import torch

from train import checkpoint as ckpt
from train.mixture2d import MIXTURES, eps_star
from train.models.ddpm2d import DDPM2D, DDPM2DConfig

TINY = DDPM2DConfig(hidden=64, layers=3, time_dim=16, timesteps=100)


def test_the_image_models_samplers_run_on_points(tmp_path):
    """One GaussianDiffusion for images and points: DDPM over all T steps and DDIM with η from 0 to 1 take (B, 2)."""
    torch.manual_seed(0)
    model = DDPM2D(TINY).eval()
    d, g = model.diffusion, torch.Generator().manual_seed(0)
    for steps in (list(d.ddpm_sample_progressive(model, (8, 2), g, clip=False)),
                  list(d.ddim_sample_progressive(model, (8, 2), 10, 0.0, g, clip=False)),
                  list(d.ddim_sample_progressive(model, (8, 2), 10, 1.0, g, clip=False))):
        assert steps[-1].z_prev.shape == (8, 2) and torch.isfinite(steps[-1].z_prev).all()
    assert len(list(d.ddpm_sample_progressive(model, (8, 2), g, clip=False))) == TINY.timesteps
    path = ckpt.save_checkpoint(tmp_path / "m.safetensors", model, "ddpm2d", {})
    again = ckpt.load_checkpoint(path)
    z, t = torch.randn(5, 2), torch.tensor([0, 10, 50, 99, 3])
    assert torch.equal(again(z, t), model(z, t))  # the config saved with the weights rebuilds it
    with pytest.raises(ValueError, match="even time_dim"):
        DDPM2D(DDPM2DConfig(time_dim=3))


def test_training_learns_the_exact_noise_prediction_of_a_mixture():
    """Ho's simple loss on the ring of eight Gaussians: the loss falls, and at a middle noise level the network's ε_θ
    comes close to the exact ε* = −√(1 − ᾱ) ∇ log q(z_t), far closer than it started."""
    torch.manual_seed(0)
    data, model = MIXTURES["ring8"](), DDPM2D(TINY)
    d, g = model.diffusion, torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    i, a = 40, float(model.diffusion.alphas_cumprod.double()[40])
    probe = math.sqrt(a) * data.sample(2000, g) + math.sqrt(1 - a) * torch.randn(2000, 2, dtype=torch.float64,
                                                                                 generator=g)
    target = eps_star(data, a, probe).float()

    def error() -> float:
        with torch.no_grad():
            return float((model(probe.float(), torch.full((2000,), i)) - target).pow(2).sum(1).mean())

    before, losses = error(), []
    for _ in range(600):
        x = data.sample(256, g).float()
        t = torch.randint(0, d.T, (256,), generator=g)
        loss = d.training_loss(model, x, t, torch.randn(x.shape, generator=g)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-50:]) < 0.8 * sum(losses[:50])
    assert error() < 0.25 * before, (before, error())

"""Fitting a 2-D noise predictor: the loss, the learning-rate schedule and the in-session training loop that the
explorer runs on a user's drawing. Torch only (no data loading, no run folders, no processes), so the app can import
it; train/train_diffusion2d.py builds its full training runs from the same pieces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from train.models.ddpm2d import DDPM2D


def denoising_loss(model: DDPM2D, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """L_simple (Ho eq. 14) of each point: (B,). x, noise: (B, 2); t: (B,) step indices."""
    return model.diffusion.training_loss(model, x, t, noise)


def cosine_lr(lr: float, step: int, total: int) -> float:
    """The learning rate at `step` of `total`: from lr down to lr / 10 along a cosine."""
    return lr * (0.55 + 0.45 * math.cos(math.pi * step / total))


def draw_t_and_noise(model: DDPM2D, x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A step's timesteps (B,) and noise (B, 2) for the batch x, drawn with `g` in this order."""
    return torch.randint(0, model.diffusion.T, (len(x),), generator=g), torch.randn(x.shape, generator=g)


def fit(model: DDPM2D, draw: Callable[[int, torch.Generator], torch.Tensor], steps: int, batch_size: int = 256,
        lr: float = 3e-3, seed: int = 0) -> Iterator[tuple[int, float]]:
    """Train `model` for `steps` steps on fresh batches `draw(batch_size, generator)` ((B, 2) points), yielding
    (step, mean loss) after each, so a caller can stop between steps. Adam with the cosine schedule of the full
    trainer (`python -m train diffusion2d`), one process."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(lr, step, steps)
            x = draw(batch_size, g).float()
            t, noise = draw_t_and_noise(model, x, g)
            loss = denoising_loss(model, x, t, noise)
            opt.zero_grad(set_to_none=True)
            loss.mean().backward()
            opt.step()
            yield step + 1, float(loss.detach().mean())
    finally:
        model.eval()

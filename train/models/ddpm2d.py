"""A diffusion model of points in the plane: a small MLP ε_θ(z_t, t) with a sinusoidal timestep embedding, together
with the fixed forward process it was trained for (train/diffusion.py, the same maths as the image model's).

Two dimensions make everything visible at once: the field −ε_θ(z, t) on a grid, particles flowing along
it under DDPM and DDIM, and, for Gaussian-mixture data, the exact ε* beside it (train/mixture2d.py). Imports only
torch and our torch-only modules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from torch import nn

from train.diffusion import GaussianDiffusion, Schedule
from train.models.unet import timestep_embedding


@dataclass
class DDPM2DConfig:
    hidden: int = field(default=128, metadata={"help": "width of each hidden layer"})
    layers: int = field(default=3, metadata={"help": "hidden layers"})
    time_dim: int = field(default=32, metadata={"help": "size of the sinusoidal timestep embedding"})
    timesteps: int = field(default=1000, metadata={"help": "T, steps of the forward process"})
    schedule: Schedule = field(default="linear", metadata={"help": "noise schedule β_t"})


class DDPM2D(nn.Module):
    """ε_θ(z_t, t) for z_t: (B, 2), t: (B,) integer indices 0 … T−1 (the paper's t − 1, as in GaussianDiffusion)
    -> (B, 2). The point and the embedded time enter the first layer together; SiLU between layers."""

    def __init__(self, config: DDPM2DConfig):
        super().__init__()
        if config.layers < 1 or config.hidden < 1 or config.time_dim < 2 or config.time_dim % 2:
            raise ValueError(f"layers, hidden ≥ 1 and an even time_dim ≥ 2, not {config}")
        self.config = config
        dims = [2 + config.time_dim] + [config.hidden] * config.layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(config.hidden, 2))
        self.diffusion = GaussianDiffusion(config.timesteps, config.schedule)  # buffers only, not saved

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert z.ndim == 2 and z.shape[1] == 2, f"z must be (B, 2), not {tuple(z.shape)}"
        emb = timestep_embedding(t, self.config.time_dim)  # (B, time_dim)
        return self.net(torch.cat([z.float(), emb], dim=1))  # (B, 2)

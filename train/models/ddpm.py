"""A denoising diffusion model: the UNet ε_θ together with the fixed forward process it was trained for.

One checkpoint kind, one config: the UNet's fields plus the schedule, so loading rebuilds both. With
`num_classes > 0` the UNet was trained with labels dropped at random, which gives classifier-free guidance
(Ho & Salimans 2022, eq. 6): ε̃ = (1 + w) ε_θ(z_t, t, y) − w ε_θ(z_t, t, ∅). w = 0 is plain conditional
sampling; y = None is unconditional. Imports only torch and our torch-only modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from train.diffusion import GaussianDiffusion, Schedule
from train.models.unet import UNet, UNetConfig


@dataclass
class DDPMConfig(UNetConfig):
    timesteps: int = field(default=1000, metadata={"help": "T, steps of the forward process"})
    schedule: Schedule = field(default="linear", metadata={"help": "noise schedule β_t"})

    def unet(self) -> UNetConfig:
        return UNetConfig(**{k: v for k, v in asdict(self).items() if k in UNetConfig.__dataclass_fields__})


class DDPM(nn.Module):
    def __init__(self, config: DDPMConfig):
        super().__init__()
        self.config = config
        self.unet = UNet(config.unet())
        self.diffusion = GaussianDiffusion(config.timesteps, config.schedule)  # buffers only, not saved

    def eps_model(self, y: torch.Tensor | None = None, guidance: float = 0.0):
        """ε(z_t, t) for the samplers: conditional on labels y (B,), guided with scale w, or unconditional."""
        if y is None or guidance == 0.0:
            return lambda z, t: self.unet(z, t, y)
        null = torch.full_like(y, self.unet.null_label)

        def guided(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            eps = self.unet(torch.cat([z, z]), torch.cat([t, t]), torch.cat([y, null]))  # one batched call
            cond, uncond = eps.chunk(2)
            return (1 + guidance) * cond - guidance * uncond

        return guided

"""What the diffusion lab's sub-labs share: the chosen digit and the model, as one typed object."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import torch

from explorer.models import Models
from train.diffusion import to_model_range
from train.models.ddpm import DDPM

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def test_digit(models: Models, index) -> torch.Tensor:
    """Test digit `index` in grey levels, as the diffusion model sees it: (1, 1, 28, 28) in [−1, 1]."""
    i = models.test_index(index)
    return to_model_range(models.digits.grey[i].view(1, 1, 28, 28))


@dataclass
class DiffusionControls:
    """What the sub-labs share: the models, the loaded DDPM and the chosen digit (the forward process sets it,
    the ELBO chart reads it), and the buttons that change it."""

    models: Models
    ddpm: DDPM
    digit: gr.State  # (1, 1, 28, 28) in [−1, 1], or None
    pick: gr.Button | None = None
    draw: gr.Button | None = None
    index: gr.Number | None = None  # the forward view's test-digit box

    @property
    def T(self) -> int:
        return self.ddpm.diffusion.T

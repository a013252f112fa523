"""A small MNIST classifier: the feature extractor behind the project's sample-quality scores.

Its logits give the classifier-based Inception Score (Salimans et al. 2016, with this network in place of
Inception) and its penultimate features the Fréchet distance (Heusel et al. 2017, FID with the same
substitution). Input: (B, 1, 28, 28) grey levels in [0, 1]. Imports only torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ClassifierConfig:
    channels: int = field(default=32, metadata={"help": "channels of the first conv layer (the second has twice)"})
    features: int = field(default=128, metadata={"help": "width of the penultimate layer (the Fréchet features)"})
    dropout: float = field(default=0.25, metadata={"help": "dropout before each fully connected layer"})
    num_classes: int = field(default=10, metadata={"help": "classes"})


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.conv1 = nn.Conv2d(1, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.fc1 = nn.Linear(2 * c * 7 * 7, config.features)
        self.fc2 = nn.Linear(config.features, config.num_classes)
        self.dropout = nn.Dropout(config.dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (B, 1, 28, 28) in [0, 1] -> (B, features)."""
        assert x.shape[1:] == (1, 28, 28), x.shape
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, c, 14, 14)
        h = F.max_pool2d(F.relu(self.conv3(F.relu(self.conv2(h)))), 2)  # (B, 2c, 7, 7)
        return F.relu(self.fc1(self.dropout(h.flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, (B, num_classes)."""
        return self.fc2(self.dropout(self.features(x)))

"""What our MNIST classifier reads in a generated digit: the words a screen reader says for an image.

A screen reader cannot see a sampled digit, so each generated image's `alt` text says what the shipped classifier
(checkpoints/classifier.safetensors, the network behind the sample-quality scores; train/models/classifier.py)
reads in it: "the classifier reads 7 (98%)". The percentage is the classifier's softmax probability of that class,
a network's confidence and not a measured frequency; below SURE it says it is unsure and names its two best guesses.
"""

from __future__ import annotations

import torch

SURE = 0.5  # below this top-class probability a digit is read as "unsure"
LISTED = 10  # up to this many images each get their own reading; more are counted per class


@torch.inference_mode()
def probabilities(classifier: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, 784) or (N, 28, 28) or (N, 1, 28, 28) grey levels in [0, 1] -> (N, 10) class probabilities."""
    x = images.detach().float().reshape(-1, 1, 28, 28).clamp(0.0, 1.0)
    return torch.softmax(classifier.eval()(x), dim=1)


def _one(p: torch.Tensor) -> str:
    top = torch.topk(p, 2)
    (a, b), (pa, pb) = top.indices.tolist(), top.values.tolist()
    if pa < SURE:
        return f"unsure: {a} ({pa:.0%}) or {b} ({pb:.0%})"
    return f"{a} ({pa:.0%})"


def describe(probs: torch.Tensor) -> str:
    """The classifier's reading of N images, (N, 10) probabilities, in grid order (left to right, top to bottom).

    One image: "the classifier reads 7 (98%)". Up to LISTED: each in turn. More: how many it reads as each digit,
    and how many it is unsure of."""
    n = probs.shape[0]
    if n == 0:
        return ""
    if n == 1:
        one = _one(probs[0])
        return f"the classifier is {one}" if one.startswith("unsure") else f"the classifier reads {one}"
    if n <= LISTED:
        return "the classifier reads, in order: " + "; ".join(_one(p) for p in probs)
    best, digit = probs.max(dim=1)
    sure = best >= SURE
    counts = torch.bincount(digit[sure], minlength=10).tolist()
    parts = [f"{c}× {d}" for d, c in enumerate(counts) if c]
    unsure = int((~sure).sum())
    text = "the classifier reads " + (", ".join(parts) if parts else "none of them with confidence")
    return text + (f"; unsure of {unsure}" if unsure and parts else "")

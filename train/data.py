"""Datasets: MNIST and Fashion-MNIST through torchvision, binarization, and tiny IDX files for tests.

Binarization follows the convention of Burda et al. (2015) and most VAE likelihood papers:
- training uses *dynamic* binarization: every pixel intensity p ∈ [0, 1] is a fresh Bernoulli(p) draw
  each time the image is seen (`binarize`), which acts as data augmentation;
- evaluation uses one *fixed*, seeded draw of the test set (`load_split(..., binarize_seed=...)`), so
  every number in a checkpoint's card refers to the same binary images.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

Dataset = Literal["mnist", "fashion-mnist"]
DEFAULT_DATA_DIR = Path("data")
TEST_BINARIZE_SEED = 0  # the seed of the fixed binarization of every test split we report on


@dataclass
class Split:
    """A whole split held in memory as intensities in [0, 1]."""

    images: torch.Tensor  # (N, 1, 28, 28) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64
    name: str  # e.g. "mnist/test"

    def flat(self) -> torch.Tensor:
        return self.images.flatten(1)  # (N, 784)


def load_split(
    dataset: Dataset,
    train: bool,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    download: bool = False,
    binarize_seed: int | None = None,
) -> Split:
    """Read a split with torchvision. With `binarize_seed`, images are one fixed Bernoulli draw."""
    import torchvision  # kept out of module scope: model code and the explorer never need it

    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}.get(dataset)
    if cls is None:
        raise ValueError(f"dataset must be 'mnist' or 'fashion-mnist', not {dataset!r}")
    try:
        ds = cls(str(data_dir), train=train, download=download)
    except RuntimeError as e:
        how = "the download failed" if download else "or pass --download to fetch it"
        raise FileNotFoundError(
            f"{dataset} not found under {Path(data_dir).resolve()}: pass --data-dir pointing at a folder that holds "
            f"{cls.__name__}/raw/; {how} ({str(e).strip().splitlines()[0]})"
        ) from None
    images = ds.data.float().div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    if binarize_seed is not None:
        images = binarize(images, torch.Generator().manual_seed(binarize_seed))
    return Split(images, ds.targets.long(), f"{dataset}/{'train' if train else 'test'}")


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One Bernoulli draw per pixel: x_m ~ B(p_m). Same shape, values in {0, 1}."""
    return torch.bernoulli(images, generator=generator)


def batches(n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True):
    """Index tensors covering range(n) in batches; a fresh permutation from `generator` if shuffled."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for s in range(0, n, batch_size):
        yield order[s : s + batch_size]


# --- tiny synthetic data for tests -------------------------------------------------------------

def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format (LeCun): magic 0x0000 08 ndim, big-endian dims, then raw uint8."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_synthetic_mnist(root: str | Path, n_train: int = 256, n_test: int = 64, seed: int = 0,
                          folder: str = "MNIST", compress: bool = False) -> Path:
    """Write a tiny MNIST look-alike in torchvision's raw layout under root/folder/raw.

    Each class c is a bright bar whose position depends on c, plus noise, so a model can learn it
    in a few steps. Returns `root`, ready for `load_split(..., data_dir=root)`.
    """
    rng = np.random.default_rng(seed)
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 4 + 2 * c : 6 + 2 * c, 4:24] = 255
        for name, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            _write_idx(raw / name, arr)
            if compress:
                with gzip.open(raw / f"{name}.gz", "wb") as f:
                    f.write((raw / name).read_bytes())
    return Path(root)


def digits_sha256(x: torch.Tensor) -> str:
    """A fingerprint of binarized digits (N, 784) in {0, 1}: the SHA-256 of their bytes as uint8 (a card's test set,
    which the app compares with the digits it loaded)."""
    import hashlib

    return hashlib.sha256(x.to(torch.uint8).contiguous().numpy().tobytes()).hexdigest()

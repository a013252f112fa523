"""Everything the explorer loads once at start-up, read-only: checkpoints and the MNIST test digits.

A missing or unreadable checkpoint does not stop the app: its tab shows the error and the command
that trains it, and the other tabs work.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from train.checkpoint import CheckpointError, load_checkpoint, read_card
from train.models.ddpm import DDPM
from train.models.ddpm2d import DDPM2D
from train.models.vae import VAE

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINTS = REPO_ROOT / "checkpoints"
DEFAULT_DATA_DIR = REPO_ROOT / "data"

# name shown in the UI -> (file in checkpoints/, the command that trains it); the name says its latent dimension
VAE_CHECKPOINTS = {
    "2-D latent": ("vae_2d.safetensors",
                   "python -m train vae --latent-dim 2 --epochs 150 --threads 1 --data-dir DATA "
                   "--out checkpoints/vae_2d.safetensors"),
    "32-D latent": ("vae_32d.safetensors",
                    "python -m train vae --latent-dim 32 --epochs 250 --kl-warmup 10 --threads 1 --data-dir DATA "
                    "--out checkpoints/vae_32d.safetensors"),
}
VAE_LATENT = {"2-D latent": 2, "32-D latent": 32}

DDPM_CHECKPOINT = ("ddpm.safetensors",
                   "python -m train diffusion --base-channels 16 --channel-mults 1,2,4 --num-res-blocks 2 --epochs 40 "
                   "--bf16 --data-dir DATA --out checkpoints/ddpm.safetensors")

# reads generated digits for their alt text (explorer/reading.py); without it the alt text just omits the reading
CLASSIFIER_CHECKPOINT = ("classifier.safetensors",
                         "python -m train classifier --threads 1 --data-dir DATA "
                         "--out checkpoints/classifier.safetensors")


# the β grid ("β-VAE"): checkpoints/beta/vae_{D}d_beta{β}.safetensors, made by `python -m train vae-grid`
BETA_DIR = "beta"
BETA_COMMAND = "python -m train vae-grid --epochs 40 --data-dir DATA"


# the 2-D diffusion lab's data sets: each has a DDPM2D checkpoints/ddpm2d_NAME.safetensors
PLANE_DATASETS = ("ring8", "uneven3", "moons", "spiral", "checkerboard")
PLANE_COMMAND = "python -m train diffusion2d --data {name} --threads 1 --out checkpoints/ddpm2d_{name}.safetensors"


@dataclass
class TestDigits:
    """The MNIST test set, binarized once with the seed the checkpoints' cards were evaluated on."""

    x: torch.Tensor  # (N, 784) in {0, 1}: binarized with TEST_BINARIZE_SEED, what the VAEs model
    labels: torch.Tensor  # (N,) int64
    source: str  # where it was read from
    grey: torch.Tensor | None = None  # (N, 784) grey levels in [0, 1]: what the diffusion model was trained on


TRAIN_DIGITS = 12_000  # training digits for a VAE trained in a session
_TRAIN_LOCK = threading.Lock()


@dataclass
class Models:
    vaes: dict[str, VAE] = field(default_factory=dict)
    vae_cards: dict[str, dict] = field(default_factory=dict)
    ddpm: DDPM | None = None
    ddpm_card: dict = field(default_factory=dict)
    beta_vaes: dict[tuple[int, float], VAE] = field(default_factory=dict)  # (latent size, β) -> the β grid's VAE
    beta_cards: dict[tuple[int, float], dict] = field(default_factory=dict)
    planes: dict[str, DDPM2D] = field(default_factory=dict)  # data set name -> its 2-D diffusion model
    plane_cards: dict[str, dict] = field(default_factory=dict)
    classifier: torch.nn.Module | None = None  # reads generated digits for screen readers (explorer/reading.py)
    errors: dict[str, str] = field(default_factory=dict)  # checkpoint name -> what is wrong and how to fix it
    warnings: list[str] = field(default_factory=list)  # what is wrong but leaves every model usable (a bad card)
    digits: TestDigits | None = None
    digits_error: str = ""
    data_dir: Path | None = None  # where MNIST was read from (the in-session VAE's training digits come from there)
    _train: torch.Tensor | None = None  # the first TRAIN_DIGITS training digits, uint8 grey levels, once asked for

    def alt(self, text: str, images: torch.Tensor) -> str:
        """An image's alt text: `text`, then what the classifier reads in `images` ((N, 784) or (N, 28, 28) in
        [0, 1], in grid order), e.g. "decoded digit; the classifier reads 7 (98%)". Just `text` without one."""
        from explorer import reading

        if self.classifier is None:
            return text
        return f"{text}; {reading.describe(reading.probabilities(self.classifier, images))}"

    def train_digits(self) -> torch.Tensor:
        """The first TRAIN_DIGITS MNIST training digits, (N, 784) grey levels in [0, 1]: what a VAE trained in a
        session learns from. Read on the first call (kept as uint8, 9 MB), never at start-up."""
        from explorer import checks

        with _TRAIN_LOCK:
            if self._train is None:
                from train.data import load_split

                try:
                    split = load_split("mnist", True, self.data_dir or DEFAULT_DATA_DIR, False)
                except Exception as e:
                    raise checks.InputError(f"The MNIST training digits are not available ({e}); start the app with "
                                            "--data-dir pointing at a folder holding MNIST/raw.") from None
                self._train = (split.flat()[:TRAIN_DIGITS] * 255).round().to(torch.uint8)
            return self._train.float() / 255

    # --- guards: what a handler asks for, or a message that says what is missing -------------------
    def vae(self, name) -> VAE:
        """The VAE the UI calls `name` ("2-D latent", ...)."""
        from explorer import checks

        if isinstance(name, str) and name in VAE_CHECKPOINTS and name not in self.vaes:
            raise checks.InputError(f"The {name} model is unavailable: {self.errors.get(name, 'it did not load')}")
        if not self.vaes:
            raise checks.InputError("No VAE checkpoint is loaded; see the VAE tab for the command that trains one.")
        return self.vaes[checks.choice("Model", name, self.vaes)]

    def diffusion_model(self) -> DDPM:
        from explorer import checks

        if self.ddpm is None:
            raise checks.InputError(self.errors.get("diffusion", "No diffusion checkpoint is loaded."))
        return self.ddpm

    def plane(self, name) -> DDPM2D:
        """The 2-D diffusion model trained on data set `name` ("ring8", ...)."""
        from explorer import checks

        if isinstance(name, str) and name in PLANE_DATASETS and name not in self.planes:
            reason = self.errors.get(f"ddpm2d {name}", "it did not load")
            raise checks.InputError(f"The 2-D model of the {name} data set is unavailable: {reason}")
        if not self.planes:
            raise checks.InputError("No 2-D diffusion checkpoint is loaded; see the 2-D tab for the command.")
        return self.planes[checks.choice("Data set", name, self.planes)]

    def test_digits(self) -> TestDigits:
        from explorer import checks

        if self.digits is None:
            raise checks.InputError(self.digits_error or "MNIST test digits are not loaded; draw a digit instead.")
        return self.digits

    def test_index(self, index) -> int:
        """`index` checked against the test set: a whole number in [0, N − 1]."""
        from explorer import checks

        return checks.number("Test digit index", index, 0, len(self.test_digits().x) - 1, integer=True)


def load_test_digits(data_dir: Path, download: bool) -> tuple[TestDigits | None, str]:
    from train.data import TEST_BINARIZE_SEED, binarize, load_split

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # an offline download attempt fails in seconds instead of hanging
    try:
        split = load_split("mnist", False, data_dir, download)
    except Exception as e:  # any failure to read or download leaves the app usable with drawn digits
        return None, (f"MNIST test digits not available ({e}). The sketchpad still works; for the gallery, "
                      f"run with `--data-dir` pointing at a folder holding MNIST/raw.")
    finally:
        socket.setdefaulttimeout(old)
    binary = binarize(split.images, torch.Generator().manual_seed(TEST_BINARIZE_SEED))  # as load_split does it
    return TestDigits(binary.flatten(1), split.labels, str(Path(data_dir).resolve()), split.flat()), ""


def checked_model(path: Path, cls: type, what: str) -> torch.nn.Module:
    """The model in `path`, read-only, if it is a `cls` whose weights are all finite; else CheckpointError. A file
    of another kind in this slot, or weights with NaN (a diverged run), would otherwise start the app wrongly."""
    model = load_checkpoint(path)
    if not isinstance(model, cls):
        raise CheckpointError(f"{path}: holds a {type(model).__name__} model, not {what}")
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: weights hold NaN or infinite values (first in {name})")
    return model.requires_grad_(False)


def checked_card(path: Path, warnings: list[str]) -> dict:
    """The card beside `path` if it is a JSON object; else {} and a warning (a card only informs the app's text)."""
    try:
        card = read_card(path)
    except CheckpointError as e:
        warnings.append(f"{e}; the model is used without it")
        return {}
    if not isinstance(card, dict):
        warnings.append(f"{path}: its card is JSON but not an object; the model is used without it")
        return {}
    return card


def load_models(checkpoints: Path = DEFAULT_CHECKPOINTS, data_dir: Path = DEFAULT_DATA_DIR,
                download: bool = True) -> Models:
    """Every checkpoint that loads and passes `checked_model`; each that does not is named in `errors`, with the
    command that trains it, and its lab (or model) is left out while the rest of the app works."""
    from train.models.classifier import Classifier

    m = Models()
    for name, (fname, command) in VAE_CHECKPOINTS.items():
        path = Path(checkpoints) / fname
        try:
            vae = checked_model(path, VAE, "a VAE")
            if vae.config.latent_dim != VAE_LATENT[name]:
                raise CheckpointError(f"{path}: a VAE with a {vae.config.latent_dim}-D latent, not the {name} model")
        except CheckpointError as e:
            m.errors[name] = f"{e}. Train it with: `{command}`"
            continue
        m.vaes[name] = vae
        m.vae_cards[name] = checked_card(path, m.warnings)
    load_beta_grid(m, Path(checkpoints) / BETA_DIR)
    fname, command = DDPM_CHECKPOINT
    try:
        m.ddpm = checked_model(Path(checkpoints) / fname, DDPM, "a diffusion model (DDPM)")
        m.ddpm_card = checked_card(Path(checkpoints) / fname, m.warnings)
    except CheckpointError as e:
        m.errors["diffusion"] = f"{e}. Train it with: `{command}`"
    for name in PLANE_DATASETS:
        path = Path(checkpoints) / f"ddpm2d_{name}.safetensors"
        try:
            m.planes[name] = checked_model(path, DDPM2D, "a 2-D diffusion model (DDPM2D)")
            m.plane_cards[name] = checked_card(path, m.warnings)
        except CheckpointError as e:
            m.errors[f"ddpm2d {name}"] = f"{e}. Train it with: `{PLANE_COMMAND.format(name=name)}`"
    fname, command = CLASSIFIER_CHECKPOINT
    try:
        m.classifier = checked_model(Path(checkpoints) / fname, Classifier, "a classifier")  # reading.py: eval mode
    except CheckpointError as e:
        m.errors["classifier"] = f"{e}. Images' alt text will not say what digit they show. Train it with: `{command}`"
    m.digits, m.digits_error = load_test_digits(Path(data_dir), download)
    m.data_dir = Path(data_dir)
    return m


def load_beta_grid(m: Models, folder: Path) -> None:
    """The β grid's VAEs found in `folder` (none: the "β-VAE" view says how to train them)."""
    import re

    if not any(folder.glob("vae_*d_beta*.safetensors")):
        m.errors["β grid"] = f"no β grid in {folder}. Train it with: `{BETA_COMMAND}`"
        return
    for path in sorted(folder.glob("vae_*d_beta*.safetensors")):
        found = re.fullmatch(r"vae_(\d+)d_beta([0-9.]+)", path.stem)
        if found is None:
            continue
        try:
            vae = checked_model(path, VAE, "a VAE")
        except CheckpointError as e:
            m.errors[f"β grid {path.stem}"] = f"{e}. Train it with: `{BETA_COMMAND}`"
            continue
        key = (int(found.group(1)), float(found.group(2)))
        if vae.latent_dim != key[0]:
            m.errors[f"β grid {path.stem}"] = f"{path}: a {vae.latent_dim}-D latent, not {key[0]}-D as named"
            continue
        m.beta_vaes[key], m.beta_cards[key] = vae, checked_card(path, m.warnings)

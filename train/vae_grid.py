"""python -m train vae-grid: the β grid of VAEs that the app's "β and collapse" view compares.

One VAE per (latent size, β), each trained by `python -m train vae ... --beta B` and then scored by
`python -m train evaluate-vae` on the first `--eval-n` test digits (exact log p(x) by quadrature for the 2-D ones,
the importance-weighted bound for all). Every checkpoint's card holds the single command that made it, so each can be
rebuilt alone; a checkpoint whose card already holds its scores is skipped, so the grid resumes where it stopped.

The grid's networks are narrower than the app's main VAEs (256 units, not 512): twelve of them fit in 27 MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from train import checkpoint as ckpt


@dataclass
class VAEGridConfig:
    betas: str = field(default="0.1,0.5,1,2,4,8", metadata={"help": "comma-separated β values"})
    latent_dims: str = field(default="2,16", metadata={"help": "comma-separated latent sizes"})
    hidden_dim: int = field(default=256, metadata={"help": "width of every hidden layer"})
    epochs: int = field(default=40, metadata={"help": "passes over the training images, per model"})
    out_dir: str = field(default="checkpoints/beta", metadata={"help": "where the checkpoints and cards go"})
    data_dir: str = field(default="data", metadata={"help": "folder holding MNIST/raw"})
    download: bool = field(default=False, metadata={"help": "download MNIST into --data-dir if missing"})
    eval_n: int = field(default=2000, metadata={"help": "test digits scored by evaluate-vae"})
    iwae_k: str = field(default="1,1000", metadata={"help": "evaluate-vae's importance-sample counts"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})


def name(latent_dim: int, beta: float) -> str:
    """The checkpoint's file stem: vae_2d_beta0.5."""
    return f"vae_{latent_dim}d_beta{beta:g}"


def commands(cfg: VAEGridConfig) -> list[tuple[Path, list[str], list[str]]]:
    """(checkpoint, training argv, evaluation argv) for every model of the grid, in order."""
    out = []
    for d in [int(v) for v in cfg.latent_dims.split(",")]:
        for b in [float(v) for v in cfg.betas.split(",")]:
            path = Path(cfg.out_dir) / f"{name(d, b)}.safetensors"
            data = ["--data-dir", cfg.data_dir, *(["--download"] if cfg.download else [])]
            tr = ["vae", "--latent-dim", str(d), "--hidden-dim", str(cfg.hidden_dim), "--beta", f"{b:g}",
                  "--epochs", str(cfg.epochs), "--threads", str(cfg.threads), "--eval-k", "0",
                  "--eval-n", str(cfg.eval_n), *data, "--out", str(path), "--run-dir", str(Path("runs") / path.stem)]
            ev = ["evaluate-vae", "--vae", str(path), *data, "--n", str(cfg.eval_n), "--iwae-k", cfg.iwae_k,
                  "--threads", str(cfg.threads), "--worst", "0"]
            out.append((path, tr, ev))
    return out


def scored(path: Path, n: int) -> bool:
    if not ckpt.card_path(path).exists():
        return False
    card = json.loads(ckpt.card_path(path).read_text())
    return f"likelihood_first_{n}" in card or ("likelihood" in card and card["likelihood"]["test_images"] == n)


def run(cfg: VAEGridConfig) -> None:
    from train.__main__ import main

    for path, tr, ev in commands(cfg):
        if scored(path, cfg.eval_n):
            print(f"{path}: trained and scored, skipped", flush=True)
            continue
        if not path.exists():
            if main(tr) != 0:
                raise RuntimeError(f"training {path} failed: python -m train {' '.join(tr)}")
        if main(ev) != 0:
            raise RuntimeError(f"scoring {path} failed: python -m train {' '.join(ev)}")

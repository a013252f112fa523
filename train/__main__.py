"""python -m train {vae,vae-grid,diffusion,diffusion2d,classifier,evaluate,evaluate-vae,cards} ...: train a model
and write its checkpoint and card, evaluate one, or write docs/checkpoints.md from the cards.

Examples:
    python -m train vae --latent-dim 2 --epochs 100 --data-dir ../shared/data --out checkpoints/vae_2d.safetensors
    python -m train vae --help
"""

from __future__ import annotations

import argparse
import sys

from train.cli import add_dataclass_flags, from_flags
from train.evaluate import EvaluateConfig
from train.evaluate_vae import EvaluateVAEConfig
from train.models.classifier import ClassifierConfig
from train.models.ddpm import DDPMConfig
from train.models.ddpm2d import DDPM2DConfig
from train.models.vae import VAEConfig
from train.train_classifier import ClassifierTrainConfig
from train.train_diffusion import DiffusionTrainConfig
from train.train_diffusion2d import Diffusion2DTrainConfig
from train.train_vae import VAETrainConfig
from train.vae_grid import VAEGridConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("vae", help="a Gaussian-encoder, Bernoulli-decoder VAE on binarized MNIST")
    add_dataclass_flags(p, VAEConfig, "model")
    add_dataclass_flags(p, VAETrainConfig, "training")
    p = sub.add_parser("vae-grid", help="the β grid of VAEs (latent sizes × β), each trained and scored")
    add_dataclass_flags(p, VAEGridConfig, "grid")
    p = sub.add_parser("diffusion", help="a DDPM (ε-prediction UNet) on MNIST grey levels")
    add_dataclass_flags(p, DDPMConfig, "model")
    add_dataclass_flags(p, DiffusionTrainConfig, "training")
    p = sub.add_parser("diffusion2d", help="a DDPM (ε-prediction MLP) on points in the plane")
    add_dataclass_flags(p, DDPM2DConfig, "model")
    add_dataclass_flags(p, Diffusion2DTrainConfig, "training")
    p = sub.add_parser("classifier", help="the MNIST classifier behind the sample-quality scores")
    add_dataclass_flags(p, ClassifierConfig, "model")
    add_dataclass_flags(p, ClassifierTrainConfig, "training")
    p = sub.add_parser("evaluate", help="sample quality (Inception Score, Fréchet distance) of the diffusion model")
    add_dataclass_flags(p, EvaluateConfig, "evaluation")
    p = sub.add_parser("evaluate-vae", help="a VAE's test log-likelihood: exact by quadrature (2-D latent), and the "
                                            "importance-weighted bounds")
    add_dataclass_flags(p, EvaluateVAEConfig, "evaluation")
    p = sub.add_parser("diffusion2d-spread", help="a 2-D diffusion model's energy distances over several seeds, "
                                                  "into its card")
    p.add_argument("checkpoint", help="a ddpm2d checkpoint, e.g. checkpoints/ddpm2d_ring8.safetensors")
    p.add_argument("--seeds", type=int, default=5, help="evaluations with fresh draws (default: 5)")
    p = sub.add_parser("cards", help="write docs/checkpoints.md from the checkpoints' JSON cards")
    p.add_argument("--checkpoints", default="checkpoints", help="folder of the cards (default: checkpoints)")
    p.add_argument("--out", default="docs/checkpoints.md", help="the page to write (default: docs/checkpoints.md)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    try:
        if args.command == "vae":
            from train.train_vae import train as train_vae

            train_vae(from_flags(VAEConfig, args), from_flags(VAETrainConfig, args), argv=argv)
        elif args.command == "vae-grid":
            from train.vae_grid import run as run_grid

            run_grid(from_flags(VAEGridConfig, args))
        elif args.command == "diffusion":
            from train.train_diffusion import train as train_diffusion

            train_diffusion(from_flags(DDPMConfig, args), from_flags(DiffusionTrainConfig, args), argv=argv)
        elif args.command == "diffusion2d":
            from train.train_diffusion2d import train as train_diffusion2d

            train_diffusion2d(from_flags(DDPM2DConfig, args), from_flags(Diffusion2DTrainConfig, args), argv=argv)
        elif args.command == "evaluate":
            from train.evaluate import evaluate

            evaluate(from_flags(EvaluateConfig, args), argv=argv)
        elif args.command == "evaluate-vae":
            from train.evaluate_vae import evaluate_vae

            evaluate_vae(from_flags(EvaluateVAEConfig, args), argv=argv)
        elif args.command == "diffusion2d-spread":
            from train.train_diffusion2d import score_spread

            score_spread(args.checkpoint, args.seeds, argv=argv)
        elif args.command == "cards":
            from train.cards import main as write_cards

            return write_cards(args.checkpoints, args.out)
        elif args.command == "classifier":
            from train.train_classifier import train as train_classifier

            train_classifier(from_flags(ClassifierConfig, args), from_flags(ClassifierTrainConfig, args), argv=argv)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

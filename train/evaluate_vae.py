"""python -m train evaluate-vae: a VAE's test log-likelihood, exactly where it can be had, and its bounds.

On the test set binarized once with seed TEST_BINARIZE_SEED (as in the card's training metrics):
- **exact** (2-D latent only): log p(x) of every image by quadrature with a convergence check per image
  (train/exact_likelihood.py). No bound: the integral, to `--tol` nats per image.
- **importance-weighted estimates** for each k of `--iwae-k` (Burda et al. 2015, eq. 8):
  log (1/k) Σ_k p(x, z_k)/q(z_k|x), z_k ~ q(z|x). In expectation a *lower* bound on log p(x) that tightens as k
  grows (their Theorem 1), so −(it) is an *upper* bound on the NLL in expectation; with k = 1 it is the ELBO.
- the ELBO, E_q[log p(x|z)] − KL(q‖p), estimated by the mean of the largest k's log-weights.
- where both exist, the per-image distribution of (estimate − exact): how far below the truth each estimate sits,
  and the digits where it is furthest (the app's gallery "where importance sampling fails"), with the importance
  weights' effective sample size.

The summary goes into the checkpoint's card under "likelihood" (with the command, commit and date), per-image values
into NAME_likelihood.safetensors beside the checkpoint; a run on the first n images only (--n) goes under
"likelihood_first_n" instead, beside the whole set's.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from train import checkpoint as ckpt
from train.data import TEST_BINARIZE_SEED, digits_sha256, load_split
from train.exact_likelihood import BernoulliVAE, effective_sample_size, exact_log_px


@dataclass
class EvaluateVAEConfig:
    vae: str = field(default="checkpoints/vae_2d.safetensors", metadata={"help": "the VAE checkpoint"})
    data_dir: str = field(default="data", metadata={"help": "folder holding MNIST/raw"})
    download: bool = field(default=False, metadata={"help": "download MNIST into --data-dir if missing"})
    n: int = field(default=10000, metadata={"help": "test images (the first n of the binarized test set)"})
    iwae_k: str = field(default="1,10,1000,10000", metadata={"help": "comma-separated k of the importance-weighted "
                                                                     "estimates"})
    tol: float = field(default=0.01, metadata={"help": "quadrature: the largest change, in nats, from halving the "
                                                       "step that an image's value may show"})
    seed: int = field(default=0, metadata={"help": "seed of the importance samples"})
    worst: int = field(default=24, metadata={"help": "images with the largest gap to the exact value kept in the card"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    write_card: bool = field(default=True, metadata={"help": "store the results in the checkpoint's card"})


BOUND = ("importance-weighted estimate (Burda et al. 2015): its expectation is a lower bound on log p(x), so this NLL "
         "is an upper bound in expectation; k = 1 is the ELBO")


def iwae(model, x: torch.Tensor, k: int, seed: int, batch: int = 100
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: the k-sample importance-weighted estimate of log p(x), the mean log-weight (an unbiased ELBO
    estimate) and the weights' effective sample size. x: (B, M) -> three (B,) float64."""
    g = torch.Generator().manual_seed(seed)
    est, elbo, ess = [], [], []
    with torch.inference_mode():
        for s in tqdm(range(0, len(x), batch), desc=f"k={k}", leave=False):
            logw = model.log_weights(x[s : s + batch], k, "posterior", g, chunk=max(1, min(k, 20000 // batch))).double()
            est.append(torch.logsumexp(logw, 1) - math.log(k))
            elbo.append(logw.mean(1))
            ess.append(effective_sample_size(logw))
    return torch.cat(est), torch.cat(elbo), torch.cat(ess)


def summary(nll: torch.Tensor) -> dict:
    return {"nll_nats": float(nll.mean()), "stderr_over_images": float(nll.std() / math.sqrt(len(nll)))}


def spread(gap: torch.Tensor) -> dict:
    """The distribution of per-image gaps (estimate − exact, nats; ≤ 0 means below the truth)."""
    q = torch.quantile(gap, torch.tensor([0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0], dtype=torch.float64))
    return {"mean": float(gap.mean()), "quantiles": dict(zip(("0", "0.01", "0.1", "0.5", "0.9", "0.99", "1"),
                                                                map(float, q), strict=True)),
            "images_below_by_1_nat_or_more": int((gap <= -1).sum())}


def evaluate_vae(cfg: EvaluateVAEConfig, argv: list[str] | None = None) -> dict:
    commit = ckpt.git_commit()  # at the start: HEAD may move while a long evaluation runs
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ks = [int(k) for k in cfg.iwae_k.split(",") if k.strip()]
    if any(k < 1 for k in ks):
        raise ValueError(f"--iwae-k {cfg.iwae_k!r}: every k must be at least 1")
    model = ckpt.load_checkpoint(cfg.vae)
    x_all = load_split("mnist", False, cfg.data_dir, cfg.download, TEST_BINARIZE_SEED).flat()
    if not 1 <= cfg.n <= len(x_all):
        raise ValueError(f"--n {cfg.n} is outside [1, {len(x_all)}]")
    out: dict = {"test_images": cfg.n, "binarization": f"the test set binarized once with seed {TEST_BINARIZE_SEED}",
                 "test_set_sha256": digits_sha256(x_all)}  # lets the app tell whether it holds the same digits
    x = x_all[: cfg.n]
    per_image: dict[str, torch.Tensor] = {}
    exact = None
    if model.latent_dim == 2:
        t0 = time.time()
        bar = tqdm(total=cfg.n, desc="exact log p(x)", leave=False)
        r = exact_log_px(BernoulliVAE(model), x, tol=cfg.tol, progress=lambda done: bar.update(done - bar.n))
        bar.close()
        exact = r.log_px
        per_image.update(exact_log_px=r.log_px, step_change=r.step_change, edge_ratio=r.edge_ratio)
        out["exact"] = {**summary(-exact), "method": "quadrature over the latent plane, per image (train/"
                        "exact_likelihood.py): no bound", "tol_nats": cfg.tol,
                        "largest_step_change_nats": float(r.step_change.max()),
                        "largest_edge_ratio": float(r.edge_ratio.max()),
                        "images_refined": int((r.split > 2).sum()), "seconds": round(time.time() - t0, 1)}
        print(json.dumps({"exact": out["exact"]}), flush=True)
    else:
        out["exact"] = None
        out["note"] = (f"a {model.latent_dim}-D latent cannot be integrated on a grid: every figure here is an "
                       "estimate, and the NLL figures are upper bounds in expectation")
    out["iwae"], out["gap_to_exact"] = {}, {}
    for k in ks:
        t0 = time.time()
        est, elbo, ess = iwae(model, x, k, cfg.seed)
        per_image[f"iwae_k{k}"], per_image[f"ess_k{k}"] = est, ess
        out["iwae"][str(k)] = {**summary(-est), "bound": BOUND, "seconds": round(time.time() - t0, 1)}
        if exact is not None:
            out["gap_to_exact"][str(k)] = spread(est - exact)
        print(json.dumps({f"iwae k={k}": out["iwae"][str(k)]}), flush=True)
    top = max(ks)
    out["elbo"] = {**summary(-elbo), "how": f"the mean of the {top:,} log-weights per image: an unbiased estimate of "
                   "the ELBO, a lower bound on log p(x) (so this NLL figure is an upper bound)"}
    if exact is not None:
        gap = per_image[f"iwae_k{top}"] - exact
        worst = torch.argsort(gap)[: cfg.worst]
        out["worst"] = {"k": top, "images": [
            {"index": int(i), "exact_log_px": float(exact[i]), "iwae_log_px": float(per_image[f"iwae_k{top}"][i]),
             "gap": float(gap[i]), "ess": float(per_image[f"ess_k{top}"][i])} for i in worst]}
    if cfg.write_card:
        write(cfg.vae, out, per_image, ckpt.command_line(argv), commit, whole=cfg.n == len(x_all))
    return out


def write(vae: str | Path, out: dict, per_image: dict[str, torch.Tensor], command: str, commit: str,
          whole: bool = True) -> None:
    """The summary into the card under "likelihood" (a run on the first n images only: "likelihood_first_n"); the
    per-image values beside the checkpoint (NAME_likelihood.safetensors, or NAME_likelihood_first_n...)."""
    key = "likelihood" if whole else f"likelihood_first_{out['test_images']}"
    card = ckpt.read_card(vae)
    card[key] = {**out, "command": command, "commit": commit, "date": ckpt.now()}
    ckpt.write_json(ckpt.card_path(vae), card)
    path = Path(vae).with_name(f"{Path(vae).stem}_{key}.safetensors")
    ckpt.atomic_write(path, lambda p: save_file({k: v.contiguous() for k, v in per_image.items()}, str(p),
                                                metadata={"command": command}))

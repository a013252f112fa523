"""Train a VAE on dynamically binarized MNIST by maximizing the ELBO, then measure it.

The end-of-training evaluation writes into the card the test ELBO and the test negative
log-likelihood by importance sampling (Burda et al. 2015, k samples per image), both on the
test set binarized once with a fixed seed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from train import checkpoint as ckpt
from train import distributed
from train.data import TEST_BINARIZE_SEED, batches, binarize, load_split
from train.distributed import Dist, Objective
from train.models.vae import VAE, VAEConfig
from train.run import Progress, RunConfig, restore, save_progress, start_run, throughput
from train.run import card as run_card
from train.vae_metrics import as_card, rate_distortion


@dataclass
class VAETrainConfig(RunConfig):
    out: str = field(default="checkpoints/vae.safetensors", metadata={"help": "where the weights go"})
    epochs: int = field(default=100, metadata={"help": "passes over the 60,000 training images"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate, cosine-decayed to lr/100"})
    beta: float = field(default=1.0, metadata={"help": "β, the KL term's weight in the training objective "
                                                        "E_q[log p(x|z)] − β·KL(q(z|x) || p(z)) (Higgins et al. 2017); "
                                                        "1 is the ELBO. Every reported ELBO uses β = 1"})
    kl_warmup: int = field(default=0, metadata={"help": "epochs over which the KL weight ramps 0 -> β"})
    eval_k: int = field(default=1000, metadata={"help": "importance samples per image for the final NLL"})
    eval_n: int = field(default=10000, metadata={"help": "test images in the final evaluation"})


def evaluate(model: VAE, x: torch.Tensor, k: int, seed: int, batch: int = 100,
             progress: bool = True) -> dict[str, float]:
    """Test ELBO and NLL in nats, both from the same k importance samples per image.

    mean_k log w_k estimates the ELBO without bias (E_q[log w] = ELBO); log (1/k) Σ_k w_k is the
    importance-weighted estimate of log p(x).
    """
    g = torch.Generator().manual_seed(seed)
    elbo, ll = [], []
    with torch.inference_mode():
        for s in tqdm(range(0, x.shape[0], batch), desc=f"eval k={k}", leave=False, disable=not progress):
            logw = model.log_weights(x[s : s + batch], k, "posterior", g, chunk=max(1, min(k, 20000 // batch)))
            elbo.append(logw.mean(1))
            ll.append(torch.logsumexp(logw, 1) - math.log(k))
    elbo_t, ll_t = torch.cat(elbo), torch.cat(ll)
    return {"test_elbo_nats": elbo_t.mean().item(), "test_nll_nats": -ll_t.mean().item(),
            "test_nll_stderr_nats": (ll_t.std() / math.sqrt(len(ll_t))).item(), "eval_k": k,
            "eval_images": int(x.shape[0])}


def negative_elbo(model: VAE, x: torch.Tensor, eps: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss −(E_q[log p(x|z)] − β·KL) of each image, and its ELBO (β = 1) for the log: two (B,) tensors.
    x: (B, M) in {0, 1}; eps: (B, D), the reparameterization noise of one sample z = μ + σ·ε per image."""
    terms = model.elbo(x, eps=eps[None])
    return -(terms.reconstruction - beta * terms.kl), terms.elbo


BETA_RANGE = (0.0, 100.0)


def train(mcfg: VAEConfig, tcfg: VAETrainConfig, argv: list[str] | None = None) -> dict:
    """Train, evaluate and save; `argv` is the command line recorded in the card (default: sys.argv). Under torchrun,
    every process trains its share of each batch (train/distributed.py) and rank 0 writes."""
    if not BETA_RANGE[0] <= tcfg.beta <= BETA_RANGE[1]:
        raise ValueError(f"--beta {tcfg.beta} is outside [{BETA_RANGE[0]:g}, {BETA_RANGE[1]:g}]")
    with distributed.process_group(torch.device("cpu"), tcfg.dist_timeout) as (dist, device):
        return _train(mcfg, tcfg, argv, dist, device)


def _train(mcfg: VAEConfig, tcfg: VAETrainConfig, argv: list[str] | None, dist: Dist, device: torch.device) -> dict:
    run = start_run(tcfg, argv, dist)
    torch.manual_seed(tcfg.seed)
    model = VAE(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)  # shuffling, dynamic binarization and ε, the same on every rank
    modules = {"model": model}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)
    objective = distributed.wrap(Objective(model, negative_elbo), dist, device)
    log = print if dist.is_main else lambda *a, **k: None

    train_x = load_split(tcfg.dataset, True, tcfg.data_dir, tcfg.download).flat()  # (60000, 784) in [0, 1]
    test_x = load_split(tcfg.dataset, False, tcfg.data_dir, tcfg.download, TEST_BINARIZE_SEED).flat()
    distributed.check_world(dist, len(train_x), tcfg.batch_size)
    steps_per_epoch = math.ceil(len(train_x) / tcfg.batch_size)
    total_steps = tcfg.epochs * steps_per_epoch

    def lr_at(s: int) -> float:
        return tcfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s / total_steps, 1.0))))

    t0, done = time.time(), 0  # images trained on by this launch, over all ranks
    while epoch < tcfg.epochs and not (tcfg.max_steps and step >= tcfg.max_steps):
        model.train()
        beta = tcfg.beta * (min(1.0, (epoch + 1) / tcfg.kl_warmup) if tcfg.kl_warmup else 1.0)
        tot, n, seen = 0.0, 0, 0  # this rank's ELBO sum and images; images of the whole run this epoch
        bar = tqdm(batches(len(train_x), tcfg.batch_size, g), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False, mininterval=2.0, disable=not dist.is_main)
        for idx in bar:
            x = binarize(train_x[idx], g)  # the global batch, binarized afresh every time an image is seen
            eps = torch.randn((len(idx), mcfg.latent_dim), generator=g)  # (B, D)
            x, eps = distributed.shard(dist, x, eps)  # this rank's share
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss, elbo = objective(x, eps, beta)
            opt.zero_grad(set_to_none=True)
            distributed.global_mean(dist, loss, len(idx)).backward()
            opt.step()
            step += 1
            tot += elbo.sum().item()
            n, seen, done = n + len(x), seen + len(idx), done + len(idx)
            bar.set_postfix(elbo=f"{tot / n:.2f}", refresh=False)
            if tcfg.max_steps and step >= tcfg.max_steps and seen < len(train_x):
                break
        if seen < len(train_x):  # stopped by --max-steps inside an epoch: like a kill, keep the last saved state
            log(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch} "
                f"({throughput(done, time.time() - t0, 'images')})", flush=True)
            return {"history": history, "stopped_at_step": step}
        tot, n = distributed.all_sum(dist, tot, n)
        model.eval()
        with torch.inference_mode():
            test_elbo = model.elbo(test_x, generator=torch.Generator().manual_seed(tcfg.seed)).elbo.mean().item()
        epoch += 1
        history.append({"epoch": epoch, "step": step, "train_elbo": tot / n, "test_elbo": test_elbo,
                        "beta": beta, "seconds": round(time.time() - t0, 1)})
        log(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))

    model.eval()
    metrics = {"final_test_elbo_1sample_nats": history[-1]["test_elbo"] if history else None}
    if tcfg.eval_k > 0:
        metrics.update(evaluate(model, test_x[: tcfg.eval_n], tcfg.eval_k, seed=tcfg.seed, progress=dist.is_main))
    with torch.inference_mode():  # what the code carries: rate, distortion, KL per dimension, active units
        metrics["rate_distortion"] = as_card(rate_distortion(model, test_x[: tcfg.eval_n], samples=10,
                                                             seed=tcfg.seed))
    card = run_card(
        run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
        weights_sha256=distributed.agree_on_weights(dist, model),
        dataset={"name": tcfg.dataset, "train_images": len(train_x), "test_images": len(test_x),
                 "binarization": "training: dynamic (a fresh Bernoulli draw of every pixel per batch); "
                                 f"evaluation: the test set binarized once with seed {TEST_BINARIZE_SEED}"},
    )
    if dist.is_main:
        ckpt.save_checkpoint(run.out, model, "vae", card)
        print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

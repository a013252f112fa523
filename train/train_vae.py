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
from train.data import TEST_BINARIZE_SEED, batches, binarize, load_split
from train.models.vae import VAE, VAEConfig
from train.run import Progress, RunConfig, restore, save_progress, start_run
from train.run import card as run_card


@dataclass
class VAETrainConfig(RunConfig):
    out: str = field(default="checkpoints/vae.safetensors", metadata={"help": "where the weights go"})
    epochs: int = field(default=100, metadata={"help": "passes over the 60,000 training images"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate, cosine-decayed to lr/100"})
    kl_warmup: int = field(default=0, metadata={"help": "epochs over which the KL weight ramps 0 -> 1"})
    eval_k: int = field(default=1000, metadata={"help": "importance samples per image for the final NLL"})
    eval_n: int = field(default=10000, metadata={"help": "test images in the final evaluation"})


def evaluate(model: VAE, x: torch.Tensor, k: int, seed: int, batch: int = 100) -> dict[str, float]:
    """Test ELBO and NLL in nats, both from the same k importance samples per image.

    mean_k log w_k estimates the ELBO without bias (E_q[log w] = ELBO); log (1/k) Σ_k w_k is the
    importance-weighted estimate of log p(x).
    """
    g = torch.Generator().manual_seed(seed)
    elbo, ll = [], []
    with torch.inference_mode():
        for s in tqdm(range(0, x.shape[0], batch), desc=f"eval k={k}", leave=False):
            logw = model.log_weights(x[s : s + batch], k, "posterior", g, chunk=max(1, min(k, 20000 // batch)))
            elbo.append(logw.mean(1))
            ll.append(torch.logsumexp(logw, 1) - math.log(k))
    elbo_t, ll_t = torch.cat(elbo), torch.cat(ll)
    return {"test_elbo_nats": elbo_t.mean().item(), "test_nll_nats": -ll_t.mean().item(),
            "test_nll_stderr_nats": (ll_t.std() / math.sqrt(len(ll_t))).item(), "eval_k": k,
            "eval_images": int(x.shape[0])}


def train(mcfg: VAEConfig, tcfg: VAETrainConfig, argv: list[str] | None = None) -> dict:
    """Train, evaluate and save; `argv` is the command line recorded in the card (default: sys.argv)."""
    run = start_run(tcfg, argv)
    torch.manual_seed(tcfg.seed)
    model = VAE(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)  # shuffling, dynamic binarization and ε
    modules = {"model": model}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)

    train_x = load_split(tcfg.dataset, True, tcfg.data_dir, tcfg.download).flat()  # (60000, 784) in [0, 1]
    test_x = load_split(tcfg.dataset, False, tcfg.data_dir, tcfg.download, TEST_BINARIZE_SEED).flat()
    steps_per_epoch = math.ceil(len(train_x) / tcfg.batch_size)
    total_steps = tcfg.epochs * steps_per_epoch

    def lr_at(s: int) -> float:
        return tcfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s / total_steps, 1.0))))

    t0 = time.time()
    while epoch < tcfg.epochs and not (tcfg.max_steps and step >= tcfg.max_steps):
        model.train()
        beta = min(1.0, (epoch + 1) / tcfg.kl_warmup) if tcfg.kl_warmup else 1.0
        tot, n = 0.0, 0
        bar = tqdm(batches(len(train_x), tcfg.batch_size, g), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False, mininterval=2.0)
        for idx in bar:
            x = binarize(train_x[idx], g)  # a fresh binarization every time an image is seen
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            terms = model.elbo(x, generator=g)
            loss = -(terms.reconstruction - beta * terms.kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot += terms.elbo.sum().item()
            n += len(idx)
            bar.set_postfix(elbo=f"{tot / n:.2f}", refresh=False)
            if tcfg.max_steps and step >= tcfg.max_steps and n < len(train_x):
                break
        if n < len(train_x):  # stopped by --max-steps inside an epoch: like a kill, keep the last saved state
            print(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch}")
            return {"history": history, "stopped_at_step": step}
        model.eval()
        with torch.inference_mode():
            test_elbo = model.elbo(test_x, generator=torch.Generator().manual_seed(tcfg.seed)).elbo.mean().item()
        epoch += 1
        history.append({"epoch": epoch, "step": step, "train_elbo": tot / n, "test_elbo": test_elbo,
                        "beta": beta, "seconds": round(time.time() - t0, 1)})
        print(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))

    model.eval()
    metrics = {"final_test_elbo_1sample_nats": history[-1]["test_elbo"] if history else None}
    if tcfg.eval_k > 0:
        metrics.update(evaluate(model, test_x[: tcfg.eval_n], tcfg.eval_k, seed=tcfg.seed))
    card = run_card(
        run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
        dataset={"name": tcfg.dataset, "train_images": len(train_x), "test_images": len(test_x),
                 "binarization": "training: dynamic (a fresh Bernoulli draw of every pixel per batch); "
                                 f"evaluation: the test set binarized once with seed {TEST_BINARIZE_SEED}"},
    )
    ckpt.save_checkpoint(run.out, model, "vae", card)
    print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

"""Train a DDPM on MNIST (grey levels in [−1, 1]) with the simple ε-prediction loss (Ho et al. eq. 14).

Labels are dropped with probability `class_dropout` so one network learns both p(x | y) and p(x), which
classifier-free guidance combines at sampling time. An exponential moving average (EMA) of the weights is
kept and is what the checkpoint ships. After every epoch the run folder gets a DDIM-50 sample grid (one row
per class) and resumable state; at the end the card records the test negative ELBO in bits per dimension.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from train import checkpoint as ckpt
from train import distributed
from train.data import batches, load_split
from train.diffusion import LossWeighting
from train.distributed import Dist, Objective
from train.models.ddpm import DDPM, DDPMConfig
from train.run import Progress, RunConfig, restore, save_progress, start_run, throughput, torch_device
from train.run import card as run_card


@dataclass
class DiffusionTrainConfig(RunConfig):
    out: str = field(default="checkpoints/ddpm.safetensors", metadata={"help": "where the EMA weights go"})
    epochs: int = field(default=30, metadata={"help": "passes over the 60,000 training images"})
    lr: float = field(default=2e-4, metadata={"help": "Adam learning rate (after warm-up)"})
    warmup_steps: int = field(default=500, metadata={"help": "linear learning-rate warm-up"})
    ema_decay: float = field(default=0.999, metadata={"help": "EMA decay of the shipped weights"})
    class_dropout: float = field(default=0.1, metadata={"help": "probability of training an image without its label "
                                                              "(the unconditional model learns from these only)"})
    loss_weighting: LossWeighting = field(default="uniform", metadata={
        "help": "weight of each timestep's ε-loss: uniform (Ho eq. 14) or min_snr (min(SNR, γ)/SNR, Hang et al. 2023)"})
    snr_gamma: float = field(default=5.0, metadata={"help": "γ of min_snr weighting"})
    init_from: str = field(default="", metadata={"help": "start from this DDPM checkpoint's weights (same config) "
                                                         "instead of random ones; ignored when resuming"})
    grad_clip: float = field(default=1.0, metadata={"help": "clip the gradient norm to this"})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 autocast for the network (fast on CPUs with AMX)"})
    eval_images: int = field(default=100, metadata={"help": "test images for the final ELBO (T network calls each)"})
    grid_per_class: int = field(default=10, metadata={"help": "samples of each class in each epoch's sample grid "
                                                              "(ten times as many unconditional ones); 0: no grids"})
    device: str = field(default="cpu", metadata={"help": "torch device of the network: cpu or cuda. Batches, "
                                                         "t, noise and label dropout are drawn on the CPU whatever "
                                                         "the device; the network's dropout draws on the device"})


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] intensities (k/255) -> [−1, 1] on the 256-level grid the discretized decoder expects."""
    return images * 2.0 - 1.0


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(p, 1.0 - decay)


@torch.no_grad()
def sample_grid(model: DDPM, path: Path, seed: int, steps: int = 50, per_class: int = 10) -> None:
    """`per_class` DDIM samples of each class, one row per class, saved as a PNG, and as many unconditional ones
    beside it (uncond_<name>); an unconditional model saves the latter only, under `path`."""
    from torchvision.utils import save_image

    dev = model.diffusion.betas.device
    n = 10 * per_class
    y = torch.arange(10, device=dev).repeat_interleave(per_class) if model.config.num_classes else None
    g = torch.Generator(dev).manual_seed(seed)
    x = model.diffusion.sample(model.eps_model(y), (n, 1, 28, 28), "ddim", min(steps, model.config.timesteps), 0.0, g)
    save_image((x + 1) / 2, str(path), nrow=per_class)
    if y is not None:  # the unconditional model too: it is what the reverse viewer shows by default
        g = torch.Generator(dev).manual_seed(seed)
        x = model.diffusion.sample(model.eps_model(None), (n, 1, 28, 28), "ddim", min(steps, model.config.timesteps),
                                   0.0, g)
        save_image((x + 1) / 2, str(path.with_name("uncond_" + path.name)), nrow=per_class)


@torch.no_grad()
def test_elbo_bpd(model: DDPM, x: torch.Tensor, seed: int, batch: int = 100, progress: bool = True
                  ) -> dict[str, float]:
    """Negative ELBO in bits/dim of the unconditional model on test images x (B, 1, 28, 28) in [−1, 1], on the
    model's device (its generator too, so the draws depend on the device)."""
    x = x.to(model.diffusion.betas.device)
    g = torch.Generator(x.device).manual_seed(seed)
    eps = model.eps_model(None)
    tot, prior, rec, den = [], [], [], []
    for s in tqdm(range(0, len(x), batch), desc="test ELBO", leave=False, disable=not progress):
        terms = model.diffusion.elbo_terms(eps, x[s : s + batch], g)
        tot.append(terms.bits_per_dim(28 * 28))
        prior.append(terms.prior)
        rec.append(terms.reconstruction)
        den.append(terms.denoising.sum(1))
    bpd = torch.cat(tot)
    return {"test_nelbo_bpd": bpd.mean().item(), "test_nelbo_bpd_stderr": (bpd.std() / math.sqrt(len(bpd))).item(),
            "test_prior_nats": torch.cat(prior).mean().item(), "test_denoising_nats": torch.cat(den).mean().item(),
            "test_reconstruction_nats": torch.cat(rec).mean().item(), "elbo_images": len(bpd)}


def denoising_loss(model: DDPM, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                   bf16: bool, weighting: LossWeighting = "uniform", snr_gamma: float = 5.0) -> torch.Tensor:
    """L_simple (Ho eq. 14) of each image, weighted per timestep: (B,). x: (B, 1, 28, 28) in [−1, 1]; y: (B,) labels
    (null_label: none)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return model.diffusion.training_loss(model.eps_model(y if model.config.num_classes else None), x, t, noise,
                                             weighting, snr_gamma)


def initialize_from(path: str, mcfg: DDPMConfig, modules: dict[str, torch.nn.Module], dist: Dist) -> list[str]:
    """Load a shipped DDPM's weights into every module (the network and its EMA) for a warm start; returns what
    made those weights (the source card's commands and a line naming the file, its digest and commit), so the
    new card's chain of commands stays complete. Under torchrun rank 0 reads the file and sends the weights to the
    others. ValueError (on every rank) if its config differs from `mcfg`."""
    from dataclasses import asdict

    weights, failure = None, None
    if dist.is_main:
        source = ckpt.load_checkpoint(path)
        if getattr(source, "config", None) is None or asdict(source.config) != asdict(mcfg):
            found = asdict(source.config) if hasattr(source, "config") else type(source).__name__
            failure = f"--init-from {path}: its config {found} differs from this run's {asdict(mcfg)}"
        else:
            weights = source.state_dict()
    weights, failure = distributed.broadcast(dist, (weights, failure))
    if failure:
        raise ValueError(failure)
    for module in modules.values():
        module.load_state_dict(weights)
    card = ckpt.read_card(path) if dist.is_main else {}
    made_by = card.get("commands") or ([card["command"]] if "command" in card else [])
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if dist.is_main else ""
    return [*made_by, f"# the weights above ({path}, sha256 {digest}…, {card.get('training', {}).get('steps', '?')} "
                      f"steps, commit {card.get('commit', 'unknown')[:12]}) initialize the run below"]


def train(mcfg: DDPMConfig, tcfg: DiffusionTrainConfig, argv: list[str] | None = None) -> dict:
    """Train, evaluate and save. Under torchrun every process trains its share of each batch on its own device
    (cuda:LOCAL_RANK with --device cuda) and rank 0 writes (train/distributed.py)."""
    with distributed.process_group(torch_device(tcfg.device), tcfg.dist_timeout) as (dist, device):
        return _train(mcfg, tcfg, argv, dist, device)


def _train(mcfg: DDPMConfig, tcfg: DiffusionTrainConfig, argv: list[str] | None, dist: Dist,
           device: torch.device) -> dict:
    run = start_run(tcfg, argv, dist)
    torch.manual_seed(tcfg.seed)
    model = DDPM(mcfg).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)  # batches, t, noise and label dropout, the same on every rank
    modules = {"model": model, "ema": ema}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)
    if step == 0 and tcfg.init_from:
        commands = [*initialize_from(tcfg.init_from, mcfg, modules, dist), *commands]  # rank 0's are saved
    distributed.seed_dropout(dist, tcfg.seed, step)
    objective = distributed.wrap(Objective(model, denoising_loss), dist, device)
    log = print if dist.is_main else lambda *a, **k: None

    train_split = load_split(tcfg.dataset, True, tcfg.data_dir, tcfg.download)
    test_split = load_split(tcfg.dataset, False, tcfg.data_dir, tcfg.download)
    distributed.check_world(dist, len(train_split.images), tcfg.batch_size)
    train_x, train_y = to_model_range(train_split.images).to(device), train_split.labels.to(device)
    test_x, test_y = to_model_range(test_split.images[:1000]).to(device), test_split.labels[:1000].to(device)
    T, null = mcfg.timesteps, model.unet.null_label
    steps_per_epoch = math.ceil(len(train_x) / tcfg.batch_size)
    g_test = torch.Generator().manual_seed(tcfg.seed + 2)  # fixed t and noise for the per-epoch test loss
    test_t = torch.randint(0, T, (len(test_x),), generator=g_test).to(device)
    test_noise = torch.randn(test_x.shape, generator=g_test).to(device)

    t0, done = time.time(), 0  # images trained on by this launch, over all ranks
    while epoch < tcfg.epochs:
        model.train()
        tot, n, seen = 0.0, 0, 0  # this rank's loss sum and images; images of the whole run this epoch
        bar = tqdm(batches(len(train_x), tcfg.batch_size, g), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False, mininterval=5.0, disable=not dist.is_main)
        for idx in bar:
            idx = idx.to(device)
            x, y = train_x[idx], train_y[idx].clone()  # the global batch
            t = torch.randint(0, T, (len(idx),), generator=g).to(device)
            noise = torch.randn(x.shape, generator=g).to(device)
            if mcfg.num_classes:
                y[(torch.rand(len(idx), generator=g) < tcfg.class_dropout).to(device)] = null
            x, y, t, noise = distributed.shard(dist, x, y, t, noise)  # this rank's share
            for group in opt.param_groups:
                group["lr"] = tcfg.lr * min(1.0, (step + 1) / max(tcfg.warmup_steps, 1))
            loss = objective(x, y, t, noise, tcfg.bf16, tcfg.loss_weighting, tcfg.snr_gamma)
            opt.zero_grad(set_to_none=True)
            distributed.global_mean(dist, loss, len(idx)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            ema_update(ema, model, min(tcfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            tot += loss.sum().item()
            n, seen, done = n + len(x), seen + len(idx), done + len(idx)
            bar.set_postfix(loss=f"{tot / n:.4f}", refresh=False)
            if tcfg.max_steps and step >= tcfg.max_steps and seen < len(train_x):
                break
        if seen < len(train_x):  # stopped by --max-steps inside an epoch: like a kill, keep the last saved state
            log(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch} "
                f"({throughput(done, time.time() - t0, 'images')})", flush=True)
            return {"history": history, "stopped_at_step": step}
        tot, n = distributed.all_sum(dist, tot, n)
        epoch += 1
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=tcfg.bf16):
            test_loss = sum(ema.diffusion.training_loss(ema.eps_model(test_y[s : s + 250]), test_x[s : s + 250],
                                                        test_t[s : s + 250], test_noise[s : s + 250]).sum().item()
                            for s in range(0, len(test_x), 250)) / len(test_x)
        history.append({"epoch": epoch, "step": step, "train_loss": tot / n, "test_loss_ema": test_loss,
                        "seconds": round(time.time() - t0, 1)})
        log(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))
        if dist.is_main:
            if tcfg.grid_per_class > 0:
                sample_grid(ema, run.run_dir / f"samples_epoch{epoch:03d}.png", tcfg.seed,
                            per_class=tcfg.grid_per_class)

    metrics = (test_elbo_bpd(ema, test_x[: tcfg.eval_images], tcfg.seed, progress=dist.is_main)
               if tcfg.eval_images else {})
    card = run_card(
        run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
        dataset={"name": tcfg.dataset, "train_images": len(train_x), "test_images": len(test_split.images),
                 "preprocessing": "grey levels k/255 mapped to [-1, 1] (x·2 − 1); no binarization"},
        weights="exponential moving average of the trained weights",
        weights_sha256=distributed.agree_on_weights(dist, ema),
    )
    if dist.is_main:
        ckpt.save_checkpoint(run.out, ema, "ddpm", card)
        print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

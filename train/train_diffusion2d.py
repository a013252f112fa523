"""Train the 2-D diffusion model (train/models/ddpm2d.py) on points in the plane (train/data2d.py), with the same
forward process, loss and samplers as the image model (train/diffusion.py: Ho et al. 2020's simple loss, eq. 14).

    python -m train diffusion2d --data ring8 --out checkpoints/ddpm2d_ring8.safetensors

The training set is `points` points drawn once with the seed; an epoch is one pass over it. The card's metrics:
the energy distance (train/data2d.py) between `eval_n` samples of each sampler (DDPM with all T steps, DDIM with
10, 50 and T steps) and `eval_n` fresh data points, beside the floor (two fresh draws of the data, the same
distance with no model at all); for the Gaussian mixtures, the mean ‖ε_θ − ε*‖² against the exact noise prediction
(train/mixture2d.py) at a few noise levels. Resumable like the other trainers (`--resume`, state in runs/NAME/).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field

import torch

from train import checkpoint as ckpt
from train import distributed
from train.data2d import DATASETS, ENTROPY, energy_distance, sample
from train.distributed import SINGLE, Dist, Objective
from train.fit2d import cosine_lr, denoising_loss, draw_t_and_noise
from train.mixture2d import MIXTURES, eps_star
from train.models.ddpm2d import DDPM2D, DDPM2DConfig
from train.run import Progress, restore, save_progress, start_run, throughput
from train.run import card as run_card


@dataclass
class Diffusion2DTrainConfig:
    data: str = field(default="ring8", metadata={"help": f"the 2-D data set: {', '.join(DATASETS)}"})
    points: int = field(default=20_000, metadata={"help": "training points, drawn once with the seed"})
    epochs: int = field(default=200, metadata={"help": "passes over the training points"})
    batch_size: int = field(default=512, metadata={"help": "points per step, over all processes (torchrun)"})
    lr: float = field(default=2e-3, metadata={"help": "Adam learning rate, decayed to a tenth along a cosine"})
    seed: int = field(default=0, metadata={"help": "seeds the points, the weights and every random draw"})
    eval_n: int = field(default=5000, metadata={"help": "samples per sampler and data points for the energy distance"})
    out: str = field(default="checkpoints/ddpm2d.safetensors", metadata={"help": "where the weights go"})
    run_dir: str = field(default="", metadata={"help": "folder for resumable state; default runs/<name>"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    resume: bool = field(default=False, metadata={"help": "continue from run_dir/state.safetensors"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps, as if killed (0: no limit)"})
    dist_timeout: float = field(default=300.0, metadata={"help": "under torchrun: seconds to wait for the other "
                                                                 "processes at the rendezvous and in each exchange"})


SAMPLERS = ("ddpm", "ddim10", "ddim50", "ddimT")


def samplers(model: DDPM2D, n: int, seed: int, names: tuple[str, ...] = SAMPLERS) -> dict[str, torch.Tensor]:
    """n samples from each sampler named, all from the same z_T: {'ddpm': …, 'ddim10': …, 'ddim50': …, 'ddimT': …}
    (DDPM with all T steps; DDIM with η = 0 and 10, 50 or T steps)."""
    d, T = model.diffusion, model.diffusion.T
    z_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    out = {}
    for name, steps in (("ddpm", T), ("ddim10", 10), ("ddim50", 50), ("ddimT", T)):
        if name not in names:
            continue
        g = torch.Generator().manual_seed(seed + 1)
        gen = (d.ddpm_sample_progressive(model, (n, 2), g, z_T=z_T, clip=False) if name == "ddpm" else
               d.ddim_sample_progressive(model, (n, 2), min(steps, T), 0.0, g, z_T=z_T, clip=False))
        out[name] = deque(gen, maxlen=1)[0].z_prev.double()  # the sampler run to its last step
    return out


def train_step(model: DDPM2D, objective: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
               g: torch.Generator, dist: Dist = SINGLE) -> tuple[float, int]:
    """One step of Ho et al.'s simple loss (eq. 14) on the global batch x: (B, 2), its t and ε drawn with `g` for
    all of it (as train/fit2d.py's `fit` draws them); this rank trains on its share. `objective` is
    Objective(model, denoising_loss), under DDP with several processes. Returns this rank's loss sum and number of
    points."""
    t, noise = draw_t_and_noise(model, x, g)
    xs, ts, noises = distributed.shard(dist, x, t, noise)
    loss = objective(xs, ts, noises)
    opt.zero_grad(set_to_none=True)
    distributed.global_mean(dist, loss, len(x)).backward()
    opt.step()
    return loss.sum().item(), len(xs)


ELBO_POINTS = 1000  # test points for the negative ELBO (each needs all T terms)


@torch.no_grad()
def test_nelbo(model: DDPM2D, x: torch.Tensor, tcfg: Diffusion2DTrainConfig) -> dict:
    """The negative ELBO of test points x: (N, 2), in nats per point, with its terms and standard error
    (train/diffusion.py's elbo_terms with the Gaussian decoder: the points are continuous, so the bound is on the
    density, −log p_θ(x), and can be negative). Beside it, where it is known, the data's own entropy E[−log q(x)]
    (exact: by quadrature for the Gaussian mixtures, in closed form for the checkerboard): no model's cross-entropy
    E[−log p_θ(x)] is lower, and the negative ELBO is at least that cross-entropy, so their difference bounds how far
    the model is from the data, from above."""
    terms = model.diffusion.elbo_terms(model, x, torch.Generator().manual_seed(tcfg.seed + 105), batch=4000,
                                       decoder="gaussian")
    total = terms.total().double()
    out = {"test_nelbo": {"nats_per_point": float(total.mean()), "stderr": float(total.std() / math.sqrt(len(x))),
                          "prior": float(terms.prior.mean()), "denoising": float(terms.denoising.sum(1).mean()),
                          "reconstruction": float(terms.reconstruction.mean()), "points": len(x)}}
    if tcfg.data in MIXTURES:  # no closed form, but quadrature of the exact density to well under 1e-6 nats
        out["data_entropy"] = {"nats_per_point": MIXTURES[tcfg.data]().entropy(), "stderr": 0.0, "points": 0,
                               "method": "quadrature of the exact density (train/mixture2d.py, Mixture2D.entropy)"}
    elif tcfg.data in ENTROPY:  # exact
        out["data_entropy"] = {"nats_per_point": ENTROPY[tcfg.data], "stderr": 0.0, "points": 0,
                               "method": "closed form"}
    return out


@torch.no_grad()
def evaluate(model: DDPM2D, tcfg: Diffusion2DTrainConfig) -> dict:
    model.eval()
    test = sample(tcfg.data, tcfg.eval_n, torch.Generator().manual_seed(tcfg.seed + 101))
    other = sample(tcfg.data, tcfg.eval_n, torch.Generator().manual_seed(tcfg.seed + 102))
    metrics = {"energy_distance": {name: energy_distance(x, test) for name, x in
                                   samplers(model, tcfg.eval_n, tcfg.seed + 103).items()},
               "energy_distance_floor": energy_distance(other, test), "eval_n": tcfg.eval_n}
    metrics.update(test_nelbo(model, test[:ELBO_POINTS].float(), tcfg))
    if tcfg.data in MIXTURES:  # the exact ε* is known: how far the network is from it, over the diffused data
        data, g, err = MIXTURES[tcfg.data](), torch.Generator().manual_seed(tcfg.seed + 104), {}
        for t in sorted({t for t in (1, 10, 100, 500) if t < model.diffusion.T} | {model.diffusion.T}):
            a = float(model.diffusion.alphas_cumprod.double()[t - 1])
            z = math.sqrt(a) * test + math.sqrt(1 - a) * torch.randn(test.shape, dtype=torch.float64, generator=g)
            eps = model(z.float(), torch.full((len(z),), t - 1)).double()
            err[str(t)] = float((eps - eps_star(data, a, z)).pow(2).sum(1).mean())
        metrics["eps_star_error_by_t"] = err
    return metrics


@torch.no_grad()
def seed_spread(model: DDPM2D, data: str, n: int, seed: int, seeds: int = 5,
                names: tuple[str, ...] = ("ddpm", "ddim10", "ddim50")) -> dict:
    """How much one evaluation's energy distances move with the seeds: for seeds s = 0 … seeds − 1, fresh test and
    floor draws (seed + 101 + 1000 s, seed + 102 + 1000 s) and fresh samplers' noise (seed + 103 + 1000 s), each
    sampler's distance and the floor's. Returns, per name and for "floor", every value with its min, mean and max: a
    single evaluation (s = 0 is the card's) cannot tell two samplers apart by less than this spread."""
    model.eval()
    values: dict[str, list[float]] = {name: [] for name in (*names, "floor")}
    for s in range(seeds):
        test = sample(data, n, torch.Generator().manual_seed(seed + 101 + 1000 * s))
        other = sample(data, n, torch.Generator().manual_seed(seed + 102 + 1000 * s))
        values["floor"].append(energy_distance(other, test))
        for name, x in samplers(model, n, seed + 103 + 1000 * s, names).items():
            values[name].append(energy_distance(x, test))
    return {name: {"values": v, "min": min(v), "mean": sum(v) / len(v), "max": max(v)} for name, v in values.items()}


def score_spread(checkpoint: str, seeds: int = 5, argv: list[str] | None = None) -> dict:
    """python -m train diffusion2d-spread: `seed_spread` of a shipped 2-D model, written into its card."""
    model, card = ckpt.load_checkpoint(checkpoint), ckpt.read_card(checkpoint)
    if card.get("kind") != "ddpm2d":
        raise ValueError(f"{checkpoint} is not a 2-D diffusion model (its card's kind is {card.get('kind')!r})")
    spread = seed_spread(model, card["dataset"]["name"], card["metrics"]["eval_n"], card["training"]["seed"], seeds)
    card["metrics"]["energy_distance_seeds"] = {**spread, "seeds": seeds, "command": ckpt.command_line(argv),
                                                "commit": ckpt.git_commit(), "date": ckpt.now()}
    ckpt.write_json(ckpt.card_path(checkpoint), card)
    print(json.dumps({k: {"min": v["min"], "max": v["max"]} for k, v in spread.items()}), flush=True)
    return spread


def train(mcfg: DDPM2DConfig, tcfg: Diffusion2DTrainConfig, argv: list[str] | None = None) -> dict:
    """Train, evaluate and save; under torchrun every process trains its share of each batch and rank 0 writes."""
    if tcfg.data not in DATASETS:
        raise ValueError(f"--data {tcfg.data!r}: choose one of {', '.join(DATASETS)}")
    if tcfg.points < tcfg.batch_size:
        raise ValueError(f"--points {tcfg.points} is fewer than --batch-size {tcfg.batch_size}")
    with distributed.process_group(torch.device("cpu"), tcfg.dist_timeout) as (dist, _):
        return _train(mcfg, tcfg, argv, dist)


def _train(mcfg: DDPM2DConfig, tcfg: Diffusion2DTrainConfig, argv: list[str] | None, dist: Dist) -> dict:
    run = start_run(tcfg, argv, dist)
    distributed.check_world(dist, tcfg.batch_size, tcfg.batch_size, "points of a batch")  # epochs drop the remainder
    torch.manual_seed(tcfg.seed)
    model = DDPM2D(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)  # batches, t and ε, the same on every rank
    points = sample(tcfg.data, tcfg.points, torch.Generator().manual_seed(tcfg.seed)).float()  # (points, 2)
    modules = {"model": model}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)
    objective = distributed.wrap(Objective(model, denoising_loss), dist, torch.device("cpu"))
    log = print if dist.is_main else lambda *a, **k: None
    per_epoch = tcfg.points // tcfg.batch_size
    total = tcfg.epochs * per_epoch
    t0, done = time.time(), 0  # points trained on by this launch, over all ranks
    while epoch < tcfg.epochs:
        model.train()
        tot, n = 0.0, 0  # this rank's loss sum and points this epoch
        for idx in torch.randperm(tcfg.points, generator=g)[: per_epoch * tcfg.batch_size].view(per_epoch, -1):
            for group in opt.param_groups:  # cosine from lr to lr / 10 over the whole run
                group["lr"] = cosine_lr(tcfg.lr, step, total)
            loss_sum, count = train_step(model, objective, opt, points[idx], g, dist)
            tot, n, done = tot + loss_sum, n + count, done + len(idx)
            step += 1
            if tcfg.max_steps and step >= tcfg.max_steps:
                log(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch} "
                    f"({throughput(done, time.time() - t0, 'points')})", flush=True)
                return {"history": history, "stopped_at_step": step}
        tot, n = distributed.all_sum(dist, tot, n)
        epoch += 1
        history.append({"epoch": epoch, "step": step, "train_loss": tot / n,
                        "seconds": round(time.time() - t0, 1)})
        if epoch % 20 == 0 or epoch == tcfg.epochs:
            log(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))
    metrics = evaluate(model, tcfg)
    card = run_card(run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
                    dataset={"name": tcfg.data, "train_points": tcfg.points,
                             "exact_score": tcfg.data in MIXTURES},
                    weights_sha256=distributed.agree_on_weights(dist, model))
    if dist.is_main:
        ckpt.save_checkpoint(run.out, model.eval(), "ddpm2d", card)
        print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

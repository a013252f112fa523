"""Train the MNIST classifier that scores generated samples (train/sample_quality.py).

Grey-level images in [0, 1], each batch shifted at random by up to 2 pixels so the network judges digits
rather than their exact placement, which generated samples do not always match. The card records the test
accuracy and the real test set's Inception Score, the reference for every generated set.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from train import checkpoint as ckpt
from train import distributed
from train.data import batches, load_split
from train.distributed import Dist, Objective
from train.models.classifier import Classifier, ClassifierConfig
from train.run import Progress, RunConfig, restore, save_progress, start_run, throughput
from train.run import card as run_card
from train.sample_quality import classifier_outputs, inception_score


@dataclass
class ClassifierTrainConfig(RunConfig):
    out: str = field(default="checkpoints/classifier.safetensors", metadata={"help": "where the weights go"})
    epochs: int = field(default=6, metadata={"help": "passes over the 60,000 training images"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate, halved every 2 epochs"})
    max_shift: int = field(default=2, metadata={"help": "random translation in pixels (augmentation)"})


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Translate each image by up to max_shift pixels in x and y, filling with 0. (B, 1, H, W)."""
    if max_shift == 0:
        return x
    B, _, H, W = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, B), generator=g)
    rows = (torch.arange(H)[None] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(W)[None] + dx[:, None])[:, None, :]  # (B, 1, W)
    return padded[torch.arange(B)[:, None, None], 0, rows, cols][:, None]


@torch.no_grad()
def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(sum((model(x[s : s + 1000]).argmax(1) == y[s : s + 1000]).sum() for s in range(0, len(x), 1000))
                 / len(x))


def cross_entropy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−log p(y | x) of each image: (B,). x: (B, 1, 28, 28) in [0, 1]; y: (B,) classes."""
    return F.cross_entropy(model(x), y, reduction="none")


def train(mcfg: ClassifierConfig, tcfg: ClassifierTrainConfig, argv: list[str] | None = None) -> dict:
    """Train, evaluate and save; under torchrun every process trains its share of each batch and rank 0 writes."""
    with distributed.process_group(torch.device("cpu"), tcfg.dist_timeout) as (dist, device):
        return _train(mcfg, tcfg, argv, dist, device)


def _train(mcfg: ClassifierConfig, tcfg: ClassifierTrainConfig, argv: list[str] | None, dist: Dist,
           device: torch.device) -> dict:
    run = start_run(tcfg, argv, dist)
    torch.manual_seed(tcfg.seed)
    model = Classifier(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)  # batches and shifts, the same on every rank
    modules = {"model": model}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)
    distributed.seed_dropout(dist, tcfg.seed, step)
    objective = distributed.wrap(Objective(model, cross_entropy), dist, device)
    log = print if dist.is_main else lambda *a, **k: None

    tr = load_split(tcfg.dataset, True, tcfg.data_dir, tcfg.download)
    te = load_split(tcfg.dataset, False, tcfg.data_dir, tcfg.download)
    distributed.check_world(dist, len(tr.images), tcfg.batch_size)
    t0, done = time.time(), 0  # images trained on by this launch, over all ranks
    while epoch < tcfg.epochs:
        model.train()
        for group in opt.param_groups:
            group["lr"] = tcfg.lr * 0.5 ** (epoch // 2)
        tot, n, seen = 0.0, 0, 0  # this rank's loss sum and images; images of the whole run this epoch
        for idx in tqdm(batches(len(tr.images), tcfg.batch_size, g), desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                        total=-(-len(tr.images) // tcfg.batch_size), leave=False, mininterval=5.0,
                        disable=not dist.is_main):
            x, y = distributed.shard(dist, random_shift(tr.images[idx], tcfg.max_shift, g), tr.labels[idx])
            loss = objective(x, y)
            opt.zero_grad(set_to_none=True)
            distributed.global_mean(dist, loss, len(idx)).backward()
            opt.step()
            step += 1
            tot, n, seen, done = tot + loss.sum().item(), n + len(x), seen + len(idx), done + len(idx)
            if tcfg.max_steps and step >= tcfg.max_steps and seen < len(tr.images):
                log(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch} "
                    f"({throughput(done, time.time() - t0, 'images')})", flush=True)
                return {"history": history, "stopped_at_step": step}
        tot, n = distributed.all_sum(dist, tot, n)
        epoch += 1
        model.eval()
        history.append({"epoch": epoch, "step": step, "train_loss": tot / n,
                        "test_accuracy": accuracy(model, te.images, te.labels), "seconds": round(time.time() - t0, 1)})
        log(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))
    model.eval()
    probs, _ = classifier_outputs(model, te.images)
    is_mean, is_std = inception_score(probs)
    metrics = {"test_accuracy": accuracy(model, te.images, te.labels), "test_set_inception_score": is_mean,
               "test_set_inception_score_std": is_std}
    card = run_card(run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
                    dataset={"name": tcfg.dataset, "train_images": len(tr.images), "test_images": len(te.images),
                             "preprocessing": f"grey levels in [0, 1]; random shifts of up to {tcfg.max_shift} px"},
                    weights_sha256=distributed.agree_on_weights(dist, model))
    if dist.is_main:
        ckpt.save_checkpoint(run.out, model, "classifier", card)
        print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

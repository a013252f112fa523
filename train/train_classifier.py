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
from train.data import batches, load_split
from train.models.classifier import Classifier, ClassifierConfig
from train.run import Progress, RunConfig, restore, save_progress, start_run
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


def train(mcfg: ClassifierConfig, tcfg: ClassifierTrainConfig, argv: list[str] | None = None) -> dict:
    run = start_run(tcfg, argv)
    torch.manual_seed(tcfg.seed)
    model = Classifier(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    g = torch.Generator().manual_seed(tcfg.seed + 1)
    modules = {"model": model}
    epoch, step, history, commands = restore(run, tcfg, mcfg, modules, opt, g)

    tr = load_split(tcfg.dataset, True, tcfg.data_dir, tcfg.download)
    te = load_split(tcfg.dataset, False, tcfg.data_dir, tcfg.download)
    t0 = time.time()
    while epoch < tcfg.epochs:
        model.train()
        for group in opt.param_groups:
            group["lr"] = tcfg.lr * 0.5 ** (epoch // 2)
        tot, n = 0.0, 0
        for idx in tqdm(batches(len(tr.images), tcfg.batch_size, g), desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                        total=-(-len(tr.images) // tcfg.batch_size), leave=False, mininterval=5.0):
            loss = F.cross_entropy(model(random_shift(tr.images[idx], tcfg.max_shift, g)), tr.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot, n = tot + loss.item() * len(idx), n + len(idx)
            if tcfg.max_steps and step >= tcfg.max_steps and n < len(tr.images):
                print(f"stopped at step {step}, inside epoch {epoch + 1}; resume continues from epoch {epoch}")
                return {"history": history, "stopped_at_step": step}
        epoch += 1
        model.eval()
        history.append({"epoch": epoch, "step": step, "train_loss": tot / n,
                        "test_accuracy": accuracy(model, te.images, te.labels), "seconds": round(time.time() - t0, 1)})
        print(json.dumps(history[-1]), flush=True)
        save_progress(run, mcfg, modules, opt, g, Progress(epoch, step, history, commands))
    model.eval()
    probs, _ = classifier_outputs(model, te.images)
    is_mean, is_std = inception_score(probs)
    metrics = {"test_accuracy": accuracy(model, te.images, te.labels), "test_set_inception_score": is_mean,
               "test_set_inception_score_std": is_std}
    card = run_card(run, tcfg, model, commands=commands, step=step, epoch=epoch, history=history, metrics=metrics,
                    dataset={"name": tcfg.dataset, "train_images": len(tr.images), "test_images": len(te.images),
                             "preprocessing": f"grey levels in [0, 1]; random shifts of up to {tcfg.max_shift} px"})
    ckpt.save_checkpoint(run.out, model, "classifier", card)
    print(json.dumps({"saved": str(run.out), **metrics}), flush=True)
    return card

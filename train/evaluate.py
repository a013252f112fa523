"""python -m train evaluate: the sample-quality table of the diffusion model, the VAE and real data.

For each source, N images (fixed seed) are scored with our MNIST classifier (train/sample_quality.py):
the classifier-based Inception Score, and the Fréchet distance to the whole test set (all 10,000 images: the
reference of every row). The floors are real data scored the same way, with the same N: N training images drawn
at random (seeded) against the whole test set, and the IS of N test images drawn at random; and the same with
class-balanced draws (N/10 of each class), the like-for-like floor of class-conditional samples, which are
balanced too. (The first N test images are not a fair reference: MNIST's test set is ordered, its first 5,000
written by one population of writers and its last 5,000 by another.) The table is printed, and written into the
DDPM's card under "sample_quality" with the exact command; rows scored against another reference are kept apart,
under "superseded".
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from train import checkpoint as ckpt
from train.data import load_split
from train.run import torch_device
from train.sample_quality import classifier_outputs, frechet_distance, inception_score


@dataclass
class EvaluateConfig:
    ddpm: str = field(default="checkpoints/ddpm.safetensors", metadata={"help": "the diffusion checkpoint"})
    vae: str = field(default="checkpoints/vae_32d.safetensors", metadata={"help": "a VAE checkpoint ('' to skip)"})
    classifier: str = field(default="checkpoints/classifier.safetensors", metadata={"help": "the scoring network"})
    data_dir: str = field(default="data", metadata={"help": "folder holding MNIST/raw"})
    download: bool = field(default=False, metadata={"help": "download MNIST into --data-dir if missing"})
    n: int = field(default=5000, metadata={"help": "images per source (floors are drawn with the same N)"})
    samplers: str = field(default="ddim5,ddim10,ddim20,ddim50,dpmpp2m5,dpmpp2m10,dpmpp2m20,dpmpp2m50",
                          metadata={"help": "comma-separated: ddimK (K steps, η = 0), dpmpp2mK (DPM-Solver++(2M), K "
                                            "steps) and/or ddpm (all T steps)"})
    labels: str = field(default="none", metadata={"help": "'none': unconditional samples; 'balanced': class-"
                                                          "conditional, labels 0–9 in turn (n/10 of each)"})
    guidance: float = field(default=0.0, metadata={"help": "classifier-free guidance scale w with --labels balanced"})
    batch: int = field(default=250, metadata={"help": "images sampled at once (one cached file per batch)"})
    cache: str = field(default="runs/evaluate", metadata={"help": "folder keeping finished batches ('' for none)"})
    seed: int = field(default=0, metadata={"help": "seed of every sampler"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    device: str = field(default="cpu", metadata={"help": "torch device of the diffusion sampler: cpu or cuda "
                                                         "(its noise is drawn there, so samples differ by device)"})
    compile: bool = field(default=False, metadata={"help": "run the UNet channels-last and compiled by "
                                                           "torch.compile (needs a C++ compiler; ~1.8x on CPU)"})
    write_card: bool = field(default=True, metadata={"help": "store the table in the DDPM's card"})
    default_view: bool = field(default=True, metadata={"help": "also score the reverse viewer's default run: seeds "
                                                               "0–9 of 16 unconditional DDIM-50 samples"})


def file_digest(*paths: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of these files' bytes, in order."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


# What a cached batch depends on besides the weights and its name: the samplers' code, and how
# diffusion_samples turns their output into images (bump SAMPLES_VERSION whenever that changes).
SAMPLER_SOURCES = (Path(__file__).parent / "diffusion.py",)
SAMPLES_VERSION = 1


def cache_key(checkpoint: str | Path) -> str:
    """Names the cache folder of a checkpoint: its digest, the samplers' code digest, SAMPLES_VERSION."""
    return f"{file_digest(checkpoint)}-code{file_digest(*SAMPLER_SOURCES)[:8]}-v{SAMPLES_VERSION}"


def device_tag(device: torch.device) -> str:
    """'cpu', or 'cuda-' and the GPU's name in letters, digits and dashes ('cuda-NVIDIA-H200')."""
    if device.type != "cuda":
        return device.type
    return "cuda-" + "-".join("".join(c if c.isalnum() else " " for c in torch.cuda.get_device_name(device)).split())


def fast_unet(unet: torch.nn.Module) -> torch.nn.Module:
    """The same network, laid out channels-last (in place) and compiled by TorchInductor (torch.compile).

    On two CPU cores it is about 1.5 times as fast (`python -m tests.bench.bench_unet --threads 2`: 2.34 ms per image
    and step at batch 250 instead of 3.56; a whole DDPM-1000 batch of 250, about 590 s instead of 890). Its outputs
    differ from the plain network's by float rounding only (about 1e-6, as a different thread count gives), so it
    shares the plain network's cached batches. Compiling takes about 40 s.
    """
    return torch.compile(unet.to(memory_format=torch.channels_last))


def parse_sampler(name: str) -> tuple[str, int]:
    """'ddim50' -> ("ddim", 50), 'dpmpp2m10' -> ("dpmpp2m", 10), 'ddpm' -> ("ddpm", 0: all T); ValueError otherwise."""
    if name == "ddpm":
        return "ddpm", 0
    for kind in ("dpmpp2m", "ddim"):
        steps = name.removeprefix(kind)
        if name.startswith(kind) and steps.isdigit() and int(steps) > 0:
            return kind, int(steps)
    raise ValueError(f"sampler {name!r} is not 'ddpm', 'ddimK' or 'dpmpp2mK' (K ≥ 1 a number of steps)")


def balanced_labels(start: int, count: int) -> torch.Tensor:
    """Labels 0–9 in turn for images start … start + count − 1 of a run: n/10 of each class over n images."""
    return (torch.arange(start, start + count) % 10).long()


def _cached(path: Path | None, shape: tuple[int, ...]) -> tuple[torch.Tensor, float] | None:
    """A finished batch and its sampling seconds, or None if absent or unreadable (then it is made again)."""
    if path is None or not path.exists():
        return None
    try:
        with safe_open(path, "pt") as f:
            x, seconds = f.get_tensor("samples"), float((f.metadata() or {})["seconds"])
    except Exception as e:  # any damage to a cache file only costs its batch again
        print(f"cache file {path} is unreadable ({e}); sampling that batch again", flush=True)
        return None
    return (x, seconds) if tuple(x.shape) == shape else None


@torch.no_grad()
def diffusion_samples(model, sampler: str, n: int, batch: int, seed: int, cache: Path | None = None,
                      labels: str = "none", guidance: float = 0.0) -> tuple[torch.Tensor, float]:
    """n samples in [0, 1], (n, 1, 28, 28), and the seconds spent sampling them; batch b is seeded
    seed·100,000 + b. Unconditional (labels 'none'), or class-conditional with balanced labels, guided
    with scale `guidance`.

    With `cache` (a folder for this checkpoint), finished batches are read from and written to it, named by
    sampler, seed, batch size, index and image count; each records the seconds it took, so the reported time
    is the sampling time even when batches came from the cache. Samples are drawn on the model's device with a
    generator there. A CUDA generator's numbers differ from a CPU one's, and from one GPU model to another
    (they depend on its number of multiprocessors), so batches made on a GPU carry its name (`device_tag`).
    """
    if labels not in ("none", "balanced"):
        raise ValueError(f"labels {labels!r} is not 'none' or 'balanced'")
    if labels == "none" and guidance:
        raise ValueError(f"guidance = {guidance} needs class labels (--labels balanced)")
    dev = model.diffusion.betas.device
    tag = "" if labels == "none" else f"_balanced_w{guidance:g}"
    tag += "" if dev.type == "cpu" else f"_{device_tag(dev)}"
    out, seconds = [], 0.0
    for b, s in enumerate(tqdm(range(0, n, batch), desc=sampler + tag, leave=False)):
        shape = (min(batch, n - s), 1, 28, 28)
        path = cache / f"{sampler}{tag}_seed{seed}_batch{batch}_{b:04d}x{shape[0]}.safetensors" if cache else None
        hit = _cached(path, shape)
        if hit is not None:
            out.append(hit[0])
            seconds += hit[1]
            continue
        t0 = time.perf_counter()
        g = torch.Generator(dev).manual_seed(seed * 100_000 + b)
        y = None if labels == "none" else balanced_labels(s, shape[0]).to(dev)
        eps = model.eps_model(y, guidance)
        kind, steps = parse_sampler(sampler)
        x = model.diffusion.sample(eps, shape, kind, steps, 0.0, g)
        x = ((x + 1) / 2).clamp(0, 1).cpu().contiguous()  # .cpu() waits for the device: `took` is the whole time
        took = time.perf_counter() - t0
        seconds += took
        if path is not None:
            ckpt.atomic_write(path, lambda p, x=x, took=took: save_file({"samples": x}, str(p),
                                                                         metadata={"seconds": f"{took:.3f}"}))
        out.append(x)
    return torch.cat(out), seconds


def evaluate(cfg: EvaluateConfig, argv: list[str] | None = None) -> list[dict]:
    commit = ckpt.git_commit()  # at the start: HEAD may move while a long evaluation runs
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch_device(cfg.device)
    for name in cfg.samplers.split(","):
        parse_sampler(name)
    clf = ckpt.load_checkpoint(cfg.classifier)
    test = load_split("mnist", False, cfg.data_dir, cfg.download)
    train = load_split("mnist", True, cfg.data_dir, cfg.download)
    if cfg.n > len(test.images):
        raise ValueError(f"--n {cfg.n} is more than the {len(test.images):,} test images the floor draws from")
    _, test_feats = classifier_outputs(clf, test.images)  # the reference of every row
    reference = f"all {len(test.images):,} MNIST test images"
    rows = []

    def score(source: str, images: torch.Tensor, seconds: float, is_override: tuple | None = None, **what) -> None:
        """One row: `source` says in words what was scored, `what` the same as fields (kind, sampler, ...)."""
        probs, feats = classifier_outputs(clf, images)
        is_mean, is_std = is_override or inception_score(probs)
        rows.append({"source": source, **what, "n": len(images), "inception_score": is_mean,
                     "inception_score_std": is_std, "frechet_distance": frechet_distance(feats, test_feats),
                     "reference": reference, "seconds": round(seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)

    for labels in ("none", "balanced"):  # the floors: real digits, drawn as the samples are (seeded)
        g = torch.Generator().manual_seed(cfg.seed)
        train_idx, test_idx = (real_draw(split.labels, cfg.n, labels, g) for split in (train, test))
        is_floor = inception_score(classifier_outputs(clf, test.images[test_idx])[0])
        what = (f"{cfg.n:,} random" if labels == "none" else f"{cfg.n:,} class-balanced random") + " training images"
        score(f"real digits, the floor: {what} (FD); as many test images (IS)", train.images[train_idx], 0.0,
              is_floor, kind="real", labels=labels)
    if cfg.vae:
        vae = ckpt.load_checkpoint(cfg.vae)
        t0 = time.time()
        with torch.no_grad():
            x = vae.sample(cfg.n, torch.Generator().manual_seed(cfg.seed)).probs.view(-1, 1, 28, 28)
        score(f"VAE {Path(cfg.vae).stem}: decoder means f(z), z ~ N(0, I)", x, time.time() - t0, kind="vae")
    ddpm = load_ddpm(cfg.ddpm, device)
    training_state = ddpm_is_training_state(cfg.ddpm)
    if cfg.compile:
        ddpm.unet = fast_unet(ddpm.unet)
    cache = Path(cfg.cache) / cache_key(cfg.ddpm) if cfg.cache else None
    if cfg.labels == "balanced" and not ddpm.config.num_classes:
        raise ValueError("--labels balanced needs a class-conditional DDPM; this one has no classes")
    cond = "" if cfg.labels == "none" else ", class-conditional (labels 0–9 in turn)" + (
        f", guidance w = {cfg.guidance:g}" if cfg.guidance else "")
    for name in cfg.samplers.split(","):
        x, seconds = diffusion_samples(ddpm, name, cfg.n, cfg.batch, cfg.seed, cache, cfg.labels, cfg.guidance)
        kind, steps = parse_sampler(name)
        label = {"ddpm": f"DDPM, all {ddpm.config.timesteps} steps", "ddim": f"DDIM, {steps} steps, η = 0",
                 "dpmpp2m": f"DPM-Solver++(2M), {steps} steps"}[kind]
        on = "" if device.type == "cpu" else f", sampled on {device_tag(device)}"
        score(label + cond + on, x, seconds, kind="ddpm", sampler=name, labels=cfg.labels, guidance=cfg.guidance,
              device=device_tag(device))

    view = default_view(ddpm, clf) if cfg.default_view else None
    if view:
        print(json.dumps(view), flush=True)
    print("\n| source | N | Inception Score | Fréchet distance | seconds |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['n']:,} | {r['inception_score']:.3f} ± {r['inception_score_std']:.3f} | "
              f"{r['frechet_distance']:.3f} | {r['seconds']} |")
    if cfg.write_card and not training_state:
        write_rows(cfg.ddpm, rows, Path(cfg.classifier).name, ckpt.command_line(argv), commit)
        if view:
            card = ckpt.read_card(cfg.ddpm)
            card["default_view"] = {**view, "command": ckpt.command_line(argv), "commit": commit, "date": ckpt.now()}
            ckpt.write_json(ckpt.card_path(cfg.ddpm), card)
    return rows


def ddpm_is_training_state(path: str | Path) -> bool:
    """Whether `path` is a trainer's resumable state (runs/<name>/state.safetensors) rather than a checkpoint."""
    with safe_open(str(path), "pt") as f:
        return "state" in (f.metadata() or {})


def load_ddpm(path: str | Path, device: torch.device | str = "cpu"):
    """A DDPM checkpoint, or the EMA weights inside a diffusion trainer's state file: a run can be scored while it
    trains (its card is then left alone)."""
    if not ddpm_is_training_state(path):
        return ckpt.load_checkpoint(path, device)
    from train.models.ddpm import DDPM, DDPMConfig

    st = ckpt.load_state(path)
    model = DDPM(DDPMConfig(**st["model_config"]))
    model.load_state_dict(st["ema"])
    return model.to(device).eval()


DEFAULT_VIEW = {"seeds": 10, "samples": 16, "steps": 50, "confidence": 0.9}


@torch.no_grad()
def default_view(model, clf, seeds: int = DEFAULT_VIEW["seeds"], n: int = DEFAULT_VIEW["samples"],
                 steps: int = DEFAULT_VIEW["steps"], confidence: float = DEFAULT_VIEW["confidence"]) -> dict:
    """What a newcomer sees first: the reverse viewer's default run, unconditional DDIM with `steps` steps and η = 0
    on `n` samples, for seeds 0 … seeds − 1, z_T drawn as the viewer draws it (a CPU generator seeded with the seed,
    z_T = randn(n, 1, 28, 28)). Returns the share of samples that the classifier reads with probability ≥
    `confidence`, and that count per seed."""
    dev = model.diffusion.betas.device
    steps = min(steps, model.diffusion.T)  # as the viewer's steps slider: at most T
    per_seed = []
    for seed in range(seeds):
        z_T = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed)).to(dev)
        *_, last = model.diffusion.ddim_sample_progressive(model.eps_model(None), (n, 1, 28, 28), steps, 0.0, z_T=z_T)
        probs, _ = classifier_outputs(clf, ((last.z_prev + 1) / 2).clamp(0, 1).cpu())
        per_seed.append(int((probs.max(1).values >= confidence).sum()))
    return {"source": f"the reverse viewer's default settings (unconditional DDIM-{steps}, η = 0), {n} samples for "
                      f"each of seeds 0–{seeds - 1}",
            "confident_share": sum(per_seed) / (seeds * n), "confident_per_seed": per_seed, "confidence": confidence,
            "samples": seeds * n}


def real_draw(labels: torch.Tensor, n: int, how: str, g: torch.Generator) -> torch.Tensor:
    """Indices of n images of a split drawn at random without replacement: any (`how` 'none'), or class-balanced
    ('balanced': in the order of the samples' labels, `balanced_labels`, classes 0–9 in turn; the Inception Score's
    ten parts are then balanced as the samples' are)."""
    if how == "none":
        return torch.randperm(len(labels), generator=g)[:n]
    wanted = balanced_labels(0, n)
    out = torch.empty(n, dtype=torch.long)
    for c in range(10):
        members, slots = (labels == c).nonzero().squeeze(1), (wanted == c).nonzero().squeeze(1)
        if len(members) < len(slots):
            raise ValueError(f"class {c} has {len(members)} images, fewer than the {len(slots)} a balanced "
                             f"draw of {n} needs")
        out[slots] = members[torch.randperm(len(members), generator=g)[: len(slots)]]
    return out


def legacy_reference(row: dict) -> str:
    """What a row without a "reference" field was scored against: the first N test images (older cards)."""
    return row.get("reference") or f"the first {row['n']:,} MNIST test images"


def write_rows(ddpm: str | Path, rows: list[dict], classifier: str, command: str, commit: str = "") -> None:
    """Merge rows into the card's "sample_quality" table: a row replaces the one with the same source and N,
    others are kept; each row records the command, commit and date that made it. Rows scored against another
    reference than the new rows' move to "superseded" (with their own floor: compared with each other only), until
    their source is scored against the new reference (at any N: the new row has its own floor of that N)."""
    card = ckpt.read_card(ddpm)
    stamp = {"command": command, "commit": commit or ckpt.git_commit(), "date": ckpt.now()}
    old = card.get("sample_quality", {})
    shared = {k: old[k] for k in ("command", "commit", "date") if k in old}  # cards before per-row stamps
    same_classifier = old.get("classifier") == classifier
    table = [{**shared, **r, "reference": legacy_reference(r)} for r in old.get("rows", [])] if same_classifier else []
    superseded = list(old.get("superseded", [])) if same_classifier else []
    reference = rows[0]["reference"] if rows else None
    superseded += [t for t in table if t["reference"] != reference]
    table = [t for t in table if t["reference"] == reference]
    for r in rows:
        table = [t for t in table if (t["source"], t["n"]) != (r["source"], r["n"])] + [{**r, **stamp}]
    rescored = {r["source"] for r in rows}
    superseded = [t for t in superseded if t["source"] not in rescored]
    if all(t.get("kind") == "real" for t in superseded):  # floors with nothing left to compare
        superseded = []
    card["sample_quality"] = {"classifier": classifier, "reference": reference, "rows": table,
                              **({"superseded": superseded} if superseded else {})}
    ckpt.write_json(ckpt.card_path(ddpm), card)

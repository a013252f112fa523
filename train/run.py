"""What every training run shares: its flags, its run folder, and resuming from saved state.

Each trainer (train_vae.py, train_diffusion.py) subclasses RunConfig with its own defaults and fields and
keeps its loop explicit; only the bookkeeping lives here.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from train import checkpoint as ckpt
from train import distributed
from train.data import Dataset
from train.distributed import SINGLE, Dist


@dataclass
class RunConfig:
    out: str = field(default="checkpoints/model.safetensors", metadata={"help": "where the weights go"})
    run_dir: str = field(default="", metadata={"help": "folder for resumable state and logs; default runs/<name>"})
    dataset: Dataset = field(default="mnist", metadata={"help": "training data"})
    data_dir: str = field(default="data", metadata={"help": "folder holding MNIST/raw (torchvision's layout)"})
    download: bool = field(default=False, metadata={"help": "download the dataset into --data-dir if missing"})
    epochs: int = field(default=10, metadata={"help": "passes over the 60,000 training images"})
    batch_size: int = field(default=128, metadata={"help": "images per step, over all processes (torchrun)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    seed: int = field(default=0, metadata={"help": "seeds weights, shuffling and every random draw of training"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    resume: bool = field(default=False, metadata={"help": "continue from run_dir/state.safetensors"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps, as if killed (0: no limit)"})
    dist_timeout: float = field(default=300.0, metadata={"help": "under torchrun: seconds to wait for the other "
                                                                 "processes at the rendezvous and in each exchange"})


class Run(NamedTuple):
    out: Path  # the checkpoint to write
    run_dir: Path
    state_path: Path  # resumable state, rewritten after every epoch
    commit: str  # read at the start: HEAD may move while a long run trains
    command: str  # the launch command: `python -m train ...`, or torchrun's
    dist: Dist  # this process's place in the run (train/distributed.py)


def torch_device(name: str) -> torch.device:
    """The torch device named by a --device flag; a ValueError naming it if it is unknown or absent here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a torch device; use cpu or cuda (cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r}: this machine has no CUDA device; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: only cpu and cuda are supported")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name!r}: this machine has CUDA devices 0 to {torch.cuda.device_count() - 1}")
    return device


def start_run(tcfg: RunConfig, argv: list[str] | None, dist: Dist = SINGLE) -> Run:
    """The run's paths, commit and launch command; rank 0 makes the run folder and clears what a killed write left."""
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    out = Path(tcfg.out)
    run_dir = Path(tcfg.run_dir or Path("runs") / out.stem)
    refused = tcfg.resume and not (run_dir / "state.safetensors").exists()  # `restore` says so, on every rank
    if dist.is_main and not refused:  # a refused resume leaves no empty run folder behind
        run_dir.mkdir(parents=True, exist_ok=True)
        for folder in {run_dir, out.parent}:  # what a write killed mid-way (kill -9) left behind
            ckpt.remove_stale_tmp(folder)
    command = distributed.launch_command(sys.argv[1:] if argv is None else argv)
    return Run(out, run_dir, run_dir / "state.safetensors", ckpt.git_commit(), command, dist)


class Progress(NamedTuple):
    epoch: int
    step: int
    history: list
    commands: list[str]  # every (re)start that shaped the weights, this one last


def restore(run: Run, tcfg: RunConfig, model_config: Any, modules: dict[str, torch.nn.Module],
            opt: torch.optim.Optimizer, generator: torch.Generator) -> Progress:
    """Load saved modules, optimizer and RNG when resuming; a fresh Progress otherwise. Under torchrun rank 0 reads
    the state and sends it to the others (their machines need not see the run folder), whatever the number of
    processes that saved it: the state is the same on every rank."""
    try:
        st = resume_state(run, tcfg, model_config) if run.dist.is_main else None
        failure = None
    except ValueError as e:
        st, failure = None, str(e)
    st, failure = distributed.broadcast(run.dist, (st, failure))
    if failure:  # every rank stops with rank 0's reason
        raise ValueError(failure)
    if st is None:
        return Progress(0, 0, [], [run.command])
    for key, module in modules.items():
        module.load_state_dict(st[key])
    opt.load_state_dict(st["optimizer"])
    generator.set_state(st["generator"])
    if "torch_rng" in st:  # dropout draws from torch's global RNG (states saved before this key resume approximately)
        torch.set_rng_state(st["torch_rng"])
    if "cuda_rng" in st and torch.cuda.is_available():  # dropout of a network on a CUDA device draws there
        torch.cuda.set_rng_state(st["cuda_rng"])
    return Progress(st["epoch"], st["step"], st["history"], [*st.get("commands", []), run.command])


def save_progress(run: Run, model_config: Any, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer,
                  generator: torch.Generator, progress: Progress) -> None:
    """Everything `restore` needs, written atomically after an epoch, by rank 0 only."""
    if not run.dist.is_main:
        return
    ckpt.save_state(run.state_path, {
        **{key: module.state_dict() for key, module in modules.items()},
        "optimizer": opt.state_dict(), "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
        **({"cuda_rng": torch.cuda.get_rng_state()} if torch.cuda.is_initialized() else {}),
        "epoch": progress.epoch,
        "step": progress.step, "history": progress.history, "model_config": asdict(model_config),
        "commands": progress.commands,
    })


def resume_state(run: Run, tcfg: RunConfig, model_config: Any) -> dict | None:
    """The saved state to continue from, if --resume and one exists; refuses state of another model config."""
    if not tcfg.resume:
        return None
    if not run.state_path.exists():  # e.g. started from another folder: runs/<name> is relative to where one starts
        raise ValueError(f"--resume: no saved state at {run.state_path.resolve()}; start from the folder the run was "
                         "trained in, or pass --run-dir with its run folder")
    st = ckpt.load_state(run.state_path)
    if st["model_config"] != asdict(model_config):
        raise ValueError(f"{run.state_path} was trained with {st['model_config']}, not {asdict(model_config)}")
    print(f"resumed from {run.state_path} at epoch {st['epoch']}, step {st['step']}", flush=True)
    return st


def throughput(n: int, seconds: float, what: str) -> str:
    """How fast this launch trained, for the line printed when --max-steps stops it (and for the benchmark)."""
    return f"{n:,} {what} in {seconds:.1f} s: {n / max(seconds, 1e-9):,.1f} {what}/s"


def card(run: Run, tcfg: RunConfig, model: torch.nn.Module, *, commands: list[str], step: int, epoch: int,
         history: list, metrics: dict, **extra: Any) -> dict:
    """The JSON card's common fields; `extra` adds the trainer's own (dataset, preprocessing, ...)."""
    return {
        **extra,
        "training": {**asdict(tcfg), "steps": step, "epochs_done": epoch},
        "command": run.command,
        "commands": commands,  # the first run and every --resume, in order
        "distributed": distributed.describe(run.dist),
        "commit": run.commit,
        "environment": ckpt.environment(),
        "date": ckpt.now(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "metrics": metrics,
        "history": history,
    }

"""Training in several processes: torchrun and DistributedDataParallel (DDP), the same code path as one process.

    torchrun --nproc-per-node 2 -m train vae --data-dir ../shared/data      # 2 processes on this machine
    python -m train vae --data-dir ../shared/data                          # 1 process, no torchrun needed

How a run is split, and why it is not torch's DistributedSampler:
- `--batch-size` is the *global* batch. Every process draws the same global batch from the same seeded generator
  (the shuffling permutation, and every random draw a step makes: binarization, ε, t, label dropout, shifts), then
  keeps its own contiguous share of it (`shard`). Over an epoch the shares partition the permutation, which the
  shared generator draws afresh each epoch: what DistributedSampler's `set_epoch` is for. Unlike
  DistributedSampler, nothing is padded or repeated, and a run sees the same examples with the same noise whatever
  the number of processes: the generator's state is the same on every rank, so `--resume` continues a run in any
  number of processes.
- Each process's loss is its share's *sum* scaled by world / global batch (`global_mean`); DDP averages the
  gradients over the world, so every process steps with the gradient of the global batch's mean, as one process
  would (Li et al. 2020, "PyTorch Distributed", §3.2: gradients are all-reduced during backward).
- Parameters stay identical on every rank (same initial weights, broadcast by DDP; the same averaged gradient;
  the same optimizer), so the EMA and every metric are computed identically on every rank; the per-epoch sums a
  rank sees only its share of are all-reduced (`all_sum`). Only rank 0 writes files and prints.
- Dropout draws from each process's own torch RNG (seeded by rank), so runs of a network with dropout differ from
  the single-process run in those draws only; the VAE and the 2-D model have none.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import inspect
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
import torch.distributed as td
from torch import nn


class Dist(NamedTuple):
    rank: int  # 0 .. world - 1
    world: int  # number of processes
    local_rank: int  # index of this process on its machine: its CUDA device
    backend: str  # "gloo" (CPU) or "nccl" (CUDA); "" in a single process

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Dist(0, 1, 0, "")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} in the environment is not an integer") from None


def setup(device: torch.device, timeout_s: float = 300.0) -> tuple[Dist, torch.device]:
    """Join the process group that torchrun (or RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) describes; a single
    process when WORLD_SIZE is unset or 1. Returns this process's Dist and its device: with CUDA, device
    cuda:LOCAL_RANK and the nccl backend; on the CPU, gloo. A ValueError names what is missing or wrong."""
    world, rank = _env_int("WORLD_SIZE"), _env_int("RANK")
    if world is None or world == 1:
        return SINGLE, device
    if world < 1 or rank is None or not 0 <= rank < world:
        raise ValueError(f"WORLD_SIZE={world}, RANK={rank}: launch with torchrun, which sets both (RANK from 0 "
                         "to WORLD_SIZE - 1)")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} but {' and '.join(missing)} not set: no rendezvous to meet the other "
                         "processes at; launch with torchrun (it sets them), or set MASTER_ADDR and MASTER_PORT")
    local_rank = _env_int("LOCAL_RANK") or 0
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local_rank}, but this machine has {torch.cuda.device_count()} CUDA "
                             "devices: start at most that many processes per machine (--nproc-per-node)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        td.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, td.DistError) as e:  # e.g. the other processes never came
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"rank {rank} of {world} could not meet the others at {where} within {timeout_s:g} s "
                         f"(--dist-timeout): {first}") from None
    return Dist(rank, world, local_rank, backend), device


@contextlib.contextmanager
def process_group(device: torch.device, timeout_s: float = 300.0) -> Iterator[tuple[Dist, torch.device]]:
    """`setup` for the length of a run; the group is destroyed however the run ends."""
    dist, device = setup(device, timeout_s)
    try:
        yield dist, device
    finally:
        if dist.world > 1 and td.is_initialized():
            td.destroy_process_group()


class Objective(nn.Module):
    """A training loss as a module's forward: DDP synchronizes gradients only through its module's forward, and our
    losses are methods (model.elbo, diffusion.training_loss), not the model's forward. `loss(model, *batch)` returns
    per-example losses (B,) or a tuple whose first item is those."""

    def __init__(self, model: nn.Module, loss: Callable[..., Any]):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, *batch: torch.Tensor) -> Any:
        return self.loss(self.model, *batch)


def wrap(objective: Objective, dist: Dist, device: torch.device) -> nn.Module:
    """The objective under DDP in several processes; itself in one. Buffers are constants here (schedules, no batch
    norm), so they are not re-broadcast every step."""
    if dist.world == 1:
        return objective
    ddp = nn.parallel.DistributedDataParallel
    # torch ≥ 2.14 names it forward_sync_buffers (broadcast_buffers is deprecated there); earlier ones only know the old
    no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp).parameters
               else {"broadcast_buffers": False})
    return ddp(objective, device_ids=[device] if device.type == "cuda" else None, **no_sync)


def check_world(dist: Dist, n: int, batch_size: int, what: str = "training examples") -> None:
    """Refuse a launch in which some process would get no example in some step."""
    last = n % batch_size or batch_size
    smallest = min(batch_size, last, n)
    if dist.world > smallest:
        raise ValueError(f"{dist.world} processes, but the smallest batch holds {smallest} of the {n} {what} "
                         f"(--batch-size {batch_size}): every process needs at least one example per step; start at "
                         f"most {smallest} processes")


def shard(dist: Dist, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's contiguous share of each global-batch tensor, along dim 0 (shares differ in size by at most one)."""
    return tuple(t.tensor_split(dist.world)[dist.rank] for t in tensors)


def global_mean(dist: Dist, per_example: torch.Tensor, n_global: int) -> torch.Tensor:
    """The loss whose DDP-averaged gradient is that of the global batch's mean: sum of this share · world / n."""
    return per_example.sum() * (dist.world / n_global)


def all_sum(dist: Dist, *values: float) -> list[float]:
    """Each value summed over every rank (float64), identical on every rank afterwards."""
    if dist.world == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    if dist.backend == "nccl":
        t = t.cuda()
    td.all_reduce(t)
    return t.tolist()


def seed_dropout(dist: Dist, seed: int, step: int) -> None:
    """Give each rank its own dropout draws (torch's global RNG); a single process keeps its stream untouched."""
    if dist.world > 1:
        torch.manual_seed(seed + 1_000_003 * (dist.rank + 1) + step)


def broadcast(dist: Dist, value: Any) -> Any:
    """Rank 0's `value` on every rank (torch.distributed's object broadcast); `value` itself in one process."""
    if dist.world == 1:
        return value
    box = [value if dist.is_main else None]
    td.broadcast_object_list(box, src=0, device=torch.device("cuda", dist.local_rank) if dist.backend == "nccl"
                             else None)
    return box[0]


def weights_sha256(model: nn.Module) -> str:
    """A fingerprint of the weights' exact bytes, in state-dict order."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def agree_on_weights(dist: Dist, model: nn.Module) -> str:
    """Check that every rank ends with the same weights, byte for byte; their fingerprint. Prints this rank's
    fingerprint (a line per rank) and raises RuntimeError naming the ranks that differ from rank 0."""
    mine = weights_sha256(model)
    if dist.world == 1:
        return mine
    every: list[Any] = [None] * dist.world
    td.all_gather_object(every, mine)
    sys.stdout.write(f"rank {dist.rank} of {dist.world}: weights sha256 {mine}\n")  # one write: lines stay whole
    sys.stdout.flush()
    differ = [r for r, sha in enumerate(every) if sha != every[0]]
    if differ:
        raise RuntimeError(f"ranks {differ} ended with weights that differ from rank 0's: the processes fell out of "
                           "step (a gradient not synchronized?)")
    return mine


def launch_command(argv: list[str]) -> str:
    """The command that started this run, shell-quoted: torchrun's own command line when torchrun launched us (read
    from the parent process), else `python -m train ...`."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        try:
            with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
                parent = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            parent = []
        for i, arg in enumerate(parent):  # `.../python .../torchrun ARGS` or `python -m torch.distributed.run ARGS`
            if os.path.basename(arg) == "torchrun":
                return shlex.join(["torchrun", *parent[i + 1:]])
            if arg == "torch.distributed.run" and i > 0 and parent[i - 1] == "-m":
                return shlex.join(["python", "-m", "torch.distributed.run", *parent[i + 1:]])
        nodes, per_node = os.environ.get("GROUP_WORLD_SIZE", "?"), os.environ.get("LOCAL_WORLD_SIZE", "?")
        return shlex.join(["torchrun", f"--nnodes={nodes}", f"--nproc-per-node={per_node}", "-m", "train", *argv])
    return shlex.join(["python", "-m", "train", *argv])


def describe(dist: Dist) -> dict:
    """What the card records of how the run was spread."""
    return {"world_size": dist.world, "backend": dist.backend or "none (one process)",
            "nodes": int(os.environ.get("GROUP_WORLD_SIZE", 1)) if dist.world > 1 else 1}



"""Training in several processes (train/distributed.py): torchrun with gloo on the CPU, on tiny synthetic data.

A 2-process run writes one checkpoint whose weights every rank holds byte for byte; runs continue across a changed
number of processes and end where one uninterrupted process ends; the first update's gradient is the same in 1 and
2 processes; bad launches say what is wrong.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as td
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from tests.conftest import free_port
from train import distributed
from train.__main__ import main as train_main
from train.distributed import Dist, Objective
from train.models.ddpm import DDPM, DDPMConfig
from train.models.vae import VAE, VAEConfig
from train.train_diffusion import denoising_loss
from train.train_vae import negative_elbo

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"


def vae_args(tmp: Path, data: Path, *extra: str) -> list[str]:
    """A tiny VAE run: 256 synthetic images, 4 steps of 64 an epoch, 3 epochs."""
    return ["vae", "--latent-dim", "2", "--hidden-dim", "32", "--n-layers", "1", "--data-dir", str(data),
            "--out", str(tmp / "vae.safetensors"), "--run-dir", str(tmp / "run"), "--epochs", "3",
            "--batch-size", "64", "--lr", "3e-3", "--eval-k", "5", "--seed", "3", *extra]


def torchrun(args: list[str], nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([TORCHRUN, "--standalone", f"--nproc-per-node={nproc}", "-m", "train", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, synthetic_data) -> dict[str, torch.Tensor]:
    """The weights of an uninterrupted one-process run: what every split run must end with."""
    tmp = tmp_path_factory.mktemp("single")
    assert train_main(vae_args(tmp, synthetic_data)) == 0
    return weights(tmp / "vae.safetensors")


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Equal up to float summation order (DDP's all-reduce adds the two halves' gradients in another order)."""
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_shares_partition_every_batch():
    x = torch.arange(13)
    for world in (1, 2, 3, 4):
        parts = [distributed.shard(Dist(r, world, r, "gloo"), x)[0] for r in range(world)]
        assert torch.equal(torch.cat(parts), x)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_launch_larger_than_a_batch_is_refused():
    with pytest.raises(ValueError, match=r"3 processes, but the smallest batch holds 2 of the 130 training examples"):
        distributed.check_world(Dist(0, 3, 0, "gloo"), 130, 64)  # the last batch of an epoch holds 2
    with pytest.raises(ValueError, match=r"start at most 4 processes"):
        distributed.check_world(Dist(0, 5, 0, "gloo"), 4, 64)  # fewer examples than processes
    distributed.check_world(Dist(0, 2, 0, "gloo"), 130, 64)


def test_one_process_needs_no_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup(torch.device("cpu")) == (distributed.SINGLE, torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.setup(torch.device("cpu"))[0] == distributed.SINGLE


def test_a_launch_without_a_rendezvous_says_so(monkeypatch, capsys, tmp_path, synthetic_data):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    assert train_main(vae_args(tmp_path, synthetic_data)) == 2
    assert "MASTER_ADDR and MASTER_PORT not set: no rendezvous" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match=r"RANK=2: launch with torchrun"):
        distributed.setup(torch.device("cpu"))


@pytest.mark.slow  # waits out a rendezvous timeout
def test_a_process_whose_peers_never_come_stops_with_a_clear_error(monkeypatch, capsys, tmp_path, synthetic_data):
    for name, value in dict(WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(name, value)
    assert train_main(vae_args(tmp_path, synthetic_data, "--dist-timeout", "2")) == 2
    err = capsys.readouterr().err
    assert "rank 0 of 2 could not meet the others at 127.0.0.1:" in err and "within 2 s (--dist-timeout)" in err, err
    assert not td.is_initialized()
    assert not (tmp_path / "vae.safetensors").exists()


@pytest.mark.slow  # two torchrun processes train
def test_two_processes_write_one_checkpoint_and_resume_in_one(tmp_path, synthetic_data, single_run):
    args = vae_args(tmp_path, synthetic_data)
    r = torchrun([*args, "--max-steps", "6"])  # saved after epoch 1 (4 steps), stopped inside epoch 2
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("stopped at step 6") == 1, r.stdout  # rank 0 alone prints
    assert not (tmp_path / "vae.safetensors").exists() and (tmp_path / "run" / "state.safetensors").exists()
    assert train_main([*args, "--resume"]) == 0  # one process continues what two began
    card = json.loads((tmp_path / "vae.json").read_text())
    assert card["commands"][0].startswith("torchrun --standalone --nproc-per-node=2 -m train vae")
    assert card["commands"][1].startswith("python -m train vae") and card["distributed"]["world_size"] == 1
    assert_close(weights(tmp_path / "vae.safetensors"), single_run)


def _train_rank(rank: int, world: int, port: int, args: list[str], out: str) -> None:
    """One process of a 2-process run started without torchrun (RANK, WORLD_SIZE, MASTER_* set by hand, as
    torchrun would): its return code and the weights' fingerprint it ended with, in a file per rank."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import train.train_vae as tv

    cards = []
    real = tv.run_card
    tv.run_card = lambda *a, **k: cards.append(real(*a, **k)) or cards[-1]  # what each rank ends with
    code = train_main(args)
    Path(out, f"{rank}.json").write_text(json.dumps({"code": code, "sha": cards[0]["weights_sha256"] if cards else ""}))


def test_one_process_resumed_in_two_ends_like_one(tmp_path, synthetic_data, single_run):
    args = vae_args(tmp_path, synthetic_data)
    assert train_main([*args, "--max-steps", "6"]) == 0
    mp.start_processes(_train_rank, args=(2, free_port(), [*args, "--resume"], str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")  # (forked, not torchrun: no second start-up of Python and torch)
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    assert [r["code"] for r in ranks] == [0, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.json", "1.json", "run", "vae.json", "vae.safetensors"]
    saved = weights(tmp_path / "vae.safetensors")  # one checkpoint, by rank 0
    assert_close(saved, single_run)
    card = json.loads((tmp_path / "vae.json").read_text())
    assert ranks[0]["sha"] == ranks[1]["sha"] == card["weights_sha256"]  # every rank ended with these weights
    model = VAE(VAEConfig(**card["config"]))
    model.load_state_dict(saved)
    assert distributed.weights_sha256(model) == card["weights_sha256"]  # ... and the file holds them
    assert card["distributed"] == {"world_size": 2, "backend": "gloo", "nodes": 1}
    assert [c.split()[:3] for c in card["commands"]] == [["python", "-m", "train"]] * 2 and "--resume" in \
        card["commands"][1]
    elbo = [h["test_elbo"] for h in card["history"]]
    assert elbo[-1] > elbo[0], elbo  # the loss falls across the change of world


# --- the first update's gradient, in 1 and 2 processes ---------------------------------------------------------

def _batches():
    """One global batch for each objective: the VAE's (x, ε, β) and the DDPM's (x, y, t, noise, bf16)."""
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.rand(10, 784, generator=g), generator=g)
    vae = (x, torch.randn(10, 2, generator=g), 1.0)
    ddpm = (torch.rand(10, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (10,), generator=g),
            torch.randint(0, 50, (10,), generator=g), torch.randn(10, 1, 28, 28, generator=g), False)
    return vae, ddpm


def _models():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=2, hidden_dim=16, n_layers=1))
    ddpm = DDPM(DDPMConfig(timesteps=50, num_classes=10, base_channels=8, channel_mults="1,2", dropout=0.0))
    return vae, ddpm


def _gradients(dist: Dist) -> list[dict[str, torch.Tensor]]:
    """Each objective's gradient after one backward of this rank's share, as the trainers take it."""
    out = []
    for model, loss_fn, batch in zip(_models(), (negative_elbo, denoising_loss), _batches(), strict=True):
        objective = distributed.wrap(Objective(model, loss_fn), dist, torch.device("cpu"))
        tensors = [b for b in batch if isinstance(b, torch.Tensor)]
        share = distributed.shard(dist, *tensors)
        args = [*share, *batch[len(tensors):]]
        loss = objective(*args)
        loss = loss[0] if isinstance(loss, tuple) else loss
        distributed.global_mean(dist, loss, len(batch[0])).backward()
        out.append({k: p.grad.clone() for k, p in model.named_parameters()})
    return out


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    with distributed.process_group(torch.device("cpu"), 60) as (dist, _):
        grads = _gradients(dist)
        assert td.get_world_size() == world
    save_file({f"{i}/{k}": g for i, grad in enumerate(grads) for k, g in grad.items()}, str(Path(out) / f"{rank}.st"))


def test_the_first_update_is_the_same_in_one_and_two_processes(tmp_path):
    one = _gradients(distributed.SINGLE)
    mp.start_processes(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    ranks = [load_file(str(tmp_path / f"{r}.st")) for r in range(2)]
    for i, grads in enumerate(one):
        for key, g1 in grads.items():
            name = f"{i}/{key}"
            assert torch.equal(ranks[0][name], ranks[1][name]), name  # DDP averaged them: the same on both ranks
            torch.testing.assert_close(ranks[0][name], g1, rtol=1e-4, atol=1e-6, msg=name)  # ... and as one process

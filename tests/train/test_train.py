"""Training on tiny synthetic IDX data: the loss falls, resuming is exact, checkpoints round-trip."""

import json
import os
from pathlib import Path

import pytest
import torch

from train import checkpoint as ckpt
from train.__main__ import main as train_main
from train.data import TEST_BINARIZE_SEED, binarize, load_split, write_synthetic_mnist
from train.models.vae import VAE, VAEConfig
from train.train_vae import VAETrainConfig, train

SMALL = VAEConfig(latent_dim=2, hidden_dim=64, n_layers=1)


def _cfg(tmp: Path, data: Path, **kw) -> VAETrainConfig:
    base = dict(out=str(tmp / "vae.safetensors"), run_dir=str(tmp / "run"), data_dir=str(data), epochs=3,
                batch_size=64, lr=3e-3, eval_k=20, seed=7)
    return VAETrainConfig(**{**base, **kw})


def test_synthetic_idx_loads_through_torchvision(synthetic_data):
    tr = load_split("mnist", True, synthetic_data)
    te = load_split("mnist", False, synthetic_data, binarize_seed=TEST_BINARIZE_SEED)
    assert tr.images.shape == (256, 1, 28, 28) and te.images.shape == (64, 1, 28, 28)
    assert 0 <= tr.images.min() and tr.images.max() <= 1
    assert set(te.images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(te.images, load_split("mnist", False, synthetic_data, binarize_seed=0).images)  # fixed
    assert tr.labels.dtype == torch.int64 and tr.labels.max() <= 9


def test_dynamic_binarization_is_fresh_each_draw():
    p = torch.full((1000,), 0.3)
    g = torch.Generator().manual_seed(0)
    a, b = binarize(p, g), binarize(p, g)
    assert not torch.equal(a, b)
    assert abs(a.mean().item() - 0.3) < 0.05


def test_missing_dataset_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_split("mnist", True, tmp_path)
    assert train_main(["vae", "--data-dir", str(tmp_path), "--out", str(tmp_path / "v.safetensors"),
                       "--run-dir", str(tmp_path / "r")]) == 2


def test_training_lowers_the_loss_and_writes_a_card(tmp_path, synthetic_data):
    card = train(SMALL, _cfg(tmp_path, synthetic_data, epochs=4))
    h = card["history"]
    assert h[-1]["test_elbo"] > h[0]["test_elbo"] + 5, h
    saved = json.loads((tmp_path / "vae.json").read_text())
    for key in ("kind", "config", "dataset", "training", "command", "commit", "environment", "date", "metrics"):
        assert key in saved
    m = saved["metrics"]
    assert m["eval_k"] == 20 and m["eval_images"] == 64
    assert m["test_nll_nats"] <= -m["test_elbo_nats"] + 1e-3  # the IW bound is tighter than the ELBO
    assert "dynamic" in saved["dataset"]["binarization"]
    rd = m["rate_distortion"]
    assert rd["images"] == 64 and len(rd["kl_per_dim_nats"]) == 2
    assert rd["rate_nats"] == pytest.approx(sum(rd["kl_per_dim_nats"]))
    assert rd["elbo_nats"] == pytest.approx(m["test_elbo_nats"], abs=3)  # the same ELBO, two Monte Carlo estimates


def test_beta_trades_rate_for_distortion_and_is_checked(tmp_path, synthetic_data):
    """β weights the KL term (Higgins et al. 2017): a larger β trains a code that carries fewer nats (lower rate) and
    explains less of the image (higher distortion); the card records β and reports the β = 1 ELBO."""
    cards = {b: train(SMALL, _cfg(tmp_path / str(b), synthetic_data, beta=b, eval_k=1)) for b in (0.2, 8.0)}
    low, high = (cards[b]["metrics"]["rate_distortion"] for b in (0.2, 8.0))
    assert high["rate_nats"] < low["rate_nats"] / 2 and high["distortion_nats"] > low["distortion_nats"]
    assert cards[8.0]["training"]["beta"] == 8.0 and cards[8.0]["history"][-1]["beta"] == 8.0
    with pytest.raises(ValueError, match=r"--beta -1.0 is outside \[0, 100\]"):
        train(SMALL, _cfg(tmp_path / "bad", synthetic_data, beta=-1.0))


def test_resume_continues_exactly(tmp_path, synthetic_data):
    """Killed inside epoch 3, resumed: equals 3 epochs straight (weights, optimizer and RNG all restored)."""
    straight = train(SMALL, _cfg(tmp_path / "a", synthetic_data, eval_k=0))
    stopped = train(SMALL, _cfg(tmp_path / "b", synthetic_data, eval_k=0, max_steps=10))  # 4 steps an epoch
    assert stopped["stopped_at_step"] == 10 and len(stopped["history"]) == 2
    assert not (tmp_path / "b" / "vae.safetensors").exists()
    resumed = train(SMALL, _cfg(tmp_path / "b", synthetic_data, resume=True, eval_k=0))
    assert resumed["training"]["steps"] == straight["training"]["steps"] == 12
    assert len(resumed["commands"]) == 2 and len(straight["commands"]) == 1  # the card names both runs
    def no_time(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h]

    assert no_time(resumed["history"]) == no_time(straight["history"])
    a = ckpt.load_checkpoint(tmp_path / "a" / "vae.safetensors")
    b = ckpt.load_checkpoint(tmp_path / "b" / "vae.safetensors")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


def test_resume_refuses_another_config(tmp_path, synthetic_data):
    train(SMALL, _cfg(tmp_path, synthetic_data, epochs=1, eval_k=0))
    with pytest.raises(ValueError, match="trained with"):
        train(VAEConfig(latent_dim=3, hidden_dim=64, n_layers=1), _cfg(tmp_path, synthetic_data, resume=True))


def test_resume_without_saved_state_says_where_it_looked(tmp_path, synthetic_data):
    """The run folder is runs/<name> under the folder one starts in: --resume from another one found no state and
    silently trained from scratch."""
    with pytest.raises(ValueError, match=r"--resume: no saved state at .*run/state\.safetensors.*--run-dir"):
        train(SMALL, _cfg(tmp_path, synthetic_data, resume=True, epochs=1, eval_k=0))
    assert not (tmp_path / "run").exists()  # a refused resume leaves no empty run folder behind


def test_a_killed_writes_leftover_is_removed_when_a_run_starts(tmp_path):
    """kill -9 during an atomic write leaves its .NAME.….tmp; the next run in that folder removes it once it is older
    than any write in progress could be."""
    from train.run import RunConfig, start_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    old, fresh = run_dir / ".state.safetensors.abc123.tmp", tmp_path / ".vae.safetensors.def456.tmp"
    for f in (old, fresh):
        f.write_bytes(b"half a file")
    os.utime(old, (0, 0))  # from 1970: long dead
    start_run(RunConfig(out=str(tmp_path / "vae.safetensors"), run_dir=str(run_dir)), [])
    assert not old.exists() and fresh.exists()  # a fresh one may be another run's write in progress


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    m = VAE(VAEConfig(latent_dim=4, hidden_dim=32, n_layers=2)).eval()
    path = ckpt.save_checkpoint(tmp_path / "m.safetensors", m, "vae", {"metrics": {}})
    m2 = ckpt.load_checkpoint(path)
    assert m2.config == m.config
    x = torch.bernoulli(torch.rand(3, 784))
    z = torch.randn(3, 4)
    assert torch.equal(m.decode_logits(z), m2.decode_logits(z))
    assert torch.equal(m.encode(x).base_dist.loc, m2.encode(x).base_dist.loc)
    assert list(tmp_path.glob("*.tmp")) == []  # the atomic write left nothing behind
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, like any file written normally
    assert ckpt.read_card(path)["config"]["latent_dim"] == 4


def test_bad_checkpoints_give_named_errors(tmp_path):
    m = VAE(VAEConfig(latent_dim=2, hidden_dim=16, n_layers=1))
    good = ckpt.save_checkpoint(tmp_path / "good.safetensors", m, "vae", {})
    data = good.read_bytes()

    with pytest.raises(ckpt.CheckpointError, match=r"missing\.safetensors: no such checkpoint"):
        ckpt.load_checkpoint(tmp_path / "missing.safetensors")

    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match=r"trunc\.safetensors: .*truncated"):
        ckpt.load_checkpoint(trunc)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ckpt.CheckpointError, match=r"garbage\.safetensors"):
        ckpt.load_checkpoint(garbage)

    # weights that do not match the config they claim
    other = VAE(VAEConfig(latent_dim=3, hidden_dim=16, n_layers=1))
    from safetensors.torch import save_file

    mism = tmp_path / "mismatch.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(mism),
              metadata={"format": ckpt.FORMAT, "kind": "vae", "config": json.dumps(m.config.__dict__)})
    with pytest.raises(ckpt.CheckpointError, match=r"mismatch\.safetensors: weights do not match"):
        ckpt.load_checkpoint(mism)

    nometa = tmp_path / "nometa.safetensors"
    save_file({"a": torch.zeros(1)}, str(nometa))
    with pytest.raises(ckpt.CheckpointError, match=r"nometa\.safetensors: metadata lacks"):
        ckpt.load_checkpoint(nometa)


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    m = VAE(VAEConfig(latent_dim=2, hidden_dim=16, n_layers=1))
    path = ckpt.save_checkpoint(tmp_path / "m.safetensors", m, "vae", {})
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(path, m, "vae", {})
    assert path.read_bytes() == before
    assert list(tmp_path.glob("*.tmp")) == []


def test_cli_flags_come_from_the_config_dataclasses(tmp_path, synthetic_data, capsys):
    out = tmp_path / "cli.safetensors"
    rc = train_main(["vae", "--latent-dim", "3", "--hidden-dim", "32", "--n-layers", "1", "--epochs", "1",
                     "--data-dir", str(synthetic_data), "--out", str(out), "--run-dir", str(tmp_path / "r"),
                     "--eval-k", "5"])
    assert rc == 0
    card = ckpt.read_card(out)
    assert card["config"]["latent_dim"] == 3 and card["command"].startswith("python -m train vae --latent-dim 3")


def test_write_synthetic_gz_layout(tmp_path):
    write_synthetic_mnist(tmp_path, n_train=10, n_test=10, compress=True)
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_commit_of_a_tree_without_git_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENERATIVE_EXPLORER_COMMIT", "abc123")
    (tmp_path / "checkout" / ".git").mkdir(parents=True)  # a tree with .git: git is asked, the variable ignored
    monkeypatch.setattr(ckpt, "REPO_ROOT", tmp_path / "checkout")
    assert ckpt.git_commit() == "unknown"  # (an empty .git is no repository)
    monkeypatch.setattr(ckpt, "REPO_ROOT", tmp_path)  # a copy of the tree, no .git
    assert ckpt.git_commit() == "abc123"
    monkeypatch.delenv("GENERATIVE_EXPLORER_COMMIT")
    assert ckpt.git_commit() == "unknown"


def test_a_commit_is_dirty_for_changed_code_not_for_changed_checkpoints(tmp_path, monkeypatch):
    """Retraining one shipped model after another rewrites checkpoints/: that is no change to the code that trains."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "m.json").write_text("{}")
    (tmp_path / "train.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    monkeypatch.setattr(ckpt, "REPO_ROOT", tmp_path)
    sha = ckpt.git_commit()
    assert len(sha) == 40
    (tmp_path / "checkpoints" / "m.json").write_text('{"new": 1}')
    assert ckpt.git_commit() == sha
    (tmp_path / "train.py").write_text("x = 2\n")
    assert ckpt.git_commit() == sha + "-dirty"


def test_the_beta_grid_trains_and_scores_each_model_once_with_its_own_command(tmp_path, synthetic_data, capsys):
    from train.vae_grid import VAEGridConfig, commands, run

    cfg = VAEGridConfig(betas="4,8", latent_dims="3", hidden_dim=32, epochs=1, out_dir=str(tmp_path / "beta"),
                        data_dir=str(synthetic_data), eval_n=8, iwae_k="1,10")
    assert [p.name for p, _, _ in commands(cfg)] == ["vae_3d_beta4.safetensors", "vae_3d_beta8.safetensors"]
    run(cfg)
    card = json.loads((tmp_path / "beta" / "vae_3d_beta4.json").read_text())
    assert card["training"]["beta"] == 4.0 and card["config"]["hidden_dim"] == 32
    assert card["command"].startswith("python -m train vae --latent-dim 3 --hidden-dim 32 --beta 4 ")
    scores = card["likelihood_first_8"]
    assert scores["exact"] is None and set(scores["iwae"]) == {"1", "10"}  # (3-D: no quadrature; 2-D has it)
    assert scores["command"].startswith("python -m train evaluate-vae --vae ")
    capsys.readouterr()
    run(cfg)  # again: nothing to do
    assert capsys.readouterr().out.count("trained and scored, skipped") == 2

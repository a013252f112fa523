"""`python -m train diffusion2d` on a tiny configuration: the card's metrics, an exact resume, bad flags."""

import pytest
import torch

from train import checkpoint as ckpt
from train.__main__ import main as train_main
from train.models.ddpm2d import DDPM2DConfig
from train.train_diffusion2d import Diffusion2DTrainConfig, train

TINY = DDPM2DConfig(hidden=32, layers=2, time_dim=8, timesteps=50)


def _cfg(tmp, **kw) -> Diffusion2DTrainConfig:
    base = dict(data="ring8", points=1024, epochs=3, batch_size=256, lr=3e-3, eval_n=300,
                out=str(tmp / "m.safetensors"), run_dir=str(tmp / "run"))
    return Diffusion2DTrainConfig(**{**base, **kw})


def test_a_short_run_writes_a_checkpoint_whose_card_says_how_good_it_is(tmp_path):
    card = train(TINY, _cfg(tmp_path))
    m = card["metrics"]
    assert set(m["energy_distance"]) == {"ddpm", "ddim10", "ddim50", "ddimT"} and m["eval_n"] == 300
    assert all(v >= 0 for v in m["energy_distance"].values()) and 0 <= m["energy_distance_floor"] < 0.1
    assert set(m["eps_star_error_by_t"]) == {"1", "10", "50"}  # the noise levels up to T = 50
    assert card["dataset"] == {"name": "ring8", "train_points": 1024, "exact_score": True}
    assert card["training"]["steps"] == 12 and len(card["history"]) == 3
    model = ckpt.load_checkpoint(tmp_path / "m.safetensors")
    assert model.config == TINY and ckpt.read_card(tmp_path / "m.safetensors")["metrics"] == m


def test_resume_continues_exactly(tmp_path):
    """Stopped inside epoch 2, resumed: the same weights as three epochs straight."""
    train(TINY, _cfg(tmp_path / "a", eval_n=100))
    stopped = train(TINY, _cfg(tmp_path / "b", eval_n=100, max_steps=6))
    assert stopped["stopped_at_step"] == 6
    train(TINY, _cfg(tmp_path / "b", eval_n=100, resume=True))
    a, b = (ckpt.load_checkpoint(tmp_path / d / "m.safetensors").state_dict() for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_flags_are_named(tmp_path, capsys):
    assert train_main(["diffusion2d", "--data", "rings", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--data 'rings': choose one of ring8" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--points 100 is fewer than --batch-size 256"):
        train(TINY, _cfg(tmp_path, points=100))

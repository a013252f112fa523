"""`python -m train diffusion2d` on a tiny configuration: the card's metrics, an exact resume, bad flags."""

import math

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


@pytest.mark.parametrize("name", ["ring8", "uneven3", "moons", "spiral", "checkerboard"])
def test_each_shipped_2d_model_is_what_its_card_says(name):
    """The card's exact command and commit, and two of its numbers recomputed from the weights and the seeds: the
    data-vs-data floor and DDIM-10's energy distance."""
    from tests.conftest import CHECKPOINTS
    from train.data2d import energy_distance, sample
    from train.train_diffusion2d import samplers

    path = CHECKPOINTS / f"ddpm2d_{name}.safetensors"
    model, card = ckpt.load_checkpoint(path), ckpt.read_card(path)
    assert card["command"] == f"python -m train diffusion2d --data {name} --threads 1 --out checkpoints/{path.name}"
    assert len(card["commit"]) == 40 and card["dataset"]["name"] == name
    seed, n, m = card["training"]["seed"], card["metrics"]["eval_n"], card["metrics"]
    test = sample(name, n, torch.Generator().manual_seed(seed + 101))
    floor = energy_distance(sample(name, n, torch.Generator().manual_seed(seed + 102)), test)
    assert floor == pytest.approx(m["energy_distance_floor"], rel=1e-9)
    with torch.no_grad():
        ddim10 = samplers(model, n, seed + 103, ("ddim10",))["ddim10"]
    assert energy_distance(ddim10, test) == pytest.approx(m["energy_distance"]["ddim10"], rel=1e-3)
    assert m["energy_distance"]["ddpm"] < 3 * m["energy_distance_floor"]  # DDPM-T's samples sit near the floor


def test_a_2d_cards_negative_elbo_and_its_floor_are_recomputed():
    """ring8's card: the test negative ELBO (its first ELBO_POINTS test points, Gaussian decoder) recomputed from the
    weights and seeds, and the data's entropy (quadrature) against a large Monte Carlo estimate; the bound sits above
    the floor."""
    from tests.conftest import CHECKPOINTS
    from train.data2d import sample
    from train.mixture2d import ring8
    from train.train_diffusion2d import ELBO_POINTS

    path = CHECKPOINTS / "ddpm2d_ring8.safetensors"
    model, card = ckpt.load_checkpoint(path), ckpt.read_card(path)
    seed, m = card["training"]["seed"], card["metrics"]
    x = sample("ring8", m["eval_n"], torch.Generator().manual_seed(seed + 101))[:ELBO_POINTS]
    terms = model.diffusion.elbo_terms(model, x.float(), torch.Generator().manual_seed(seed + 105), batch=4000,
                                       decoder="gaussian")
    assert float(terms.total().double().mean()) == pytest.approx(m["test_nelbo"]["nats_per_point"], rel=1e-6)
    h = -ring8().distribution().log_prob(sample("ring8", 200_000, torch.Generator().manual_seed(7)))
    se = float(h.std()) / math.sqrt(len(h))  # a large Monte Carlo estimate with torch.distributions, for the card's
    assert float(h.mean()) == pytest.approx(m["data_entropy"]["nats_per_point"], abs=4 * se)  # quadrature
    assert m["data_entropy"]["nats_per_point"] == pytest.approx(1.1230776, abs=1e-6)
    assert m["test_nelbo"]["nats_per_point"] > m["data_entropy"]["nats_per_point"]


def test_seed_spread_repeats_the_cards_evaluation_with_fresh_draws():
    """Seed 0 of the spread is the card's own evaluation (same draws); the next seed draws everything anew."""
    from tests.conftest import CHECKPOINTS
    from train.data2d import energy_distance, sample
    from train.train_diffusion2d import samplers, seed_spread

    model = ckpt.load_checkpoint(CHECKPOINTS / "ddpm2d_ring8.safetensors")
    spread = seed_spread(model, "ring8", 300, 0, seeds=2, names=("ddim10",))
    test = sample("ring8", 300, torch.Generator().manual_seed(101))
    with torch.no_grad():
        x = samplers(model, 300, 103, ("ddim10",))["ddim10"]
    assert spread["ddim10"]["values"][0] == pytest.approx(energy_distance(x, test), rel=1e-9)
    floor = energy_distance(sample("ring8", 300, torch.Generator().manual_seed(102)), test)
    assert spread["floor"]["values"][0] == pytest.approx(floor, rel=1e-9)
    assert spread["ddim10"]["values"][1] != spread["ddim10"]["values"][0]
    assert spread["ddim10"]["min"] <= spread["ddim10"]["mean"] <= spread["ddim10"]["max"]


def test_the_apps_fit_takes_the_trainers_step():
    """train/fit2d.py's `fit` (the app's training of a drawing, torch only) and the trainer's `train_step` (one
    process) draw the same t and ε and take the same Adam step from the same weights."""
    import copy

    from train.distributed import Objective
    from train.fit2d import denoising_loss, fit
    from train.models.ddpm2d import DDPM2D
    from train.train_diffusion2d import train_step

    torch.manual_seed(0)
    model = DDPM2D(DDPM2DConfig(timesteps=50))
    other = copy.deepcopy(model)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(5))
    (_, loss), = list(fit(model, lambda n, g: x[:n], 1, batch_size=64, lr=1e-3, seed=3))
    opt = torch.optim.Adam(other.parameters(), lr=1e-3)  # the schedule's first step is lr itself
    other.train()
    total, n = train_step(other, Objective(other, denoising_loss), opt, x, torch.Generator().manual_seed(3))
    assert loss == pytest.approx(total / n, rel=1e-6)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)

"""The exact log p(x) of a 2-D latent model by quadrature (train/exact_likelihood.py), and `evaluate-vae`."""

import itertools
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from train import checkpoint as ckpt
from train.__main__ import main as train_main
from train.data import TEST_BINARIZE_SEED, load_split
from train.exact_likelihood import BernoulliVAE, _integrate, _regions, effective_sample_size, exact_log_px
from train.models.vae import VAE, VAEConfig


class LinearGaussian:
    """p(x|z) = N(x; W z + b, s² I): then p(x) = N(x; b, W Wᵀ + s² I) exactly, the test's known answer."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float):
        self.W, self.b, self.s = W.double(), b.double(), s

    def _log(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r = x.double() - z.double() @ self.W.T - self.b
        return -0.5 * (r / self.s).pow(2).sum(-1) - x.shape[-1] * (math.log(self.s) + 0.5 * math.log(2 * math.pi))

    def grid(self, z, x):
        return self._log(z[None], x[:, None]).float()  # (B, G)

    def pairs(self, z, x):
        return self._log(z, x)

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.s**2 * torch.eye(len(self.b), dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x.double())


def linear_gaussian(s: float, seed: int = 0) -> tuple[LinearGaussian, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lik = LinearGaussian(torch.randn(5, 2, generator=g), torch.randn(5, generator=g), s)
    z = torch.randn(6, 2, generator=g) * 1.5
    x = z.double() @ lik.W.T + lik.b + s * torch.randn(6, 5, generator=g, dtype=torch.float64)
    return lik, x


@pytest.mark.parametrize("s", [1.0, 0.05, 0.01])  # posteriors from wide to narrower than the coarse step (0.094)
def test_quadrature_equals_the_closed_form_of_a_linear_gaussian_decoder(s):
    lik, x = linear_gaussian(s)
    r = exact_log_px(lik, x, tol=1e-3)
    torch.testing.assert_close(r.log_px, lik.log_px(x), atol=2e-3, rtol=0)
    assert (r.step_change <= 1e-3).all() and (r.edge_ratio < 1e-8).all()
    if s == 0.01:
        assert (r.split > 2).any()  # narrow posteriors needed a finer step than the first


def test_halving_the_step_converges():
    lik, x = linear_gaussian(0.01, seed=1)
    cells, _ = _regions(lik, x[:1], 6.0, 129, 25.0)
    errors = [abs(_integrate(lik, x[0], cells[0], 6.0, s)[0] - float(lik.log_px(x[:1])[0]))
              for s in (2, 4, 8, 16)]
    assert errors[0] > 0.1 and errors[-1] < 1e-6, errors  # the trapezoid rule's error falls faster than h²
    assert all(b < a for a, b in itertools.pairwise(errors)), errors


def test_a_box_too_small_shows_in_the_edge_ratio():
    lik, _ = linear_gaussian(0.3, seed=2)
    x = (lik.W @ torch.tensor([3.0, 0.5], dtype=torch.float64) + lik.b)[None]  # the posterior sits near z = (3, 0.5)
    small = exact_log_px(lik, x, extent=0.2)  # the search may grow to 8 × 0.2 = 1.6: the mass lies beyond
    assert float(small.extent[0]) == pytest.approx(1.6) and float(small.edge_ratio[0]) > 0.5, small
    assert float(small.log_px[0]) < float(lik.log_px(x)[0]) - 1
    grown = exact_log_px(lik, x, extent=1.0)  # grows until the region holds the mass
    assert grown.extent[0] >= 4.0 and grown.edge_ratio[0] < 1e-8
    torch.testing.assert_close(grown.log_px, lik.log_px(x), atol=2e-3, rtol=0)


def test_effective_sample_size():
    assert float(effective_sample_size(torch.zeros(100))) == pytest.approx(100)
    assert float(effective_sample_size(torch.tensor([0.0, -50.0, -60.0]))) == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory, synthetic_data):
    tmp = tmp_path_factory.mktemp("vae2d")
    assert train_main(["vae", "--latent-dim", "2", "--hidden-dim", "32", "--n-layers", "1", "--data-dir",
                       str(synthetic_data), "--out", str(tmp / "vae.safetensors"), "--run-dir", str(tmp / "run"),
                       "--epochs", "4", "--batch-size", "64", "--lr", "3e-3", "--eval-k", "5"]) == 0
    return tmp / "vae.safetensors", synthetic_data


def test_exact_is_above_the_importance_weighted_estimate_on_average(tiny_vae):
    path, data = tiny_vae
    model = ckpt.load_checkpoint(path)
    x = load_split("mnist", False, data, binarize_seed=TEST_BINARIZE_SEED).flat()[:12]
    # this barely trained model's posteriors are wide (a thousand cells or more of the default 129-node search grid):
    # a search grid of 65 nodes holds them as well, with a quarter of the nodes to integrate, and each image's value
    # still passes the convergence check (agreeing with the default grid's within 1e-6 nats, measured)
    r = exact_log_px(BernoulliVAE(model), x, coarse=65)
    assert (r.step_change <= 0.01).all() and (r.edge_ratio < 1e-8).all(), r
    exact = r.log_px
    with torch.no_grad():
        iw = model.log_likelihood(x, 100, torch.Generator().manual_seed(0)).double()
    gap = iw - exact
    assert float(gap.mean()) <= 3 * float(gap.std() / math.sqrt(len(gap)))  # below the truth, within MC error
    assert float(gap.mean()) > -5  # and a trained encoder is not far off
    with pytest.raises(ValueError, match="quadrature needs a 2-D latent; this model has 3"):
        BernoulliVAE(VAE(VAEConfig(latent_dim=3)))


def test_evaluate_vae_writes_exact_and_bounds_into_the_card(tiny_vae, tmp_path):
    path, data = tiny_vae
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"vae{suffix}").write_bytes(path.with_suffix(suffix).read_bytes())
    assert train_main(["evaluate-vae", "--vae", str(tmp_path / "vae.safetensors"), "--data-dir", str(data),
                       "--n", "6", "--iwae-k", "1,50", "--worst", "5"]) == 0  # the worst 5 of 6 images
    lk = json.loads((tmp_path / "vae.json").read_text())["likelihood_first_6"]  # the synthetic test set holds 64
    per = load_file(str(tmp_path / "vae_likelihood_first_6.safetensors"))
    assert lk["test_images"] == 6 and lk["command"].startswith("python -m train evaluate-vae")
    assert lk["exact"]["nll_nats"] == pytest.approx(-float(per["exact_log_px"].mean()))
    assert lk["iwae"]["50"]["nll_nats"] == pytest.approx(-float(per["iwae_k50"].mean()))
    assert "upper bound in expectation" in lk["iwae"]["50"]["bound"]
    gaps = per["iwae_k50"] - per["exact_log_px"]
    worst = lk["worst"]["images"]
    assert [w["index"] for w in worst] == torch.argsort(gaps)[:5].tolist()
    assert worst[0]["gap"] == pytest.approx(float(gaps.min())) and 1 <= worst[0]["ess"] <= 50
    assert lk["gap_to_exact"]["50"]["mean"] == pytest.approx(float(gaps.mean()))
    assert train_main(["evaluate-vae", "--vae", str(tmp_path / "vae.safetensors"), "--data-dir", str(data),
                       "--iwae-k", "0"]) == 2


def test_a_higher_dimensional_latent_gets_bounds_only(tmp_path, synthetic_data):
    ckpt.save_checkpoint(tmp_path / "v.safetensors", VAE(VAEConfig(latent_dim=4, hidden_dim=16, n_layers=1)), "vae", {})
    assert train_main(["evaluate-vae", "--vae", str(tmp_path / "v.safetensors"), "--data-dir", str(synthetic_data),
                       "--n", "8", "--iwae-k", "1,10"]) == 0
    lk = json.loads((tmp_path / "v.json").read_text())["likelihood_first_8"]
    assert lk["exact"] is None and "upper bounds" in lk["note"] and "worst" not in lk
    assert lk["iwae"]["10"]["nll_nats"] <= lk["iwae"]["1"]["nll_nats"] + 5

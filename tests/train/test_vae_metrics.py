"""Rate, distortion, the per-dimension KL and the active units, each against a route that does not use them."""

import math

import pytest
import torch

from train.models.vae import VAE, VAEConfig
from train.vae_metrics import ACTIVE_THRESHOLD, activity, as_card, rate_distortion


def _fixed_vae(mu: list[float], sigma: list[float], logit: float = 0.0, M: int = 16) -> VAE:
    """A VAE whose encoder ignores x (q(z|x) = N(mu, diag sigma²) for every image) and whose decoder ignores z
    (every pixel's logit is `logit`): its last layers' weights are zero, their biases hold the answer."""
    vae = VAE(VAEConfig(data_dim=M, latent_dim=len(mu), hidden_dim=8, n_layers=1))
    with torch.no_grad():
        enc, dec = vae.encoder[-1], vae.decoder[-1]
        enc.weight.zero_()
        dec.weight.zero_()
        enc.bias.copy_(torch.tensor([*mu, *(math.log(s) for s in sigma)]))
        dec.bias.fill_(logit)
    return vae


def test_rate_and_distortion_of_a_constant_encoder_and_decoder_are_their_closed_forms():
    mu, sigma, logit, M = [0.5, -2.0, 0.0], [0.3, 1.0, 2.0], 1.5, 16
    x = (torch.rand(40, M, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    rd = rate_distortion(_fixed_vae(mu, sigma, logit, M), x, samples=3)
    per_dim = [0.5 * (m * m + s * s - 1) - math.log(s) for m, s in zip(mu, sigma, strict=True)]  # KL(N(m,s²)‖N(0,1))
    assert rd.kl_per_dim.tolist() == pytest.approx(per_dim, rel=1e-5)
    assert rd.rate == pytest.approx(sum(per_dim), rel=1e-5)
    # log B(x; σ(a)) = x·log σ(a) + (1 − x)·log σ(−a), summed over pixels and averaged over the images
    p_on = 1 / (1 + math.exp(-logit))
    on = x.sum(1).double().mean().item()
    assert rd.distortion == pytest.approx(-(on * math.log(p_on) + (M - on) * math.log(1 - p_on)), rel=1e-5)
    assert rd.elbo == pytest.approx(-(rd.rate + rd.distortion))
    assert rd.active_units == 0 and rd.activity.abs().max() < 1e-10  # the means never move: nothing is active


def test_activity_is_the_variance_of_the_means_and_counts_the_dimensions_above_a_hundredth():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 0.5, 0.05, 0.001])  # variances 1, 0.25, 0.0025, 1e-6
    mu = torch.randn(20_000, 4, generator=g) * scales
    act = activity(mu)
    assert act.tolist() == pytest.approx((scales**2).tolist(), rel=0.05)
    assert int((act > ACTIVE_THRESHOLD).sum()) == 2
    by_hand = [sum((m - sum(col) / len(col)) ** 2 for m in col) / (len(col) - 1) for col in mu[:50].T.tolist()]
    assert activity(mu[:50]).tolist() == pytest.approx(by_hand, rel=1e-9)
    with pytest.raises(ValueError, match="at least 2 images"):
        activity(mu[:1])


def test_a_trained_looking_encoder_has_its_active_units_counted_and_the_card_entry_is_plain_numbers():
    vae = _fixed_vae([0.0, 0.0], [1.0, 1.0])
    with torch.no_grad():  # μ_1(x) = 3·(x_1 − ½): moves with the first pixel; μ_2 stays 0
        vae.encoder[-1].weight.zero_()
    x = torch.zeros(100, 16)
    x[:50, 0] = 1
    encode = vae.encode

    def moving(xb):
        q = encode(xb)
        loc = q.base_dist.loc.clone()
        loc[:, 0] = 3 * (xb[:, 0] - 0.5)
        return torch.distributions.Independent(torch.distributions.Normal(loc, q.base_dist.scale), 1)

    vae.encode = moving
    rd = rate_distortion(vae, x, batch=30)
    assert rd.active_units == 1 and rd.activity[0] == pytest.approx(2.25 * 100 / 99)
    card = as_card(rd)
    assert card["active_units"] == 1 and len(card["kl_per_dim_nats"]) == 2
    assert all(isinstance(v, float) for v in card["kl_per_dim_nats"] + card["activity"])
    with pytest.raises(ValueError, match="samples must be at least 1"):
        rate_distortion(vae, x, samples=0)

"""The VAE lab's computations and handlers, called directly (no server)."""

import math

import numpy as np
import pytest
import torch

from explorer.vae_maths import (
    gaussian_quantiles,
    latent_plane,
    likelihood_curves,
    manifold,
    preprocess_drawing,
    slider_plane,
    underflow,
)


def test_latent_plane_round_trips(vae2d, vae32d):
    p2 = latent_plane(vae2d, None)
    z = torch.randn(5, 2)
    assert p2.exact and torch.allclose(p2.to_z(p2.to_uv(z)), z, atol=1e-6)
    means = torch.randn(200, 32) @ torch.randn(32, 32)
    p32 = latent_plane(vae32d, means)
    uv = torch.randn(6, 2)
    assert torch.allclose(p32.to_uv(p32.to_z(uv)), uv, atol=1e-4)
    # the plane's axes are the two leading principal directions, one standard deviation long
    proj = p32.to_uv(means)
    assert torch.allclose(proj.std(0), torch.ones(2), atol=1e-3)


def test_a_sliders_plane_moves_the_star_along_its_axis_and_says_how_far_z_is(vae32d):
    """The plane of slider k: moving z_k moves only the horizontal coordinate, by Δz_k (units of z); the vertical
    axis is the leading principal axis of the means across z_k; the distance from the plane is the norm of what the
    orthogonal projection leaves."""
    g = torch.Generator().manual_seed(0)
    means = torch.randn(500, 32, generator=g) @ torch.randn(32, 32, generator=g)
    k = 4
    p = slider_plane(vae32d, means, k)
    a = p.axes.double()
    assert abs(float(a[0] @ a[1])) < 1e-6 and not p.exact  # orthogonal axes
    z = torch.randn(32, generator=g)
    dz = torch.zeros(32)
    dz[k] = 0.7
    step = p.to_uv(z + dz) - p.to_uv(z)
    assert float(step[0]) == pytest.approx(0.7, rel=1e-5) and abs(float(step[1])) < 1e-5
    across = (means - means.mean(0)).clone()
    across[:, k] = 0
    v = torch.linalg.svd(across, full_matrices=False)[2][0]
    assert abs(float(v @ p.axes[1])) == pytest.approx(1.0, abs=1e-5) and float(p.axes.norm(dim=1).max()) == 1.0
    # distance: 0 on the plane, and Pythagoras off it (a direction orthogonal to both axes)
    on = p.to_z(torch.tensor([0.3, -1.2]))
    assert float(p.off_plane(on)) < 1e-4
    n = torch.randn(32, generator=g).double()
    n -= (n @ a.T) @ torch.linalg.solve(a @ a.T, a)
    n = (n / n.norm()).float()
    assert float(p.off_plane(on + 2.5 * n)) == pytest.approx(2.5, abs=1e-4)
    with pytest.raises(ValueError, match="outside"):
        slider_plane(vae32d, means, 32)


def test_manifold_grid_uses_gaussian_quantiles(vae2d):
    q = gaussian_quantiles(15)
    assert torch.allclose(torch.distributions.Normal(0, 1).cdf(q), torch.linspace(0.05, 0.95, 15), atol=1e-5)
    imgs, uv = manifold(vae2d, latent_plane(vae2d, None), 15)
    assert imgs.shape == (225, 784) and uv.shape == (225, 2)
    assert uv[0, 1] > uv[-1, 1] and uv[0, 0] < uv[-1, 0]  # top-left is (low u, high v)
    with torch.inference_mode():
        assert torch.allclose(imgs[7], vae2d.decode_probs(uv[7][None])[0])


def test_likelihood_curves_shapes_and_order(vae2d, model_digits):
    c = likelihood_curves(vae2d, model_digits[0], 1000, 3, seed=0)
    assert c.ks[0] == 1 and c.ks[-1] == 1000 and np.all(np.diff(c.ks) > 0)
    assert c.naive.shape == c.importance.shape == c.elbo.shape == (3, len(c.ks))
    # at large K the importance estimate beats the ELBO, and it is far more stable than the naive one
    assert np.all(c.importance[:, -1] > c.elbo[:, -1])
    assert np.std(c.importance[:, -1]) < np.std(c.naive[:, 3]) + 1e-9


def _log_weights(vae, x, k, repeats, seed):
    """The draws likelihood_curves makes: one generator, all prior repeats, then all posterior ones. (R, K) each."""
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        return [torch.cat([vae.log_weights(x.reshape(1, -1), k, proposal, g) for _ in range(repeats)])
                for proposal in ("prior", "posterior")]


def _log_mean_exp_at(lw: torch.Tensor, ks: np.ndarray) -> np.ndarray:
    return np.stack([(torch.logsumexp(lw[:, :k], -1) - math.log(k)).numpy() for k in ks], -1)


def test_likelihood_curves_recomputed_from_the_same_draws(vae2d, model_digits):
    x = model_digits[0]
    c = likelihood_curves(vae2d, x, 1000, 3, seed=0)
    prior, post = _log_weights(vae2d, x, 1000, 3, seed=0)
    np.testing.assert_allclose(c.naive, _log_mean_exp_at(prior, c.ks), rtol=0, atol=1e-4)
    np.testing.assert_allclose(c.importance, _log_mean_exp_at(post, c.ks), rtol=0, atol=1e-4)
    np.testing.assert_allclose(c.elbo, np.stack([post[:, :k].mean(-1).numpy() for k in c.ks], -1), rtol=0, atol=1e-4)
    assert c.best_importance == pytest.approx(float(torch.logsumexp(post.flatten(), 0) - math.log(3000)), abs=1e-4)
    # this digit is unlikely under every prior draw: each p(x|z) is below e^-104, so all 3,000 are 0 in float32
    assert float(prior.max()) < -104 and c.naive_zero_fraction == 1.0


def test_naive_zero_fraction_counts_the_prior_weights_that_underflow(vae2d):
    with torch.inference_mode():  # the decoder's own digit at z = (1, 0): prior draws near there do not underflow
        x = (vae2d.decode_probs(torch.tensor([[1.0, 0.0]]))[0] > 0.5).float()
    c = likelihood_curves(vae2d, x, 1000, 3, seed=0)
    prior, post = _log_weights(vae2d, x, 1000, 3, seed=0)
    zeros = int((prior.float().exp() == 0).sum())
    assert 0 < zeros < 3000 and not (post.float().exp() == 0).any()  # a share strictly between 0 and 1
    assert c.naive_zero_fraction == pytest.approx(zeros / 3000, abs=1e-7)


def _log_likelihood(vae, x: torch.Tensor, z: torch.Tensor) -> float:
    """log p(x|z) = Σ_m x_m·l_m − log(1 + e^l_m) from the decoder's logits l, in float64."""
    with torch.inference_mode():
        logits = vae.decode_logits(z[None])[0].double()
    return float((x.double() * logits - torch.nn.functional.softplus(logits)).sum())


def test_underflow_demo(vae2d, vae32d, model_digits):
    x = model_digits[0]
    with torch.inference_mode():
        mean = vae32d.encode(x[None]).base_dist.loc[0]
        own = (vae2d.decode_probs(torch.tensor([[1.0, 0.0]]))[0] > 0.5).float()
    # (model, digit, latent, float32 product underflows, float64 product underflows): all three regimes
    cases = [(vae32d, x, torch.full((32,), 3.5), True, True),  # a latent that explains x badly: below e^-745
             (vae32d, x, mean, True, False),  # the encoder's mean: between e^-745 and e^-104
             (vae2d, own, torch.tensor([1.0, 0.0]), False, False)]  # the decoder's own digit: above e^-87
    for vae, digit, z, zero32, zero64 in cases:
        u = underflow(vae, digit, z)
        expected = _log_likelihood(vae, digit, z)
        assert u.pixels == 784 and u.log_p == pytest.approx(expected, rel=1e-4)
        assert (expected < -104) == zero32 and (expected < -745) == zero64  # the regime this case is for
        assert (u.product32 == 0.0) == zero32 and (u.product64 == 0.0) == zero64
        # each product is e^log p as its precision holds it: exactly 0 once e^log p is below its smallest number
        assert u.product64 == pytest.approx(math.exp(expected), rel=1e-3, abs=0)
        assert u.product32 == pytest.approx(float(np.float32(math.exp(expected))), rel=1e-3, abs=0)


def _draw_one(background=255, ink=0, rgba=False) -> np.ndarray:
    img = np.full((280, 280), background, np.uint8)
    img[60:220, 130:150] = ink  # a vertical bar, like a "1"
    if rgba:
        a = np.zeros((280, 280, 4), np.uint8)
        a[60:220, 130:150] = (0, 0, 0, 255)
        return a
    return img


@pytest.mark.parametrize("kind", ["grey", "rgba-transparent", "light-on-dark"])
def test_preprocess_drawing_centres_like_mnist(kind):
    img = {"grey": _draw_one(), "rgba-transparent": _draw_one(rgba=True),
           "light-on-dark": np.stack([_draw_one(0, 255)] * 3, -1)}[kind]
    x = preprocess_drawing(img).reshape(28, 28)
    assert set(x.unique().tolist()) == {0.0, 1.0}
    ys, xs = torch.nonzero(x, as_tuple=True)
    assert ys.max() - ys.min() + 1 == 20  # the longer side scaled to 20 pixels
    assert abs(ys.float().mean() - 14) <= 1 and abs(xs.float().mean() - 14) <= 1  # centre of mass in the middle


def test_preprocess_drawing_rejects_empty_and_odd_shapes():
    with pytest.raises(ValueError, match="no ink"):
        preprocess_drawing(np.full((100, 100), 255, np.uint8))
    with pytest.raises(ValueError, match="shape"):
        preprocess_drawing(np.zeros((4, 4, 4, 4), np.uint8))

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
    assert 0.0 <= c.naive_zero_fraction <= 1.0


def test_underflow_demo(vae32d, model_digits):
    x = model_digits[0]
    far = torch.full((32,), 3.5)  # a latent that explains x badly
    u = underflow(vae32d, x, far)
    assert u.pixels == 784 and math.isfinite(u.log_p)
    if u.log_p < -104:  # below float32's smallest subnormal, e^-103.3
        assert u.product32 == 0.0
    assert math.isclose(math.log(u.product64), u.log_p, rel_tol=1e-4) if u.product64 > 0 else u.log_p < -744


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

"""The VAE decoder the page runs: its exported weights, and the uniforms page and server share."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer.labs.vae import page_decoder


def test_uniforms_are_mulberry32_as_the_page_computes_them():
    # the first values of Mulberry32 for seeds 0 and 2^31 − 1, as node computes them from static/decoder.js
    assert page_decoder._uniforms(0, 3) == pytest.approx((0.26642920868471265, 0.0003297457005828619,
                                                          0.2232720274478197), abs=1e-15)
    assert page_decoder._uniforms(2**31 - 1, 2) == pytest.approx((0.4290980885270983, 0.12713524978607893),
                                                                 abs=1e-15)
    u = page_decoder.pixel_uniforms(7)
    assert u.shape == (784,) and 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.05


def test_the_sample_is_a_bernoulli_draw_of_the_probabilities():
    probs = torch.rand(784, generator=torch.Generator().manual_seed(0))
    draws = torch.stack([page_decoder.bernoulli_sample(probs, s) for s in range(400)])
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(draws.mean(0), probs, atol=0.1)  # each pixel is on with its probability
    assert torch.equal(page_decoder.bernoulli_sample(probs, 3), page_decoder.bernoulli_sample(probs, 3))


@pytest.mark.parametrize("fixture", ["vae2d", "vae32d"])
def test_the_exported_weights_rebuild_the_decoder(fixture, request):
    vae = request.getfixturevalue(fixture)
    blob = np.frombuffer(page_decoder.weights_blob(vae), dtype="<f4")
    dims = [vae.latent_dim, 512, 512, 784]
    z = torch.randn(5, vae.latent_dim, generator=torch.Generator().manual_seed(1))
    h, at = z.double().numpy(), 0
    for i in range(3):  # the layout static/decoder.js reads: W (out × in, row-major), then b, layer by layer
        n_in, n_out = dims[i], dims[i + 1]
        W = blob[at : at + n_in * n_out].reshape(n_out, n_in)
        b = blob[at + n_in * n_out : at + n_in * n_out + n_out]
        at += n_in * n_out + n_out
        h = h @ W.T + b
        h = 1 / (1 + np.exp(-h)) if i == 2 else np.where(h > 0, h, np.expm1(h))
    assert at == blob.size
    with torch.no_grad():
        assert np.abs(h - vae.decode_probs(z).double().numpy()).max() < 1e-5


def test_other_architectures_are_refused(vae2d):
    import copy

    odd = copy.deepcopy(vae2d)
    odd.decoder[1] = nn.ReLU()
    with pytest.raises(ValueError, match="Linear/ELU"):
        page_decoder.weights_blob(odd)

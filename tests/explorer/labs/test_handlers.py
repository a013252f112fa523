"""Each sub-lab's handlers called directly, without a server, on the shipped VAEs and synthetic test digits."""

import json

import pytest
import torch

from explorer import checks
from explorer.labs.kl import panel, two_d
from explorer.labs.vae import common, controls, interpolate, latent_map, sampling
from tests.conftest import CHECKPOINTS


@pytest.fixture(scope="module")
def lab(synthetic_data):
    from explorer.models import load_models

    models = load_models(CHECKPOINTS, synthetic_data)
    return models, common.Cache(models)


def test_ancestral_sampling_shows_three_stages_and_is_seeded(lab):
    models, _ = lab
    fig, stages, grids = sampling.ancestral(models, "2-D latent", 3, 9)
    assert len(fig.data[0].y) == 2 and stages.count("<img") == 2 and grids.count("<img") == 2
    assert "all 784 pixels at once" in stages and "9 draws" in grids
    again = sampling.ancestral(models, "2-D latent", 3, 9)
    assert again[1] == stages and list(again[0].data[0].y) == list(fig.data[0].y)  # the seed fixes all three
    with pytest.raises(checks.InputError, match=r"Number of samples = 0 is outside the allowed range \[1, 400\]"):
        sampling.ancestral(models, "2-D latent", 3, 0)


def test_map_and_manifold_points_are_the_planes_z(lab):
    models, cache = lab
    assert latent_map.map_point(models, cache, "2-D latent", 1.5, -0.5).tolist() == [1.5, -0.5]  # 2-D: z itself
    z32 = latent_map.map_point(models, cache, "32-D latent", 1.0, 0.0)
    plane = cache.planes["32-D latent"]
    assert torch.allclose(plane.to_uv(z32), torch.tensor([1.0, 0.0]), atol=1e-4)  # on the PCA plane, at (1, 0)
    top_left = latent_map.manifold_point(models, cache, "2-D latent", "pc", 0, 0)
    assert top_left[0] < 0 < top_left[1]  # the grid's first cell: lowest u, highest v
    # the plane of z3: the manifold's cells step along z3 only, left to right
    row = [latent_map.manifold_point(models, cache, "32-D latent", "z3", x, 0) for x in (0, 2 * 28 * 14)]
    step = row[1] - row[0]
    assert float(step[2]) > 0 and float(step.abs().max()) == pytest.approx(float(step[2]))
    with pytest.raises(checks.InputError, match="Map coordinate v = 9 is outside"):
        latent_map.map_point(models, cache, "2-D latent", 0, 9)


def test_moving_the_sliders_is_one_request_that_sets_them_and_decodes(lab):
    """A programmatic move is one server trip (the sliders and the decoded view: z lives in the sliders); the map's
    star follows the sliders in the page (static/events/star.js), so the map is not redrawn."""
    models, cache = lab

    class Ctl:  # the parts of VaeControls that `moved` reads
        pass

    ctl = Ctl()
    ctl.models, ctl.cache = models, cache
    out = controls.moved(ctl, "2-D latent", 0, torch.tensor([1.234, -0.5]))
    sliders, (decoded,) = out[: common.MAX_SLIDERS], out[common.MAX_SLIDERS:]
    v = json.loads(decoded)
    assert sliders[:2] == [1.23, -0.5] and v["z"] == [1.23, -0.5] and v["html"].count("<img") == 2


def test_interpolation_decodes_both_paths(lab):
    models, _ = lab
    html = interpolate.interpolate(models, "32-D latent", 3, 2, 6)
    assert html.count("<img") == 2 and "slerp" in html and "from test #3" in html


def test_the_kl_panels_agree_with_their_closed_forms():
    v = json.loads(panel.kl_1d(0.0, 1.0, 0.0, 3.0, "KL(q‖p)"))
    kl_qp = 0.5 * (9 - 1 - 2 * torch.log(torch.tensor(3.0)).item())  # KL(N(0, 9) ‖ N(0, 1))
    assert f"{kl_qp:.4g}" in v["figure"]["layout"]["title"]["text"]
    fig, html = two_d.kl_2d(0, 0, 1, 1, 0, 1, 0, 1, 1, 0)
    assert "<b>0.5</b>" in html and fig["data"]  # means 1 apart, unit covariances: 1/2 nat each way
    assert panel.preset("swap p and q", 0, 1, 2, 3)[:4] == (2, 3, 0, 1)
    with pytest.raises(checks.InputError, match="Unknown preset"):
        panel.preset(["identical"], 0, 1, 0, 1)  # a list holding a valid name is not a name

"""The 2-D lab's sentences against the shipped models: what its text and "Start here" answers say happens, happens."""

from collections import deque

import pytest
import torch

from explorer import plane
from explorer.labs import plane as lab
from explorer.labs.plane import field, particles
from tests.conftest import CHECKPOINTS
from train.checkpoint import load_checkpoint
from train.mixture2d import ring8


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(CHECKPOINTS / "ddpm2d_ring8.safetensors")


def _radius(model, steps: int) -> float:
    """Mean distance from the origin of the default view's DDIM samples (2,000 particles, seed 0, η = 0)."""
    z_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    last = deque(model.diffusion.ddim_sample_progressive(model, (2000, 2), steps, 0.0, torch.Generator().manual_seed(1),
                                                         z_T=z_T, clip=False), maxlen=1)[0]
    return float(last.z_prev.norm(dim=1).mean())


def test_few_ddim_steps_stop_short_of_the_ring(model):
    answer = next(s for s in lab.STEPS if s.label == "Few steps").answer
    assert "radius of about 1.75" in answer and "at about 2" in answer
    assert "radius of about 1.75 instead of 2" in particles.TEXT
    assert _radius(model, 5) == pytest.approx(1.75, abs=0.05)
    assert _radius(model, 100) == pytest.approx(2.0, abs=0.05)


def test_at_small_t_the_network_is_wrong_off_the_data_not_on_it(model):
    """field.TEXT: "the error stays low on the data and grows off it". At t = 10, on the error map's cells: the mean
    error where q(z_t) holds most of its mass against where it is below a thousandth of its peak."""
    assert "the error stays low on the data and grows off it" in field.TEXT
    t = 10
    a = plane.alpha_bar(model, t)
    cells = plane.grid(plane.ERR)
    with torch.no_grad():
        eps = model(cells.float(), torch.full((len(cells),), t - 1)).double()
    err = (eps - plane.eps_star(ring8(), a, cells)).norm(dim=1)
    q = ring8().diffused(a).log_prob(cells).exp()
    on, off = q > 0.1 * q.max(), q < 1e-3 * q.max()
    assert on.sum() > 10 and off.sum() > 100
    assert float(err[off].mean()) > 5 * float(err[on].mean())

"""explorer/plane.py: the 2-D lab's field table and particle runs, checked against values recomputed here without it:
q(z_t) from torch.distributions, ε* by autograd of log q(z_t), the samplers of train/diffusion.py run again, the
marginals from a 1-D mixture CDF written with math.erf, and the binary blobs decoded as the page decodes them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from explorer import plane
from tests.conftest import CHECKPOINTS
from train.checkpoint import load_checkpoint
from train.mixture2d import MIXTURES
from train.models.ddpm2d import DDPM2D, DDPM2DConfig

E = 3.5  # the plane's half side, as the module documents it (checked against plane.EXTENT below)
DT = torch.float64


# --- independent helpers ---------------------------------------------------------------------------------------

def codes_at(blob: bytes, offset: int, count: int, dtype: str = "<i2") -> np.ndarray:
    """`count` little-endian values of `dtype` at byte `offset`, read without explorer.plane."""
    return np.frombuffer(blob, dtype=dtype, count=count, offset=offset)


def centres(n: int) -> np.ndarray:
    """Cell centres of an n × n grid over [−E, E]², rows from the top, each row left to right: (n², 2)."""
    cell = 2 * E / n
    c = [-E + (i + 0.5) * cell for i in range(n)]
    return np.array([(c[col], c[n - 1 - row]) for row in range(n) for col in range(n)])


def diffused_dist(weights, means, covs, a) -> MixtureSameFamily:
    """q(z_t) for x ~ Σ w_k N(μ_k, Σ_k) at ᾱ = a, built by hand: means √a μ_k, covariances a Σ_k + (1 − a) I. With a
    list of K values of ᾱ, a batch of K mixtures (log_prob of (N, K, 2) -> (N, K))."""
    w, mu, cov = (torch.as_tensor(v, dtype=DT) for v in (weights, means, covs))
    a = torch.as_tensor(a, dtype=DT)
    if a.ndim:  # a batch of noise levels
        a, w = a[:, None, None], w.expand(len(a), len(w))
        mu = a.sqrt() * mu  # (K, C, 2)
        cov = a[..., None] * cov + (1 - a[..., None]) * torch.eye(2, dtype=DT)  # (K, C, 2, 2)
    else:
        mu, cov = a.sqrt() * mu, a * cov + (1 - a) * torch.eye(2, dtype=DT)
    return MixtureSameFamily(Categorical(probs=w), MultivariateNormal(mu, cov))


def eps_star_autograd(mixture, alphas: list[float], z: np.ndarray) -> torch.Tensor:
    """ε* = −√(1 − ᾱ) ∇ log q_t(z) at each ᾱ of `alphas`, the gradient by autograd of the hand-built q_t: (K, N, 2)."""
    q = diffused_dist(mixture.weights, mixture.means, mixture.covs, alphas)
    zz = torch.tensor(z, dtype=DT)[:, None, :].expand(len(z), len(alphas), 2).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(q.log_prob(zz).sum(), zz)
    return -(1 - torch.tensor(alphas, dtype=DT)).sqrt()[:, None, None] * grad.transpose(0, 1)


def density(mixture, alphas: list[float], z: np.ndarray) -> torch.Tensor:
    """q_t(z) at each ᾱ of `alphas`: (K, N)."""
    q = diffused_dist(mixture.weights, mixture.means, mixture.covs, alphas)
    zz = torch.tensor(z, dtype=DT)[:, None, :].expand(len(z), len(alphas), 2)
    return q.log_prob(zz).exp().T


def marginal_1d(mixture, a: float, axis: int, edges: np.ndarray) -> np.ndarray:
    """The diffused mixture's marginal along `axis`, averaged over each bin of `edges`: a 1-D CDF with math.erf."""
    w = mixture.weights.tolist()
    m = [math.sqrt(a) * float(mu[axis]) for mu in mixture.means]
    s = [math.sqrt(a * float(c[axis, axis]) + 1 - a) for c in mixture.covs]
    cdf = np.array([sum(wk * 0.5 * (1 + math.erf((e - mk) / (sk * math.sqrt(2))))
                        for wk, mk, sk in zip(w, m, s, strict=True)) for e in edges])
    return (cdf[1:] - cdf[:-1]) / np.diff(edges), cdf[-1] - cdf[0]


def ab(model: DDPM2D, t: int) -> float:
    """ᾱ_t at the paper's t from the model's schedule buffer (index t − 1); 1 at t = 0."""
    return 1.0 if t == 0 else float(model.diffusion.alphas_cumprod[t - 1])


def net(model: DDPM2D, z: np.ndarray, ts: list[int]) -> torch.Tensor:
    """ε_θ(z, t) at each paper's t of `ts`, the network called directly (its index is t − 1): (K, N, 2)."""
    zz = torch.tensor(z, dtype=torch.float32).repeat(len(ts), 1)
    idx = torch.tensor(ts).sub(1).repeat_interleave(len(z))
    with torch.no_grad():
        return model(zz, idx).double().view(len(ts), len(z), 2)


# --- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread while this module runs: its tensors are small, and on a busy machine torch's thread pool
    made a field table many times slower (3.7 s against 0.4 s measured on 2 shared cores); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



@pytest.fixture(scope="module")
def ring8() -> DDPM2D:
    return load_checkpoint(CHECKPOINTS / "ddpm2d_ring8.safetensors")


@pytest.fixture(scope="module")
def ring8_table(ring8):
    return plane.field_table(ring8, plane.reference("ring8"))


@pytest.fixture(scope="module")
def ring8_recomputed(ring8):
    """What the ring8 table should hold at every t of its table (every 10 steps), recomputed here in one batch."""
    ts = list(range(10, 1001, 10))
    alphas = [ab(ring8, t) for t in ts]
    mix = MIXTURES["ring8"]()
    arrows, cells = centres(plane.ARROWS), centres(plane.ERR)
    err = (net(ring8, cells, ts) - eps_star_autograd(mix, alphas, cells)).norm(dim=2)  # (K, ERR²)
    w = density(mix, alphas, cells)
    return {"ts": ts, "learned": net(ring8, arrows, ts).numpy(),
            "exact": eps_star_autograd(mix, alphas, arrows).numpy(),
            "density": density(mix, alphas, centres(plane.HEAT)).numpy(), "err": err.numpy(),
            "err_mean": ((w * err).sum(1) / w.sum(1)).tolist()}  # the error's mean under q(z_t), on the error grid


@pytest.fixture(scope="module")
def moons_table():
    """An untrained small model of T = 20 (20 steps in its table) on the moons' KDE reference: the table of an
    approximate reference, which does not depend on the network's training."""
    torch.manual_seed(0)
    model = DDPM2D(DDPM2DConfig(hidden=16, layers=1, timesteps=20)).eval()
    ref = plane.reference("moons")
    return model, ref, *plane.field_table(model, ref)


def sampler_steps(model, n, seed, sampler, steps, eta):
    """The sampler of train/diffusion.py run here, from the documented z_T and noise seeds: a list of Steps."""
    z_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    d = model.diffusion
    gen = (d.ddpm_sample_progressive(model, (n, 2), g, z_T=z_T, clip=False) if sampler == "DDPM"
           else d.ddim_sample_progressive(model, (n, 2), steps, eta, g, z_T=z_T, clip=False))
    return z_T, list(gen)


def decoded_run(header, pos: bytes, eps: bytes):
    F, n = header["frames"], header["n"]
    # positions, then the marginals (float32, (F, 2, BINS)); the noise alone
    assert len(eps) == F * n * 2 * 2 == header["marginals_at"]
    assert len(pos) == header["marginals_at"] + F * 2 * header["bins"] * 4
    z = codes_at(pos, 0, F * n * 2).reshape(F, n, 2).astype(np.float64) * header["pos_scale"]
    e = codes_at(eps, 0, F * n * 2).reshape(F, n, 2).astype(np.float64) * header["eps_scale"]
    return z, e


@pytest.fixture(scope="module")
def ddim_run(ring8):
    n, seed, steps = 200, 7, 20
    header, pos, eps = plane.particle_run(ring8, plane.reference("ring8"), n, seed, "DDIM", steps, 0.0)
    z_T, ref_steps = sampler_steps(ring8, n, seed, "DDIM", steps, 0.0)
    return header, pos, eps, z_T, ref_steps


@pytest.fixture(scope="module")
def ddpm_run(ring8):
    n, seed = 50, 11
    header, pos, eps = plane.particle_run(ring8, plane.reference("ring8"), n, seed, "DDPM", 1, 1.0)
    z_T, ref_steps = sampler_steps(ring8, n, seed, "DDPM", None, None)
    return header, pos, eps, z_T, ref_steps


# --- quantize, grid, reference ---------------------------------------------------------------------------------

def test_constants_are_the_documented_ones():
    assert plane.EXTENT == E and plane.MAX_FRAMES >= 2
    assert set(plane.BUILTIN) == {"ring8", "uneven3", "moons", "spiral", "checkerboard"}


def test_quantize_round_trip_within_half_a_step():
    a = np.random.default_rng(0).normal(0, 2.5, (7, 33, 2))
    codes, scale = plane.quantize(a)
    assert codes.dtype == np.dtype("<i2") and codes.shape == a.shape and len(codes.tobytes()) == 2 * a.size
    assert scale == pytest.approx(np.abs(a).max() / 32767, rel=1e-12)
    back = codes.astype(np.float64) * scale
    assert np.abs(back - a).max() <= scale / 2 * (1 + 1e-9)
    assert np.abs(codes).max() == 32767  # the largest value uses the whole range
    # what the page does, and the module's own decoder for tests, read the same values from the bytes
    blob = b"\0" * 6 + codes.tobytes()
    assert np.array_equal(plane.decode(blob, a.shape, scale, offset=6), back)


def test_quantize_zeros_and_empty():
    codes, scale = plane.quantize(np.zeros((4, 2)))
    assert np.all(codes == 0) and math.isfinite(scale) and scale > 0
    assert np.all(codes.astype(np.float64) * scale == 0)
    codes, scale = plane.quantize(np.zeros(0))
    assert codes.size == 0 and math.isfinite(scale) and scale > 0


def test_quantize_preserves_sign():
    a = np.array([-3.0, -1e-3, -1e-9, 0.0, 1e-9, 2e-3, 3.0, -2.9999])
    codes, scale = plane.quantize(a)
    assert np.all(codes.astype(np.int64) * np.sign(a) >= 0)  # never the opposite sign
    big = np.abs(a) > scale / 2
    assert np.array_equal(np.sign(codes[big]), np.sign(a[big]))
    assert codes[0] == -32767 and codes[6] == 32767
    codes, scale = plane.quantize(np.array([-2.0]))
    assert codes.tolist() == [-32767] and codes[0] * scale == pytest.approx(-2.0, abs=scale / 2)


@pytest.mark.parametrize("n", [1, 2, 3, 4, plane.ARROWS])
def test_grid_is_cell_centres_from_the_top_left(n):
    g = plane.grid(n)
    assert g.shape == (n * n, 2) and g.dtype == DT
    assert np.allclose(g.numpy(), centres(n), atol=1e-12, rtol=0)
    rows = g.numpy().reshape(n, n, 2)
    if n > 1:
        assert np.all(np.diff(rows[:, :, 0], axis=1) > 0)  # x increases to the right along a row
        assert np.all(np.diff(rows[:, :, 1], axis=0) < 0)  # y decreases from row to row: row 0 at the top
        assert rows[0, 0, 1] == pytest.approx(E - E / n) and rows[0, 0, 0] == pytest.approx(-E + E / n)


@pytest.mark.parametrize("name", sorted(MIXTURES))
def test_reference_of_a_mixture_is_exact(name):
    ref = plane.reference(name)
    want = MIXTURES[name]()
    assert ref.exact and ref.note.startswith("exact")
    for got, exp in ((ref.mixture.weights, want.weights), (ref.mixture.means, want.means),
                     (ref.mixture.covs, want.covs)):
        assert torch.equal(got, exp)


def test_reference_of_drawn_points_is_a_mixture_of_draw_std():
    pts = torch.tensor([[0.0, 0.0], [1.0, -2.0], [-3.5, 3.5], [0.25, 0.5], [2.0, 2.0]], dtype=DT)
    ref = plane.reference("your drawing", pts)
    m = ref.mixture
    assert ref.exact and "5 points" in ref.note
    assert torch.allclose(m.weights, torch.full((5,), 0.2, dtype=DT))
    assert torch.equal(m.means, pts)
    assert torch.allclose(m.covs, torch.eye(2, dtype=DT).expand(5, 2, 2) * plane.DRAW_STD**2)
    # the density it implies is the hand-built one
    z = torch.tensor([[0.1, 0.0], [1.0, -1.9], [5.0, 5.0]], dtype=DT)
    q = diffused_dist(torch.full((5,), 0.2), pts, torch.eye(2).expand(5, 2, 2) * plane.DRAW_STD**2, 1.0)
    assert torch.allclose(m.log_prob(z), q.log_prob(z), atol=1e-9)


def test_reference_of_moons_is_an_approximate_kde():
    ref = plane.reference("moons")
    m = ref.mixture
    assert not ref.exact and "approximate" in ref.note
    assert len(m.weights) == plane.KDE_POINTS and torch.allclose(m.weights.sum(), torch.tensor(1.0, dtype=DT))
    h = float(m.means.std(0).mean()) * plane.KDE_POINTS ** (-1 / 6)  # Scott's rule on the KDE's own points
    assert torch.allclose(m.covs, h**2 * torch.eye(2, dtype=DT).expand_as(m.covs))
    assert f"{h:.3f}" in ref.note
    assert plane.reference("moons").mixture.means.equal(m.means)  # the same points each time
    # its points are moons: within [−2.25, 2.25] × [−1.125, 1.125] (train/data2d.py), plus a little noise
    assert m.means[:, 0].abs().max() < 2.6 and m.means[:, 1].abs().max() < 1.5 and m.means[:, 0].abs().max() > 1.8


# --- the field table -------------------------------------------------------------------------------------------

def test_field_table_layout(ring8_table):
    header, blob = ring8_table
    K, A, H, R = len(header["ts"]), header["arrows"], header["heat"], header["err"]
    assert header["ts"] == list(range(10, 1001, 10))  # every T / 100 steps, T = 1000
    assert (A, H, R, header["extent"]) == (plane.ARROWS, plane.HEAT, plane.ERR, E)
    assert len(blob) == K * A * A * 2 * 2 * 2 + K * H * H + K * R * R
    assert header["exact"] is True and len(header["err_mean"]) == K and header["err_max"] > 0


def test_field_table_sqrt_alpha_bar(ring8, ring8_table):
    header, _ = ring8_table
    want = [math.sqrt(float(ring8.diffusion.alphas_cumprod.double()[t - 1])) for t in header["ts"]]
    assert np.allclose(header["sqrt_ab"], want, rtol=1e-7, atol=0)
    assert header["sqrt_ab"] == sorted(header["sqrt_ab"], reverse=True)


def test_field_table_learned_and_exact_blocks(ring8_table, ring8_recomputed):
    header, blob = ring8_table
    ts, A = header["ts"], header["arrows"]
    K, n = len(ts), A * A
    assert ts == ring8_recomputed["ts"]
    learned = codes_at(blob, 0, K * n * 2).reshape(K, n, 2).astype(np.float64) * header["learned_scale"]
    exact = codes_at(blob, K * n * 4, K * n * 2).reshape(K, n, 2).astype(np.float64) * header["exact_scale"]
    # the network's float32 output (batched differently here), quantized; the exact field in float64, quantized
    assert np.abs(learned - ring8_recomputed["learned"]).max() <= header["learned_scale"] / 2 + 1e-5
    assert np.abs(exact - ring8_recomputed["exact"]).max() <= header["exact_scale"] / 2 + 1e-9
    # each scale is the largest magnitude over 32767 (a wrong scale fails above, a needlessly coarse one here)
    assert header["learned_scale"] * 32767 == pytest.approx(np.abs(ring8_recomputed["learned"]).max(), rel=1e-5)
    assert header["exact_scale"] * 32767 == pytest.approx(np.abs(ring8_recomputed["exact"]).max(), rel=1e-9)


def test_field_table_density_block(ring8_table, ring8_recomputed):
    header, blob = ring8_table
    ts, A, H = header["ts"], header["arrows"], header["heat"]
    K = len(ts)
    dens = codes_at(blob, K * A * A * 4 * 2, K * H * H, "u1").reshape(K, H * H).astype(np.float64)
    assert np.all(dens.max(1) == 255)  # each t on its own scale
    p = ring8_recomputed["density"]
    want = np.sqrt(p / p.max(1, keepdims=True)) * 255  # √ of the density relative to its maximum at that t
    assert np.abs(dens - want).max() <= 0.5 + 1e-6
    # t = 10: the eight modes, narrow; the plane's centre is empty. t = 1000: one broad bump in the middle
    centre = (H // 2) * H + H // 2
    assert dens[0, centre] == 0 and dens[-1, centre] >= 250


def test_field_table_error_block_and_its_mean(ring8_table, ring8_recomputed):
    header, blob = ring8_table
    ts, A, H, R = header["ts"], header["arrows"], header["heat"], header["err"]
    K = len(ts)
    err = codes_at(blob, K * A * A * 8 + K * H * H, K * R * R, "u1").reshape(K, R * R).astype(np.float64)
    assert len(blob) == K * A * A * 8 + K * H * H + K * R * R  # the error block ends the blob
    errs = ring8_recomputed["err"]
    assert header["err_max"] == pytest.approx(errs.max(), rel=1e-5)  # one scale for all t
    assert err.max() == 255
    assert np.abs(err / 255 * header["err_max"] - errs).max() <= header["err_max"] / 255 / 2 + 1e-5
    assert np.allclose(header["err_mean"], ring8_recomputed["err_mean"], rtol=1e-5, atol=1e-7)
    # weighted by q(z_t), not the plain mean over the grid: at small t they differ (the error is large off the data)
    assert header["err_mean"][0] < 0.5 * errs[0].mean()


def test_field_table_of_an_approximate_reference_has_no_error_block(moons_table):
    model, ref, header, blob = moons_table
    assert header["ts"] == list(range(1, 21))  # T = 20: every step
    K, A, H = len(header["ts"]), header["arrows"], header["heat"]
    assert header["exact"] is False and "approximate" in header["note"]
    assert header["err_max"] == 0 and header["err_mean"] == []
    assert len(blob) == K * A * A * 8 + K * H * H  # learned, exact and density; no error block
    learned = codes_at(blob, 0, K * A * A * 2).reshape(K, A * A, 2).astype(np.float64) * header["learned_scale"]
    assert np.abs(learned - net(model, centres(A), header["ts"]).numpy()).max() <= header["learned_scale"] / 2 + 1e-5
    # the KDE's exact block is still its own ε*, diffused exactly
    exact = codes_at(blob, K * A * A * 4, K * A * A * 2).reshape(K, A * A, 2).astype(np.float64)
    want = eps_star_autograd(ref.mixture, [ab(model, t) for t in header["ts"]], centres(A)).numpy()
    assert np.abs(exact * header["exact_scale"] - want).max() <= header["exact_scale"] / 2 + 1e-9
    dens = codes_at(blob, K * A * A * 8, K * H * H, "u1").reshape(K, H * H).astype(np.float64)
    assert np.all(dens.max(1) == 255)
    ks = [0, K // 2, K - 1]  # moons have no symmetry: a density flipped or transposed on the grid fails here
    p = density(ref.mixture, [ab(model, header["ts"][k]) for k in ks], centres(H)).numpy()
    assert np.abs(dens[ks] - np.sqrt(p / p.max(1, keepdims=True)) * 255).max() <= 0.5 + 1e-6


# --- particle runs ---------------------------------------------------------------------------------------------

def test_ddim_run_matches_the_sampler(ring8, ddim_run):
    header, pos, eps, z_T, steps = ddim_run
    assert header["n"] == 200 and header["frames"] == header["computed"] == len(steps) + 1 == 21
    assert header["frames"] <= plane.MAX_FRAMES
    assert header["t"] == [s.t + 1 for s in steps] + [0] and header["t"][0] == 1000 and header["t"][-1] == 0
    z, e = decoded_run(header, pos, eps)
    half = header["pos_scale"] / 2 + 1e-6
    assert np.abs(z[0] - z_T.numpy()).max() <= half  # the first frame is z_T
    assert np.abs(z[0] - torch.randn(200, 2, generator=torch.Generator().manual_seed(7)).numpy()).max() <= half
    for k, s in enumerate(steps):
        assert np.abs(z[k] - s.z_t.numpy()).max() <= half
        assert np.abs(e[k] - s.eps.numpy()).max() <= header["eps_scale"] / 2 + 1e-6
    assert np.abs(z[-1] - steps[-1].z_prev.numpy()).max() <= half  # the sample z_0
    assert np.all(e[-1] == 0)
    # η = 0 is deterministic: a second run gives the same bytes
    again = plane.particle_run(ring8, plane.reference("ring8"), 200, 7, "DDIM", 20, 0.0)
    assert again[1] == pos and again[2] == eps


def test_ddim_run_with_eta_uses_the_noise_seed(ring8):
    n, seed = 40, 3
    header, pos, eps = plane.particle_run(ring8, plane.reference("ring8"), n, seed, "DDIM", 10, 0.5)
    _, steps = sampler_steps(ring8, n, seed, "DDIM", 10, 0.5)
    z, _ = decoded_run(header, pos, eps)
    assert header["frames"] == 11
    assert np.abs(z[-1] - steps[-1].z_prev.numpy()).max() <= header["pos_scale"] / 2 + 1e-6
    eta0 = plane.particle_run(ring8, plane.reference("ring8"), n, seed, "DDIM", 10, 0.0)
    z0, _ = decoded_run(*eta0)
    assert np.abs(z0[0] - z[0]).max() <= (header["pos_scale"] + eta0[0]["pos_scale"]) / 2 + 1e-6  # one z_T
    assert np.abs(z0[-1] - z[-1]).max() > 0.05  # but the noise moved the ends


def test_ddpm_run_keeps_max_frames_and_matches_the_sampler(ddpm_run):
    header, pos, eps, _, steps = ddpm_run
    T = len(steps)
    assert T == 1000 and header["computed"] == T + 1 and header["frames"] == plane.MAX_FRAMES
    t = header["t"]
    assert t[0] == T and t[-1] == 0 and all(a > b for a, b in itertools.pairwise(t))
    gaps = {a - b for a, b in itertools.pairwise(t)}
    assert gaps <= {math.floor(T / (plane.MAX_FRAMES - 1)), math.ceil(T / (plane.MAX_FRAMES - 1))}  # evenly spread
    z, e = decoded_run(header, pos, eps)
    half, half_e = header["pos_scale"] / 2 + 1e-6, header["eps_scale"] / 2 + 1e-6
    assert np.abs(z[0] - torch.randn(50, 2, generator=torch.Generator().manual_seed(11)).numpy()).max() <= half
    by_t = {s.t + 1: s for s in steps}
    for k, tk in enumerate(t[:-1]):
        assert np.abs(z[k] - by_t[tk].z_t.numpy()).max() <= half, tk
        assert np.abs(e[k] - by_t[tk].eps.numpy()).max() <= half_e, tk
    assert np.abs(z[-1] - steps[-1].z_prev.numpy()).max() <= half and np.all(e[-1] == 0)


@pytest.mark.parametrize("which", ["ddim_run", "ddpm_run"])
def test_run_coefficients_are_the_schedule(ring8, which, request):
    header = request.getfixturevalue(which)[0]
    for t, s, r in zip(header["t"], header["sqrt_ab"], header["sqrt_1mab"], strict=True):
        a = ab(ring8, t)
        assert s == pytest.approx(math.sqrt(a), rel=1e-9) and r == pytest.approx(math.sqrt(1 - a), rel=1e-9, abs=0)
        assert (s, r) == pytest.approx(ring8.diffusion.coefficients(t)[:2], rel=1e-12)
    assert (header["sqrt_ab"][-1], header["sqrt_1mab"][-1]) == (1.0, 0.0)


@pytest.mark.parametrize("which", ["ddim_run", "ddpm_run"])
def test_x0_from_the_blobs_is_the_samplers_x0(which, request):
    header, pos, eps, _, steps = request.getfixturevalue(which)
    z, e = decoded_run(header, pos, eps)
    by_t = {s.t + 1: s for s in steps}
    for k, t in enumerate(header["t"][:-1]):
        s, r = header["sqrt_ab"][k], header["sqrt_1mab"][k]
        x0 = (z[k] - r * e[k]) / s
        # quantization errors of z and ε̂, amplified by 1/√ᾱ (×156 at t = T), and float32 rounding in the sampler
        tol = (header["pos_scale"] / 2 + r * header["eps_scale"] / 2) / s + 2e-6 * (1 + 1 / s)
        assert np.abs(x0 - by_t[t].x0.numpy()).max() <= tol, t


@pytest.mark.parametrize("which", ["ddim_run", "ddpm_run"])
def test_run_marginals_are_the_diffused_references(ring8, which, request):
    header, pos = request.getfixturevalue(which)[:2]
    bins = header["bins"]
    m = plane.run_marginals(header, pos).astype(np.float64)
    assert bins == plane.BINS and m.shape == (header["frames"], 2, bins)
    edges = np.linspace(-E, E, bins + 1)
    width = 2 * E / bins
    mix = MIXTURES["ring8"]()
    frames = range(header["frames"]) if which == "ddim_run" else range(0, header["frames"], 17)
    for k in [*frames, header["frames"] - 1]:
        a = ab(ring8, header["t"][k])
        for axis in (0, 1):
            want, inside = marginal_1d(mix, a, axis, edges)
            assert np.abs(m[k, axis] - want).max() <= 1e-6, (k, axis)  # float32
            assert m[k, axis].sum() * width == pytest.approx(inside, abs=bins * 5e-6 * width + 1e-9)
    # at t = T nearly N(0, 1) on each axis: the mass inside ±3.5 is erf(3.5 / √2)
    assert m[0, 0].sum() * width == pytest.approx(math.erf(E / math.sqrt(2)), abs=2e-3)


# --- kept_frames -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget", [2, 3, 7, plane.MAX_FRAMES])
def test_kept_frames(budget):
    for total in range(1, 1200, 7):
        kept = plane.kept_frames(total, budget)
        if total <= budget:
            assert kept == list(range(total))
            continue
        assert len(kept) == budget and kept[0] == 0 and kept[-1] == total - 1
        assert all(a < b for a, b in itertools.pairwise(kept))
        step = (total - 1) / (budget - 1)
        assert all(math.floor(step) <= b - a <= math.ceil(step) for a, b in itertools.pairwise(kept))
    assert len(plane.kept_frames(1001)) == plane.MAX_FRAMES  # the default budget


# --- the field error: how far a network is from the exact denoiser -----------------------------------------------

class _Exact(torch.nn.Module):
    """ε*(z_t, t) of a mixture by autograd (eps_star_autograd), as a network: the exact denoiser."""

    def __init__(self, mixture, like: DDPM2D):
        super().__init__()
        self.mixture, self.diffusion = mixture, like.diffusion

    def forward(self, z, t):
        zs, ts = z.double().numpy(), t.numpy()
        out = np.zeros((len(zs), 2))
        with torch.inference_mode(False), torch.enable_grad():  # (called under inference mode)
            for s in np.unique(ts):
                a = float(self.diffusion.alphas_cumprod[int(s)])
                out[ts == s] = eps_star_autograd(self.mixture, [a], zs[ts == s])[0].detach().numpy()
        return torch.from_numpy(out)


def test_the_exact_denoiser_has_no_field_error(ring8):
    mixture = MIXTURES["ring8"]()
    e, se, floor = plane.excess_loss(_Exact(mixture, ring8), mixture)
    assert e < 1e-9 and se < 1e-9 and 0.1 < floor < 1


def test_the_field_error_is_the_simple_loss_above_the_exact_denoisers(ring8):
    """L_simple(θ) = E‖ε − ε_θ‖² splits as E‖ε_θ − ε*‖² + E‖ε − ε*‖² (ε* = E[ε | z_t]), each per coordinate as the
    training loss: estimated here with draws of its own (t uniform, x, ε), for an untrained network (a large error)
    and the shipped one (a small one); the floor too."""
    mixture = MIXTURES["ring8"]()
    torch.manual_seed(3)
    untrained = DDPM2D(DDPM2DConfig(hidden=64, layers=3)).eval()
    g = torch.Generator().manual_seed(11)
    T = ring8.diffusion.T
    assert T % 5 == 0
    for model in (untrained, ring8):
        diffs, floors = [], []
        for t in range(3, T + 1, 5):  # 200 evenly spread t (a grid of its own), 100 points each
            a = float(ring8.diffusion.alphas_cumprod[t - 1])
            x = mixture.sample(100, g)
            eps = torch.randn(x.shape, dtype=DT, generator=g)
            z = math.sqrt(a) * x + math.sqrt(1 - a) * eps
            with torch.no_grad():
                pred = model(z.float(), torch.full((len(z),), t - 1)).double()
            star = eps_star_autograd(mixture, [a], z.numpy())[0]
            diffs.append(((eps - pred) ** 2).mean(1) - ((eps - star) ** 2).mean(1))  # paired: L_simple − its floor
            floors.append(((eps - star) ** 2).mean(1))
        d = torch.stack(diffs)  # (t, point): within each t the draws are independent
        here, here_se = float(d.mean()), math.sqrt(float(d.var(1).mean()) / d.numel())
        e, se, floor = plane.excess_loss(model, mixture)
        assert abs(here - e) < 4 * math.hypot(here_se, se), (here, here_se, e, se)
        f = torch.stack(floors)
        assert abs(floor - float(f.mean())) < 5 * math.sqrt(float(f.var(1).mean()) / f.numel()), floor
    assert plane.excess_loss(untrained, mixture)[0] > 20 * plane.excess_loss(ring8, mixture)[0]

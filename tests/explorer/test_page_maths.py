"""The page's own maths, run in Node (`node --test tests/js`) against fixtures that this test writes from torch and
from our Python: the VAE decoder's forward pass and pixel uniforms (static/lib/decoder_maths.js), the KL lab's closed
forms, axes and text (static/lib/kl_maths.js), and the settling of a drag (static/lib/settle.js). The browser tests
then check that the page draws with these modules (tests/browser/test_page_decoder.py, test_kl_page.py)."""

import json
import math
import os
import random
import re
import subprocess
from pathlib import Path

import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from explorer import kl_maths as km
from explorer.labs.kl import common
from explorer.labs.vae import page_decoder

ROOT = Path(__file__).resolve().parents[2]
DT = torch.float64


def _json(v):
    """JSON without ∞ and NaN: as the strings tests/js/fixtures.mjs reads back."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    return v


def _logits(vae, zs: torch.Tensor) -> torch.Tensor:
    """The decoder's logits with its float32 weights in float64 arithmetic, as the page computes them."""
    h, layers = zs, page_decoder.decoder_layers(vae)
    for i, layer in enumerate(layers):
        h = h @ layer.weight.detach().double().T + layer.bias.detach().double()
        if i < len(layers) - 1:
            h = torch.nn.functional.elu(h)
    return h


def _decoder_fixture(folder: Path, vaes: dict) -> dict:
    rng = torch.Generator().manual_seed(0)
    models = []
    for name, vae in vaes.items():
        (folder / f"{name}.bin").write_bytes(page_decoder.weights_blob(vae))
        layers = page_decoder.decoder_layers(vae)
        D = layers[0].in_features
        zs = torch.cat([torch.randn(6, D, generator=rng, dtype=DT) * 1.5, torch.full((1, D), 4.0, dtype=DT),
                        torch.zeros(1, D, dtype=DT)])
        with torch.no_grad():
            probs = torch.sigmoid(_logits(vae, zs))
        models.append({"name": name, "weights": f"{name}.bin", "dims": [D] + [m.out_features for m in layers],
                       "zs": zs.tolist(), "probs": probs.tolist()})
    uniforms = [{"seed": s, "u": list(page_decoder._uniforms(s, 784))} for s in (0, 1, 7, 12345, 2**31 - 1)]
    return {"models": models, "uniforms": uniforms}


def _kl1d(mp, sp, mq, sq):
    p, q = Normal(torch.tensor(mp, dtype=DT), torch.tensor(sp, dtype=DT)), Normal(
        torch.tensor(mq, dtype=DT), torch.tensor(sq, dtype=DT))
    return [float(kl_divergence(p, q)), float(kl_divergence(q, p))]


def _mvn(m1, m2, s1, s2, rho):
    cov = torch.tensor([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]], dtype=DT)
    return MultivariateNormal(torch.tensor([m1, m2], dtype=DT), covariance_matrix=cov)


def _kl_fixture() -> dict:
    rng = random.Random(0)
    lo, hi = common.SIGMA_MIN, common.SIGMA_MAX

    def sigma():
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    ones = [[rng.uniform(-10, 10), sigma(), rng.uniform(-10, 10), sigma()] for _ in range(300)] + [
        [0.0, lo, 0.0, hi], [0.0, hi, 0.0, lo], [-10.0, lo, 10.0, lo], [10.0, hi, -10.0, lo],  # σ at its bounds
        [-4.0, 0.1, 4.0, 0.1], [-10.0, 0.001, 10.0, 0.001],  # far-apart spikes: 3200 and 2e8 nats
        [0.3, 1.7, 0.3, 1.7], [0.0, 1.0, 0.0, 1.0 + 1e-3]]  # identical, and nearly so

    def one():
        return [rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(0.05, 5), rng.uniform(0.05, 5),
                rng.uniform(-0.99, 0.99)]
    twos = [[one(), one()] for _ in range(300)] + [
        [[-5, -5, 0.05, 0.05, 0.99], [5, 5, 0.05, 0.05, -0.99]],  # spikes at the corners, opposite correlations
        [[0, 0, 5, 0.05, 0.99], [0, 0, 0.05, 5, -0.99]],  # σ and ρ at their bounds
        [[-3, 0, 0.1, 0.1, 0], [3, 0, 0.1, 0.1, 0]],  # the preset: 1800 nats each way
        [[1, -1, 0.5, 2, 0.3], [1, -1, 0.5, 2, 0.3]]]  # identical
    spans = [(rng.uniform(-1e3, 1e3), 10 ** rng.uniform(-4, 9)) for _ in range(300)] + [(0.0, 1.0), (-5.0, 10.0)]
    zeros = [[10 ** rng.uniform(-3, 3), -(10 ** rng.uniform(-6, 9)), 10 ** rng.uniform(-6, 11)] for _ in range(300)]
    zeros += [[0.5, 0.0, 0.0], [399.0, -1.0, 8e10], [1.0, -0.5, 0.0]]
    pairs = [[[rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(0.05, 5), rng.uniform(0.05, 5), 0.0]
              for _ in range(2)] for _ in range(200)]
    values = [rng.choice([1, -1]) * 10 ** rng.uniform(-8, 9) for _ in range(400)] + [
        0.0, 0.5, 1.0625, 12345.5, 99999.5, 1e5, 9.9995, 3200.0, 1e-5, math.inf, -math.inf, math.nan]
    numbers = [(rng.uniform(0, 5000), rng.uniform(0, 1e6)) for _ in range(50)] + [(math.inf, 2.0), (0.0, 0.0)]
    return {
        "kl1d": [[p, _kl1d(*p)] for p in ones],
        "kl2d": [[p, q, [float(kl_divergence(_mvn(*p), _mvn(*q))), float(kl_divergence(_mvn(*q), _mvn(*p)))]]
                 for p, q in twos],
        "steadyRange": [[[a, a + w], km.steady_range(a, a + w)] for a, w in spans],
        "sharedZero": [[z, list(km.shared_zero(*z))] for z in zeros],
        "plotRange": [[p, km.plot_range(*p)] for p in ones[:100]],
        "ranges2d": [[[p, q], list(km.ranges_2d(p, q))] for p, q in pairs],
        "fmtNats": [[v, km.fmt_nats(v)] for v in values],
        "numbersHtml": [[[a, b], common.numbers_html(a, b)] for a, b in numbers],
    }


def test_the_pages_maths_in_node_agrees_with_torch_and_python(node, tmp_path, vae2d, vae32d):
    fixture = _decoder_fixture(tmp_path, {"vae_2d": vae2d, "vae_32d": vae32d})
    (tmp_path / "decoder.json").write_text(json.dumps(_json(fixture)))
    (tmp_path / "kl.json").write_text(json.dumps(_json(_kl_fixture())))
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    r = subprocess.run([node, "--test", "--test-reporter=tap", *files], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "GE_JS_FIXTURES": str(tmp_path)})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)", r.stdout, re.M)[1])
    assert passed >= 10 and re.search(r"^# fail 0$", r.stdout, re.M), r.stdout[-2000:]  # every test ran, none failed

"""The KL lab through gradio_client: endpoints and bad inputs."""

import json
import math

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app import raw_call


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def kl_1d(client, *args) -> tuple[dict, str]:
    """/kl_1d answers one JSON value for the live plot: the numbers as HTML and the plotly figure."""
    v = json.loads(client.predict(*args, api_name="/kl_1d"))
    return v["figure"], v["html"]


def _ok(client):
    _fig, html = kl_1d(client, 0.0, 1.0, 1.0, 2.0, "KL(p‖q)")
    assert "0.4431" in html


def test_kl_1d_numbers_and_figure(client):
    fig, html = kl_1d(client, 0.0, 1.0, 0.0, 3.0, "KL(q‖p)")
    assert [t["name"] for t in fig["data"]] == ["integrand of KL(q‖p)", "p", "q"]
    a, b = 0.5 * (1 / 9) + math.log(3) - 0.5, 0.5 * 9 - math.log(3) - 0.5  # closed forms
    assert f"{a:.4g}" in html and f"{b:.4g}" in html and "bits" in html
    assert f"KL(q‖p) = {b:.4g}" in fig["layout"]["title"]["text"]


def test_preset_sets_the_sliders(client):
    out = client.predict("identical", 0.0, 1.0, 1.0, 2.0, api_name="/preset")
    assert tuple(out[:4]) == (0.0, 1.0, 0.0, 1.0) and "exactly 0" in out[4]
    out = client.predict("swap p and q", 0.0, 1.0, 1.0, 2.0, api_name="/preset")
    assert tuple(out[:4]) == (1.0, 2.0, 0.0, 1.0) and "swapped" in out[4]


def test_monte_carlo_and_fit(client):
    fig, md = client.predict(0.0, 1.0, 0.5, 1.0, 4, 0, api_name="/kl_monte_carlo")
    assert "k3" in md and "closed form" in md and isinstance(fig, dict)
    fig, md = client.predict(-2.0, 0.6, 2.5, 0.8, 0.4, 0.5, api_name="/kl_fit")  # the last streamed frame
    assert "moment-matching optimum" in md


def test_kl_2d_and_vae_term(client):
    fig, html = client.predict(0, 0, 1, 1, 0.5, 0, 0, 1, 1, 0.5, api_name="/kl_2d")
    assert "<b>0</b>" in html
    fig, md = client.predict("2-D latent", 3, api_name="/kl_vae_term")
    assert "sums these 2 bars" in md and isinstance(fig, dict)


BAD = [
    ("/kl_1d", (0.0, 0.0, 0.0, 1.0, "KL(p‖q)"), r"σ_p = 0 is outside the allowed range \[0.001, 10\]"),
    ("/kl_1d", (0.0, -1.0, 0.0, 1.0, "KL(p‖q)"), r"σ_p = -1 is outside the allowed range \[0.001, 10\]"),
    ("/kl_1d", (25.0, 1.0, 0.0, 1.0, "KL(p‖q)"), r"μ_p = 25 is outside the allowed range \[-10, 10\]"),
    ("/kl_1d", (0.0, 1.0, 0.0, 1.0, "sideways"), "sideways"),
    ("/kl_monte_carlo", (0.0, 1.0, 0.0, 1.0, 7, 0), r"log10 N = 7 is outside the allowed range \[1, 6\]"),
    ("/kl_2d", (0, 0, 1, 1, 1.0, 0, 0, 1, 1, 0), r"ρ_p = 1 is outside the allowed range \[-0.99, 0.99\]"),
    ("/kl_fit", (0, 0.0, 1, 1, 0.5, 0), r"σ₁ = 0 is outside the allowed range \[0.1, 5\]"),
    ("/kl_vae_term", ("2-D latent", 10**6), r"Test digit index = 1000000 is outside the allowed range \[0, 63\]"),
]


@pytest.mark.parametrize(("api", "args", "message"), BAD, ids=[f"{a}-{i}" for i, (a, *_r) in enumerate(BAD)])
def test_bad_inputs(client, api, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)
    _ok(client)


@pytest.mark.parametrize(("api", "data", "message"), [
    ("/kl_1d", [math.nan, 1.0, 0.0, 1.0, "KL(p‖q)"], "μ_p = nan is outside the allowed range [-10, 10]"),
    ("/kl_1d", [0.0, math.nan, 0.0, 1.0, "KL(p‖q)"], "σ_p = nan is outside the allowed range [0.001, 10]"),
    ("/kl_1d", [0.0, 1.0, math.inf, 1.0, "KL(p‖q)"], "μ_q = inf is outside the allowed range [-10, 10]"),
    ("/kl_2d", [0, 0, 1, 1, math.nan, 0, 0, 1, 1, 0], "ρ_p = nan is outside the allowed range [-0.99, 0.99]"),
    ("/kl_monte_carlo", [0.0, 1.0, 0.0, 1.0, math.nan, 0], "log10 N = nan is outside the allowed range [1, 6]"),
])
def test_non_finite_inputs(app_server, client, api, data, message):
    event, text = raw_call(app_server.url, api, data)
    assert event == "error" and message in text, (event, text)
    _ok(client)


def test_the_monte_carlo_table_has_k2_js_and_tv_beside_both_kls(client):
    from explorer import kl_maths as km

    _fig, md = client.predict(0, 1, 1, 2, 3, 0, api_name="/kl_monte_carlo")
    assert "k2 = mean of ½ (log r)² (biased)" in md
    js, tv = km.js_tv_1d(0, 1, 1, 2)
    assert f"| {js:.5g} nats |" in md and f"| {tv:.5g} |" in md
    assert f"| KL(q ‖ p) | {km.fmt_nats(km.kl_1d(0, 1, 1, 2)[1])} nats |" in md

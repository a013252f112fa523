"""Live plots whose large, fixed traces travel once as a served file (render.publish_traces), not per update."""

import base64
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer import render, served
from tests.conftest import CHECKPOINTS


def _file(url: str) -> Path:
    assert url.startswith("ge/")
    return served.resolve("/" + url)


def _count(arr) -> int:
    """Length of a plotly array: a list, or a typed array {"dtype", "bdata": base64}."""
    if isinstance(arr, dict):
        return len(base64.b64decode(arr["bdata"])) // np.dtype(arr["dtype"]).itemsize
    return len(arr)


def test_published_traces_are_written_once_and_named_by_url(tmp_path, monkeypatch):
    monkeypatch.setattr(served, "_folder", [tmp_path / "served"])  # made on first use
    calls = []

    def traces():
        calls.append(1)
        return [go.Scatter(x=[1, 2], y=[3, 4], name="a"), go.Scatter(x=[5], y=[6], name="b")]

    url = render.publish_traces(traces, "points-1")
    assert render.publish_traces(traces, "points-1") == url and len(calls) == 1  # made once, then reused
    stored = json.loads(_file(url).read_text())["traces"]
    assert [t["name"] for t in stored] == ["a", "b"] and _file(url).parent == tmp_path / "served"
    assert not list((tmp_path / "served").glob("*.tmp"))

    v = json.loads(render.live_value(go.Figure(go.Scatter(x=[0], y=[0])), "<b>hi</b>", static_url=url))
    assert v["static_url"] == url and v["html"] == "<b>hi</b>" and len(v["figure"]["data"]) == 1
    assert json.loads(render.live_value(go.Figure()))["static_url"] is None


@pytest.fixture(scope="module")
def vae_lab(synthetic_data):
    from explorer.labs.vae.common import Cache
    from explorer.models import load_models

    models = load_models(CHECKPOINTS, synthetic_data)
    return models, Cache(models)


def test_latent_map_updates_are_small_and_its_points_travel_once(vae_lab, tmp_path, monkeypatch):
    from explorer.labs.vae import common, latent_map

    monkeypatch.setattr(served, "_folder", [tmp_path])
    models, cache = vae_lab
    for name in models.vaes:
        value = latent_map.latent_map(models, cache, name, None, [0.5] * models.vaes[name].latent_dim)
        v = json.loads(value)
        # the star carries the plane's projection (D × 2 numbers), so the page moves it as a slider changes
        assert [t["name"] for t in v["figure"]["data"]] == ["sliders' z"] and len(value) < 3_000
        points = json.loads(_file(v["static_url"]).read_text())["traces"]
        assert [t["name"] for t in points] == [str(c) for c in range(10)]
        assert sum(_count(t["x"]) for t in points) == len(models.digits.labels)  # every test digit, once
        again = json.loads(latent_map.latent_map(models, cache, name, None, [-0.5] * models.vaes[name].latent_dim))
        assert again["static_url"] == v["static_url"] and again["figure"] != v["figure"]  # the star moved
    # an encoded digit adds its posterior ellipses; all WebGL, so the points (WebGL) never cover them
    enc = common.encode_digit(models, name, models.digits.x[0], "test digit #0")
    encoded = json.loads(latent_map.latent_map(models, cache, name, enc, None))["figure"]["data"]
    assert [(t["name"], t["type"]) for t in encoded] == [("q(z|x) 1σ", "scattergl"), ("q(z|x) 2σ", "scattergl"),
                                                         ("sliders' z", "scattergl")]
    urls = {json.loads(latent_map.latent_map(models, cache, name, None, None))["static_url"] for name in models.vaes}
    assert len(urls) == len(models.vaes)  # one file per model


def test_export_names_say_what_a_figure_shows_and_travel_beside_a_live_figure():
    """render.file_name / exportable: names in the link's own terms, a digit by its index; a live plot's export
    rides beside its figure (a changed layout.meta makes Plotly.react draw anew), and other meta stays."""
    assert render.file_name("kl-1d", mu_p=0.0, sigma_p=1.5, shaded="pq") == "kl-1d_mu_p=0_sigma_p=1.5_shaded=pq"
    assert render.file_name("vae", model="2-D latent", digit="test digit #35 (a 2)") == "vae_model=2-D-latent_digit=35"
    assert render.file_name("vae", digit="your drawing", x="a/b:c") == "vae_digit=drawn_x=a-b-c"
    fig = go.Figure(go.Scatter(x=[0], y=[0]))
    fig.update_layout(meta={"T": 1000})
    render.exportable(fig, "diffusion-schedules_T=1000", "the caption")
    assert fig.layout.meta == {"T": 1000, "ge_export": {"name": "diffusion-schedules_T=1000", "caption": "the caption"}}
    v = json.loads(render.live_value(fig))
    assert v["export"] == {"name": "diffusion-schedules_T=1000", "caption": "the caption"}
    assert v["figure"]["layout"]["meta"] == {"T": 1000}
    assert "meta" not in json.loads(render.live_value(render.exportable(go.Figure(), "a", "b")))["figure"]["layout"]
    assert render.plain("f<sub>θ</sub>(z) &amp; x") == "fθ(z) & x"

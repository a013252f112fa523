"""The app through gradio_client: every public endpoint answers with the right types; bad input gives a
clear error and the server keeps answering."""

import math

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app import raw_call

M2 = "2-D latent"
M32 = "32-D latent"


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def _ok(client):
    out = client.predict(M2, 0, [0.0, 0.0], api_name="/decode")
    assert out.count("<img") == 2


def test_endpoints_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/decode", "/sample", "/map_click", "/encode_index", "/encode_drawing", "/reparameterize",
            "/likelihood", "/two_gaps", "/interpolate"} <= names


def test_decode_changes_with_z_and_seed(client):
    a = client.predict(M2, 0, [0.0, 0.0], api_name="/decode")  # model, pixel seed, z
    b = client.predict(M2, 0, [2.0, -1.5], api_name="/decode")
    c = client.predict(M2, 1, [2.0, -1.5], api_name="/decode")
    assert isinstance(a, str) and a.startswith("<div") and "data:image/png;base64," in a
    assert a != b and b != c
    d = client.predict(M32, 0, [0.5] * 32, api_name="/decode")
    assert d.count("<img") == 2


def test_sample(client):
    fig, stages, grids = client.predict(M32, 3, 16, api_name="/sample")
    assert isinstance(fig, dict) and "plot" in fig
    assert stages.count("<img") == 2 and grids.count("<img") == 2
    assert client.predict(M32, 3, 16, api_name="/sample")[1] == stages  # seeded: reproducible


def test_map_click_sets_sliders(client):
    out = client.predict(M2, 1.5, -0.5, api_name="/map_click")  # the z at map point (u, v)
    assert math.isclose(out[0], 1.5, abs_tol=1e-6) and math.isclose(out[1], -0.5, abs_tol=1e-6)


def test_map_click_on_a_sliders_plane_moves_along_that_slider(client):
    """On the 32-D model's plane of z3, two points that differ only in u give latents that differ only in z3."""
    a = client.predict(M32, 0.0, 0.4, "z3", api_name="/map_click")
    b = client.predict(M32, 1.0, 0.4, "z3", api_name="/map_click")
    diff = [y - x for x, y in zip(a, b, strict=True)]
    assert abs(diff[2]) > 0.05 and max(abs(d) for i, d in enumerate(diff) if i != 2) < 1e-5
    with pytest.raises(AppError, match="Map plane must be one of pc; got"):
        client.predict(M2, 0.0, 0.0, "z3", api_name="/map_click")  # the 2-D model's map is its whole latent


def test_encode_then_likelihood_then_reparameterize(client):
    images, fig_q, fig_kl, table, eps = client.predict(M2, 5, 0, api_name="/encode_index")
    assert images.count("<img") == 2 and "| z1 |" in table and "<img" in eps
    assert isinstance(fig_q, dict) and isinstance(fig_kl, dict)
    eps2 = client.predict(M2, 7, api_name="/reparameterize")
    assert eps2 != eps and "ε seed 7" in eps2
    plot, under, elbo, post = client.predict(M2, 200, 2, 0, api_name="/likelihood")
    assert isinstance(plot, dict) and "float32" in under and "gap" in elbo
    assert isinstance(post, dict)  # the 2-D model shows the true posterior


def test_the_two_gaps_of_the_encoded_digit_add_up_and_name_their_log_px(client):
    client.predict(M2, 5, 0, api_name="/encode_index")
    bar, table, post = client.predict(M2, 40, 16, 0, api_name="/two_gaps")
    rows = {line.split("|")[1].replace("**", "").strip(): line.split("|")[2].replace("**", "").split()[0]
            for line in table.splitlines() if line.startswith("| ") and "nats" not in line and "μ" not in line}
    log_px, best, enc = (float(rows[k]) for k in ("log p(x), exact (quadrature)", "ELBO(q*), the best Gaussian",
                                                  "ELBO(q_φ), the encoder's"))
    approx, amort = float(rows["approximation gap"]), float(rows["amortization gap (± Monte Carlo s.e.)"])
    assert approx == pytest.approx(log_px - best, abs=2e-3) and amort == pytest.approx(best - enc, abs=2e-3)
    assert isinstance(bar, dict) and isinstance(post, dict)  # 2-D: the posterior with both Gaussians
    client.predict(M32, 5, 0, api_name="/encode_index")
    _bar, table32, _post = client.predict(M32, 10, 8, 0, api_name="/two_gaps")
    assert "IWAE-1000 lower bound" in table32


def test_the_beta_grid_view_shows_each_cards_numbers(client):
    """β and collapse: the table holds the card's rate, distortion, likelihoods and active units (read here from
    the JSON itself) for the chosen β and for β = 1."""
    import json

    from tests.conftest import CHECKPOINTS

    card = json.loads((CHECKPOINTS / "beta" / "vae_2d_beta0.1.json").read_text())
    kl, rd, maps, grids, table = client.predict("2", "0.1", api_name="/beta_grid")
    row = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table.splitlines()[2:]
           if line.startswith("|")}
    m = card["metrics"]["rate_distortion"]
    assert row["rate R"] == f"{m['rate_nats']:.2f}" and row["distortion D"] == f"{m['distortion_nats']:.2f}"
    assert row["active units"] == str(m["active_units"])
    lik = card["likelihood_first_2000"]
    assert row["exact log p(x)"] == f"{-lik['exact']['nll_nats']:.2f}"
    assert row["IWAE-1000 bound"] == f"{-lik['iwae']['1000']['nll_nats']:.2f}"
    assert row["ELBO"] == f"{-lik['elbo']['nll_nats']:.2f}"
    points = next(t for t in json.loads(rd["plot"])["data"] if t.get("name") == "the grid")
    assert m["rate_nats"] == pytest.approx(points["x"][points["text"].index("β=0.1")])
    bars = json.loads(kl["plot"])["data"]
    assert sorted(m["kl_per_dim_nats"], reverse=True) == pytest.approx(bars[-1]["y"])
    assert len(json.loads(maps["plot"])["data"]) == 20 and grids.count("<img") == 2  # 10 digits × 2 maps
    with pytest.raises(AppError, match=r"β must be one of .*; got '3'"):
        client.predict("2", "3", api_name="/beta_grid")


def test_encode_drawing_from_an_uploaded_png(client, tmp_path):
    img = Image.new("L", (100, 100), 255)
    img.paste(0, (45, 15, 55, 85))
    path = tmp_path / "one.png"
    img.save(path)
    images, *_ = client.predict(M2, None, handle_file(str(path)), 0, api_name="/encode_drawing")
    assert images.count("<img") == 2


def test_interpolate(client):
    out = client.predict(M32, 0, 1, 6, api_name="/interpolate")
    assert out.count("<img") == 2 and "slerp" in out


@pytest.mark.parametrize(("value", "message"), [
    (math.nan, "z1 = nan is outside the allowed range [-4, 4]"),  # the slider's name, as the page labels it
    (math.inf, "z1 = inf is outside the allowed range [-4, 4]"),
    (-math.inf, "z1 = -inf is outside the allowed range [-4, 4]"),
])
def test_non_finite_latents_are_refused(app_server, client, value, message):
    event, data = raw_call(app_server.url, "/decode", [M2, 0, [value, 0.0]])
    assert event == "error" and message in data, (event, data)
    _ok(client)


def test_wrong_number_of_inputs(app_server, client):
    event, data = raw_call(app_server.url, "/decode", [M2, 0, [1.0]])  # one value for a 2-D latent
    assert event == "error", (event, data)
    _ok(client)


# Gradio itself checks slider and number ranges and dropdown choices before a handler runs; its messages
# name the value and the bound. Everything else is checked by the handlers.
BAD = [
    ("/decode", (M2, 0, [0.0, -1e30]), r"z2 = -1e\+30 is outside the allowed range \[-4, 4\]"),
    ("/decode", (M2, -3, [0.0, 0.0]), r"Seed = -3 is outside the allowed range \[0, 2147483647\]"),
    ("/decode", ("no such model", 0, [0.0, 0.0]), "Model must be one of 2-D latent, 32-D latent; got 'no such model'"),
    ("/decode", (M2, 0, [0.0]), r"z must hold 2 latent values for this model, not 1 values"),
    ("/decode", (M2, 0, [0.0, 0.0, 0.0]), r"z must hold 2 latent values for this model, not 3 values"),
    ("/decode", (M2, "5", [0.0, 0.0]), r"Seed must be a number in \[0, 2147483647\], not the text '5'"),
    ("/sample", (M2, 0, "4"), r"Number of samples must be a number in \[1, 400\], not the text '4'"),
    ("/sample", (M2, 0, 10_000), r"Number of samples = 10000 is outside the allowed range \[1, 400\]"),
    ("/sample", (M2, 0.5, 4), "Seed = 0.5 must be a whole number"),
    ("/sample", (M2, 10**12, 4), r"Seed = 1000000000000 is outside the allowed range \[0, 2147483647\]"),
    ("/map_click", (M2, "one", 0), "Map coordinate u must be a number in"),
    ("/map_click", (M2, 9, 0), r"Map coordinate u = 9 is outside the allowed range \[-4, 4\]"),
    ("/encode_index", (M2, 10**9, 0), r"Test digit index = 1000000000 is outside the allowed range \[0, 63\]"),
    ("/encode_index", (M2, 2.5, 0), "Test digit index = 2.5 must be a whole number"),
    ("/encode_index", (M2, -1, 0), r"Test digit index = -1 is outside the allowed range \[0, "),
    ("/interpolate", (M2, 0, 1, 1000), r"Steps = 1000 is outside the allowed range \[3, 24\]"),
    ("/two_gaps", (M2, 5000, 16, 0), r"Optimizer steps = 5000 is outside the allowed range \[0, 1000\]"),
    ("/two_gaps", (M2, 10, 0, 0), r"Samples per step = 0 is outside the allowed range \[1, 256\]"),
    ("/interpolate", (M2, 0, 99999, 5), "Test digit index = 99999 is outside"),
]


@pytest.mark.parametrize(("api", "args", "message"), BAD, ids=[f"{a}-{i}" for i, (a, *_rest) in enumerate(BAD)])
def test_bad_inputs_give_clear_errors(client, api, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)
    _ok(client)


def test_likelihood_before_encoding_and_over_budget(app_server):
    fresh = Client(app_server.url, verbose=False)  # a new session: nothing encoded yet
    with pytest.raises(AppError, match="Encode a digit first"):
        fresh.predict(M2, 100, 2, 0, api_name="/likelihood")
    fresh.predict(M2, 1, 0, api_name="/encode_index")
    with pytest.raises(AppError, match="exceeds the limit"):
        fresh.predict(M2, 100_000, 50, 0, api_name="/likelihood")
    with pytest.raises(AppError, match=r"K \(samples\) = 5 is outside the allowed range \[10, 100000\]"):
        fresh.predict(M2, 5, 2, 0, api_name="/likelihood")
    _ok(fresh)


def test_non_image_upload(client, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a picture")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(M2, None, handle_file(str(bad)), 0, api_name="/encode_drawing")
    fake = tmp_path / "fake.png"  # the right extension, but not an image inside
    fake.write_text("this is not a picture either")
    with pytest.raises(AppError, match="not an image Pillow can read"):
        client.predict(M2, None, handle_file(str(fake)), 0, api_name="/encode_drawing")
    with pytest.raises(AppError, match="No image"):
        client.predict(M2, None, None, 0, api_name="/encode_drawing")
    _ok(client)


def _png_declaring(path, side: int) -> None:
    """A PNG of a few hundred bytes whose header says side × side pixels (its data is one short grey row)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_an_image_declaring_too_many_pixels_is_refused_before_it_is_decoded(client, tmp_path):
    """A 13000 × 13000 PNG of a few hundred bytes took 29 s and 4.7 GB to decode: now refused on its header,
    as an upload and as the sketch."""
    bomb = tmp_path / "bomb.png"
    _png_declaring(bomb, 13_000)
    assert bomb.stat().st_size < 1000
    for sketch, upload in ((None, handle_file(str(bomb))),
                           ({"background": None, "layers": [], "composite": handle_file(str(bomb))}, None)):
        with pytest.raises(AppError, match="larger than 4096 × 4096 pixels"):  # from the header, before decoding
            client.predict(M2, sketch, upload, 0, api_name="/encode_drawing")
    _ok(client)


def test_sessions_do_not_share_the_encoded_digit(app_server):
    a, b = Client(app_server.url, verbose=False), Client(app_server.url, verbose=False)
    a.predict(M2, 3, 0, api_name="/encode_index")
    with pytest.raises(AppError, match="Encode a digit first"):
        b.predict(M2, 0, api_name="/reparameterize")
    assert "ε seed 0" in a.predict(M2, 0, api_name="/reparameterize")


def test_a_vae_trains_in_the_session_continues_and_stays_in_it(app_server):
    import json

    c = Client(app_server.url, verbose=False)
    with pytest.raises(AppError, match="There is no model to continue yet: press Train first"):
        c.predict(1.0, 1, api_name="/vae_train_more")
    job = c.submit(1.0, 1, api_name="/vae_train")
    outs = list(job)
    status = job.result()[0]
    assert status.startswith("Done: 1 epoch this time (1 epoch in all"), status
    job = c.submit(4.0, 1, api_name="/vae_train_more")
    outs += list(job)
    assert job.result()[0].startswith("Done: 1 epoch this time (2 epochs in all"), job.result()[0]
    figures = [o for o in outs if "plot" in o[1]]  # (a view left as it is comes as an update without a plot)
    by = {t["name"]: t["y"] for t in json.loads(figures[-1][1]["plot"])["data"]}
    assert len(by["ELBO"]) == 2 and all(e < x for e, x in zip(by["ELBO"], by["log p(x), exact"], strict=True))
    maps = [o[2] for o in outs if "plot" in o[2]]
    assert len(maps) == 2 and "after epoch 2" in json.dumps(maps[-1])  # redrawn after every epoch
    with pytest.raises(AppError, match="There is no model to continue yet"):  # another session has none
        Client(app_server.url, verbose=False).predict(1.0, 1, api_name="/vae_train_more")
    assert c.predict(api_name="/vae_train_stop") == "Nothing is training."
    with pytest.raises(AppError, match=r"β = 9 is outside the allowed range \[0, 8\]"):
        c.predict(9, 2, api_name="/vae_train")
    with pytest.raises(AppError, match=r"Epochs = 0 is outside the allowed range \[1, 30\]"):
        c.predict(1.0, 0, api_name="/vae_train")

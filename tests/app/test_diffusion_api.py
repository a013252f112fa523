"""The diffusion lab through gradio_client: endpoints, streaming, scrubbing, per-user frames, bad input."""

import json
import math
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError

from tests.app import raw_call
from train.checkpoint import load_checkpoint

RUN = ("DDIM", 10, 0.0, 0, 2, "none (unconditional)", 0.0)  # sampler, steps, η, seed, samples, class, guidance


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def T(app_checkpoints) -> int:
    return load_checkpoint(app_checkpoints / "ddpm.safetensors").config.timesteps


def test_forward_process(client, T):
    a = client.predict(0, 0, 3, api_name="/forward")  # t, ε seed, test digit
    b = client.predict(T // 2, 0, 3, api_name="/forward")
    c = client.predict(T // 2, 1, 3, api_name="/forward")
    assert "z<sub>0</sub> = x" in a and a.count("<img") == 3
    assert "ᾱ<sub>t</sub>" in b and b != c  # another ε seed, another z_t


def test_snapshots_at_chosen_t(client, T):
    client.predict(3, api_name="/diffusion_digit")
    html = client.predict(0, f"0, 10, {T}", api_name="/snapshots")
    assert html.count("<img") == 3 and f"t = {T}<" in html


def viewer(value: str) -> dict:
    """The reverse viewer's value: {"final", "total", "computed", "width", "height", "scale",
    "frames": [{"k", "t", "src"}]}, and for a finished run "kept" and "frames_url"."""
    return json.loads(value)


def all_frames(client: Client, v: dict) -> list[dict]:
    """A finished run's frames as the page gets them: fetched from the file the value names."""
    assert v["final"] and len(v["frames"]) == 1 and v["frames_url"].startswith("ge/")
    with urllib.request.urlopen(client.src.rstrip("/") + "/" + v["frames_url"], timeout=30) as r:
        frames = json.loads(r.read())["frames"]
    assert frames[-1] == v["frames"][0] and len(frames) == v["kept"]
    return frames


def test_reverse_streams_frames_then_hands_the_page_every_step(client, T):
    job = client.submit(*RUN, api_name="/reverse")
    outputs = list(job)  # every streamed update
    final, status = job.result()
    assert len(outputs) >= 2 and "done" in status
    first = viewer(outputs[0][0])
    assert not first["final"] and len(first["frames"]) == 1 and first["frames"][0]["k"] == 0
    v = viewer(final)
    frames = all_frames(client, v)
    # ten steps' inputs z_t, then the sample z_0
    assert v["final"] and v["total"] == 11 and [f["k"] for f in frames] == list(range(11))
    ts = [f["t"] for f in frames]
    assert ts == sorted(ts, reverse=True) and ts[-2] == 1 and ts[-1] == 0 and ts[0] <= T  # from T down to 1, then 0
    assert all(f["src"].startswith("data:image/png;base64,") for f in frames)
    assert len({f["src"] for f in frames}) == 11  # every frame differs
    # three blocks (z_t, ε̂, x̂_0), 8 px apart, each a square grid: 2 samples, 2 columns, 1 row, 2-px gutters
    assert (v["width"], v["height"]) == (3 * (2 * 30 + 2) + 2 * 8, 30 + 2)


def test_users_do_not_see_each_others_frames(app_server):
    a, b = Client(app_server.url, verbose=False), Client(app_server.url, verbose=False)
    a.predict(*RUN, api_name="/reverse")
    with pytest.raises(AppError, match="Run the reverse process first"):
        b.predict(api_name="/export")
    assert len(a.predict(api_name="/export")) == 4  # GIF, slides GIF, MP4, PNG


def test_stop_keeps_what_was_computed(app_server, T):
    c = Client(app_server.url, verbose=False)
    # all T steps, of 2 samples: ~10 s of the shipped model's steps, stopped after ~3 s (a probe stopped it at step
    # ~120 of 1,001); 16 samples made each step ~6 times dearer, and the export slower, for the same checks
    job = c.submit("DDPM", 10, 0.0, 0, 2, "none (unconditional)", 0.0, api_name="/reverse")
    for _ in job:  # the first streamed frame
        break
    # one run at a time each: a second run of the same client is refused while the first goes on, another
    # client's is not
    with pytest.raises(AppError, match="You have a run going already"):
        c.predict(*RUN, api_name="/reverse")
    assert viewer(Client(app_server.url, verbose=False).predict(*RUN, api_name="/reverse")[0])["final"]
    assert c.predict(api_name="/stop") != "Nothing is running."  # no message: the run's own stream ends with it
    value, status, = job.result()
    v = viewer(value)
    assert status.startswith("Stopped after") and v["final"] and 1 <= v["computed"] < v["total"] - 1 == T
    assert [f["k"] for f in all_frames(c, v)] == list(range(v["computed"]))
    assert c.predict(api_name="/stop") == "Nothing is running."
    assert len(c.predict(api_name="/export")) == 4  # the partial run exports too


def test_a_bad_run_is_refused_before_it_queues(app_server):
    """With both run slots held by long runs, a call with a bad value is refused at once, naming the
    parameter, not after the runs ahead of it end (the runs are checked to be still going when it is refused)."""
    holders = [Client(app_server.url, verbose=False) for _ in range(2)]
    # DDPM's T steps of 2 samples each: ~10 s a run, and the checks below take a second or two
    jobs = [c.submit("DDPM", 10, 0.0, 0, 2, "none (unconditional)", 0.0, api_name="/reverse") for c in holders]
    for job in jobs:  # each holds a slot: its first frame has come
        next(iter(job))
    c = Client(app_server.url, verbose=False)
    with pytest.raises(ValidationError, match=r"- steps: Steps = 0 is outside"):
        c.predict("DDIM", 0, 0.0, 0, 2, "none (unconditional)", 0.0, api_name="/reverse")
    with pytest.raises(ValidationError, match=r"- steps_b: Steps \(second\) = 5000 is outside"):
        c.predict(10, 5000, 0.0, 0, 2, "none (unconditional)", 0.0, False, api_name="/two_samplers")
    with pytest.raises(ValidationError, match=r"- values: /reverse takes 7 values \(sampler, steps, eta, seed, n, "
                                              r"label, guidance\), not \d+\."):
        c.predict(*RUN, 1, 2, api_name="/reverse")
    assert not any(job.done() for job in jobs)
    for h in holders:
        h.predict(api_name="/stop")
    assert all(job.result()[1].startswith("Stopped after") for job in jobs)


def test_same_seed_reproduces_and_guidance_runs(client):
    a = viewer(client.predict(*RUN, api_name="/reverse")[0])
    b = viewer(client.predict(*RUN, api_name="/reverse")[0])
    assert a["frames_url"] != b["frames_url"] and all_frames(client, a) == all_frames(client, b)
    c = viewer(client.predict("DDIM", 5, 0.5, 1, 2, "7", 3.0, api_name="/reverse")[0])
    assert c["total"] == 6 and len(all_frames(client, c)) == 6
    d = viewer(client.predict("DDIM", 5, 0.5, 2, 2, "7", 3.0, api_name="/reverse")[0])
    assert all_frames(client, c) != all_frames(client, d)


def test_export_gif_mp4_and_samples(client):
    import av
    from PIL import Image

    client.predict(*RUN, api_name="/reverse")
    gif, slides, mp4, png = client.predict(api_name="/export")
    for f in (gif, slides, mp4, png):  # named after the run
        assert Path(f).name.startswith("ddim10-eta0-seed0-uncond"), f
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 2 * 30 * 4  # two samples, upscaled, with their labels
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 11  # ten steps and the sample
        im.seek(10)
        assert im.info["duration"] == 1000  # the sample is held for a second
    with Image.open(slides) as im:  # the samples' block only, every frame of this short run, 16 grey levels
        assert Path(slides).name.endswith("-slides.gif") and im.n_frames == 11
        assert len(set(im.convert("L").getdata())) <= 16
    with av.open(mp4) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and sum(1 for _ in container.decode(stream)) == 11 + 16


def test_two_samplers(client):
    html = client.predict(10, 3, 0.0, 0, 2, "none (unconditional)", 0.0, False, api_name="/two_samplers")
    assert html.count("<img") == 3 and "DDPM, all" not in html and "same z_T" in html  # z_T and 2 DDIMs: DDPM-T
    # is a choice, not a default (with it, all T steps: tests/explorer/labs/test_diffusion.py, on a small model)


def test_elbo_terms_sum(client, T):
    client.predict(5, api_name="/diffusion_digit")
    fig, md = client.predict(0, api_name="/elbo_terms")
    assert isinstance(fig, dict) and "bits/dim" in md
    assert "terms of the loss −ELBO" in md  # the loss, not the bound: every term is a positive cost
    total = float(md.split("−log p(x)** | **")[1].split("**")[0])
    parts = [
        float(line.split("|")[2])
        for line in md.splitlines()
        if line.startswith("| ") and "sum" not in line and "terms" not in line
    ]
    assert math.isclose(sum(parts), total, rel_tol=2e-3)


BAD = [
    ("/reverse", ("DDIM", 0, 0.0, 0, 2, "none (unconditional)", 0.0), r"Steps = 0 is outside the allowed range \[1, "),
    ("/reverse", ("DDIM", 10, 1.5, 0, 2, "none (unconditional)", 0.0), r"η = 1.5 is outside the allowed .* \[0, 1\]"),
    ("/reverse", ("DDIM", 10, 0.0, 0, 99, "none (unconditional)", 0.0), r"Samples = 99 is outside .* \[1, 16\]"),
    ("/reverse", ("DDIM", 10, 0.0, 0, 2, "none (unconditional)", 50.0), r"Guidance scale w = 50 is outside .*10\]"),
    ("/reverse", ("DDIM", 10, 0.0, -1, 2, "none (unconditional)", 0.0),
     r"Seed = -1 is outside the allowed range \[0, 2147483647\]"),  # not 2.14748e\+09
    ("/reverse", ("Euler", 10, 0.0, 0, 2, "none (unconditional)", 0.0),
     r"Sampler must be one of DDIM, DPM-Solver\+\+\(2M\), DDPM; got 'Eul"),
    ("/forward", (10**6, 0), r"t = 1000000 is outside the allowed range \[0, "),
    ("/forward", ("abc", 0), r"t must be a number in \[0, .*\], not the text 'abc'"),
    ("/diffusion_digit", (10**7,), "Test digit index = 10000000 is outside"),
    ("/snapshots", (0, "0, abc"), "'abc' is not a whole number"),
    ("/snapshots", (0, "1_000"), "'1_000' is not a whole number"),
    ("/snapshots", (0, "--5"), "'--5' is not a whole number"),
    ("/snapshots", (0, "-5"), r"Snapshot t = -5 is outside the allowed range \[0, "),
    ("/snapshots", (0, None), "Snapshot t values must be text"),
    ("/reverse", ("DDIM", "5", 0.0, 0, 2, "none (unconditional)", 0.0),
     r"Steps must be a number in \[1, 1000\], not the text '5'"),
]


@pytest.mark.parametrize(("api", "args", "message"), BAD, ids=[f"{a}-{i}" for i, (a, *_r) in enumerate(BAD)])
def test_bad_inputs(client, api, args, message):
    # the long runs' values are checked before the call queues (HTTP 422, gradio_client's ValidationError naming the
    # parameter); the other endpoints answer at once anyway
    with pytest.raises(ValidationError if api in ("/reverse", "/two_samplers") else AppError, match=message):
        client.predict(*args, api_name=api)
    assert "<img" in client.predict(1, 0, api_name="/forward")


@pytest.mark.parametrize(
    ("api", "data", "message"),
    [
        (
            "/reverse",
            ["DDIM", 10, math.nan, 0, 2, "none (unconditional)", 0.0],
            "η = nan is outside the allowed range [0, 1]",
        ),
        ("/reverse", ["DDIM", 10, 0.0, 0, 2, "none (unconditional)", math.nan], "Guidance scale w = nan is outside"),
    ],
)
def test_nan_inputs(app_server, client, api, data, message):
    event, text = raw_call(app_server.url, api, data)
    assert event == "error" and message in json.loads(text)["error"], (event, text)


def test_the_spectrum_marks_where_the_schedules_noise_meets_the_digits_signal(client, T, app_checkpoints):
    """The flat noise line is 1 − ᾱ_t of the checkpoint's own schedule (ᾱ_t recomputed here from its betas), and k*
    is where ᾱ_t times the digit's spectrum (its plotted trace) crosses it."""
    cfg = load_checkpoint(app_checkpoints / "ddpm.safetensors").config
    t = max(1, T // 10)
    fig = json.loads(client.predict(t, 0, api_name="/spectrum")["plot"])
    traces = {d["name"]: d for d in fig["data"]}
    betas = ([1e-4 + (0.02 - 1e-4) * i / (cfg.timesteps - 1) for i in range(cfg.timesteps)]
             if cfg.schedule == "linear" else None)
    noise = traces["the noise in z_t: 1 − ᾱ_t (flat)"]["y"][0]
    if betas is not None:
        abar = math.prod(1 - b for b in betas[:t])
        assert noise == pytest.approx(1 - abar, rel=1e-5)
    signal = [(1 - noise) * p for p in traces["the digit x"]["y"]]
    title = fig["layout"]["title"]["text"]
    if "overtakes" in title:
        k_star = float(title.split("k* ≈ ")[1].split()[0])
        ks = traces["the digit x"]["x"]
        below = [k for k, s in zip(ks, signal, strict=True) if s > noise]
        above = [k for k, s in zip(ks, signal, strict=True) if s <= noise]
        assert max(k for k in below if k < min(above)) <= k_star + 0.05 <= min(above) + 0.1
    assert {"z_t", "ε̂, the predicted noise", "x̂_0, the network's guess (clipped)"} <= set(traces)
    gen = json.loads(client.predict(api_name="/spectrum_generated")["plot"])
    assert [d["name"] for d in gen["data"]] == ["16 real test digits", "16 generated (DDIM-50)"]
    with pytest.raises(AppError, match=rf"t = {T + 1} is outside the allowed range \[1, {T}\]"):
        client.predict(T + 1, 0, api_name="/spectrum")

"""The 2-D diffusion lab through gradio_client: the field tables and particle runs the page fetches, a short training
on a drawing in the session, bad input."""

import json
import math
import re
import urllib.request

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from explorer import plane
from explorer.labs.plane.common import YOURS
from tests.conftest import TRAIN_STEPS

BLOBS = [[-1.5 + 0.1 * (i % 4), 1.0 + 0.1 * (i // 4)] for i in range(12)] + \
        [[1.5 + 0.1 * (i % 4), -1.0 - 0.1 * (i // 4)] for i in range(12)]  # two blobs of 12 points
DRAWING = json.dumps({"points": BLOBS})


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def fetch(url: str, rel: str) -> bytes:
    return urllib.request.urlopen(f"{url}/{rel}", timeout=30).read()


def test_the_endpoints_name_their_parameters(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {k: [p["parameter_name"] for p in v["parameters"]] for k, v in api.items() if k.startswith("/plane")}
    assert names == {"/plane_field": ["data"], "/plane_particles": ["data", "steps", "eta", "n", "seed"],
                     "/plane_start_from": ["data"], "/plane_train": ["drawing"], "/plane_continue": ["drawing"],
                     "/plane_stop": [], "/plane_guidance": ["c", "w", "steps", "seed"],
                     "/plane_arena": ["data", "network", "calls", "seed"]}


@pytest.mark.parametrize("data", ["ring8", "moons"])
def test_the_field_table_is_what_its_header_says(app_server, client, data):
    v = json.loads(client.predict(data, api_name="/plane_field"))
    blob = fetch(app_server.url, v["url"])
    K, A, H, R = len(v["ts"]), v["arrows"] ** 2, v["heat"] ** 2, (v["err"] ** 2 if v["exact"] else 0)
    assert len(blob) == v["bytes"] == K * A * 8 + K * H + K * R
    assert v["exact"] is (data == "ring8") and ("approximate" in v["note"]) is (data == "moons")
    dens = np.frombuffer(blob, np.uint8, K * H, K * A * 8).reshape(K, H)
    assert (dens.max(1) == 255).all()  # each t scaled to its own maximum
    assert v["ts"] == plane.field_ts(1000) and len(v["err_mean"]) == (K if v["exact"] else 0)


def test_both_samplers_start_from_the_same_noise(app_server, client):
    v = json.loads(client.predict("uneven3", 10, 0.0, 300, 7, api_name="/plane_particles"))
    ddpm, ddim = v["runs"]
    assert ddpm["label"] == "DDPM, all 1000 steps" and ddim["label"] == "DDIM, 10 steps, η = 0"
    assert ddim["frames"] == 11 and ddim["t"][0] == 1000 and ddim["t"][-1] == 0 and ddpm["computed"] == 1001
    first = [plane.decode(fetch(app_server.url, r["pos"]), (r["frames"], 300, 2), r["pos_scale"])[0] for r in v["runs"]]
    step = max(ddpm["pos_scale"], ddim["pos_scale"])
    assert np.abs(first[0] - first[1]).max() <= step  # the same z_T, within the quantization of each file
    assert v["field"]["data"] == "uneven3"


BAD = [
    (("ring8", 0, 0.0, 100, 0), r"DDIM steps = 0 is outside the allowed range \[1, 1000\]"),
    (("ring8", 10, 1.5, 100, 0), r"η = 1.5 is outside the allowed range \[0, 1\]"),
    (("ring8", 10, 0.0, 10**6, 0), r"Particles = 1000000 is outside the allowed range \[1, 5000\]"),
    (("ring8", 10, 0.0, 100, -1), r"Seed = -1 is outside"),
    (("ring9", 10, 0.0, 100, 0), "Data set must be one of ring8, uneven3, moons, spiral, checkerboard, your drawing"),
    ((YOURS, 10, 0.0, 100, 0), "You have not trained a model on a drawing yet"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_particle_requests_are_named(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/plane_particles")


@pytest.mark.parametrize(("drawing", "message"), [
    ('{"points": []}', "has 0 points: place at least 3"),
    ('{"points": [[0.5, 0.5]]}', "has 1 point: place at least 3"),
    (json.dumps({"points": [[0.1, 0.1]] * 10**6}), "has 1000000 points: at most 300"),
    (json.dumps({"points": [[math.nan, 0], [0, 0], [1, 1]]}), r"The point \[nan, 0\] is not two finite numbers"),
    (json.dumps({"points": [[9, 0], [0, 0], [1, 1]]}), r"The point \[9, 0\] is outside the plane"),
    ("abc", "The drawing must be"),
])
def test_bad_drawings_are_refused_with_a_message(app_server, client, drawing, message):
    with pytest.raises(AppError, match=message):
        client.predict(drawing, api_name="/plane_train")
    assert json.loads(client.predict("ring8", api_name="/plane_field"))["data"] == "ring8"  # still up


def test_a_drawing_trains_in_the_session_and_the_views_use_it(app_server, app_checkpoints):
    before = sorted(p.name for p in app_checkpoints.iterdir())
    c = Client(app_server.url, verbose=False)
    job = c.submit(DRAWING, api_name="/plane_train")
    statuses = [out for out in job]
    final = job.result()
    assert any("<progress" in s for s in statuses)  # progress streamed before the end
    assert final.startswith("<p>Trained for ") and "loss" in final and "<svg" in final
    assert "Field error" in final and ("Not converged yet" in final or "Converged:" in final)
    steps = int(re.search(r"Trained for (\d+) steps", final).group(1))
    more = c.predict(DRAWING, api_name="/plane_continue")  # the session's model, trained further
    assert re.search(r"for \d+ steps \([\d,]+ in all\)", more) and steps < 10**6, more[:200]
    v = json.loads(c.predict(YOURS, api_name="/plane_field"))
    assert v["data"] == YOURS and v["exact"] and "your 24 points" in v["note"]
    assert v["err_mean"][-1] < 0.5  # the trained field is close to the exact one at large t
    runs = json.loads(c.predict(YOURS, 20, 0.0, 500, 0, api_name="/plane_particles"))["runs"]
    z0 = plane.decode(fetch(app_server.url, runs[1]["pos"]), (runs[1]["frames"], 500, 2), runs[1]["pos_scale"])[-1]
    near = np.minimum(np.hypot(z0[:, 0] + 1.35, z0[:, 1] - 1.1), np.hypot(z0[:, 0] - 1.65, z0[:, 1] + 1.1))
    assert (near < 0.8).mean() > 0.8  # most samples land on the two blobs
    with pytest.raises(AppError, match="You have not trained a model on a drawing yet"):  # another session's own
        Client(app_server.url, verbose=False).predict(YOURS, api_name="/plane_field")
    assert sorted(p.name for p in app_checkpoints.iterdir()) == before  # nothing written to checkpoints/


def test_stop_ends_the_training_early_and_keeps_its_model(app_server):
    """Stop during a training. (Whether Stop comes before the test app's TRAIN_STEPS steps are done depends on the
    machine's load: a training that finished first, and only that, is tried again.)"""
    c = Client(app_server.url, verbose=False)
    assert c.predict(api_name="/plane_stop") == "Nothing is training."
    for _ in range(5):
        job = c.submit(DRAWING, api_name="/plane_train")
        for out in job:  # the first progress: training has started
            if "<progress" in out:
                break
        said = c.predict(api_name="/plane_stop")
        final = job.result()
        if said == "Nothing is training." and final.startswith(f"<p>Trained for {TRAIN_STEPS} steps"):
            continue  # it finished before Stop came
        break
    assert said == "Stopping: the model as trained so far is kept."
    steps = int(final.split("trained for ")[1].split(" steps")[0])
    assert final.startswith("<p>Stopped early (Stop): trained for ") and 0 < steps < TRAIN_STEPS  # the test app's cap
    assert c.predict(api_name="/plane_stop") == "Nothing is training."
    assert json.loads(c.predict(YOURS, api_name="/plane_field"))["data"] == YOURS  # the model so far is used


def test_start_from_a_builtin_set(client):
    v = json.loads(client.predict("spiral", api_name="/plane_start_from"))
    assert len(v["points"]) == 200 and all(abs(c) <= plane.EXTENT for p in v["points"] for c in p)


def test_guidance_against_the_tilted_density_is_exact_and_checked(client):
    fig, md = client.predict("2", 4.0, 50, 0, api_name="/plane_guidance")
    names = [t.get("name") for t in json.loads(fig["plot"])["data"]]
    assert {"tilted density", "guided samples", "guided vs tilted"} <= set(names)
    ed = float(md.split("**")[1])
    floor = float(md.split("against a floor of ")[1].split()[0])
    assert ed > 50 * floor  # w = 4: the guided samples are another distribution
    _fig0, md0 = client.predict("2", 0.0, 50, 0, api_name="/plane_guidance")
    assert float(md0.split("**")[1]) < 5 * float(md0.split("against a floor of ")[1].split()[0]) + 0.002
    with pytest.raises(AppError, match=r"Guidance scale w = 9 is outside the allowed range \[0, 8\]"):
        client.predict("2", 9, 50, 0, api_name="/plane_guidance")
    with pytest.raises(AppError, match="Class must be one of 0, 1, 2; got '5'"):
        client.predict("5", 1.0, 50, 0, api_name="/plane_guidance")


def test_the_step_budget_arena_reports_each_samplers_steps_and_distance(client):
    fig, md = client.predict("uneven3", "exact ε*", 9, 0, api_name="/plane_arena")
    rows = {line.split("|")[1].strip(): line.split("|")[2:5] for line in md.splitlines()[2:6]}
    assert {k: int(v[0]) for k, v in rows.items()} == {"ancestral (DDIM η = 1)": 9, "DDIM η = 0": 9,
                                                       "DPM-Solver++(2M)": 9, "Heun (PF-ODE)": 5}
    eds = {k: float(v[1]) for k, v in rows.items()}
    assert eds["DPM-Solver++(2M)"] < eds["DDIM η = 0"]  # second order on log-SNR steps, at the same calls
    curves = {t["name"]: t["y"] for t in json.loads(fig["plot"])["data"] if t.get("mode") == "lines+markers"}
    assert all(len(v) == 7 for v in curves.values()) and len(curves) == 4
    with pytest.raises(AppError, match=r"Network calls = 51 is outside the allowed range \[1, 50\]"):
        client.predict("uneven3", "exact ε*", 51, 0, api_name="/plane_arena")

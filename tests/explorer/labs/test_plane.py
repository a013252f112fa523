"""The 2-D diffusion lab's handlers called directly, without a server: the shipped 2-D models (load_models) and a model
trained in the test on a tiny drawing. What the handlers write is read back from the files their values name."""

from __future__ import annotations

import json
import math
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import checks, plane, served
from explorer.labs.plane import draw, field, particles, training
from explorer.labs.plane.common import YOURS, PlaneControls, Trained
from tests.conftest import CHECKPOINTS
from train.models.ddpm2d import DDPM2D

SHORT = 300  # an error message a person reads at a glance


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread while this module runs: its tensors are small, and on a busy machine torch's thread pool
    made a field table many times slower (3.7 s against 0.4 s measured on 2 shared cores); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ctl(synthetic_data) -> PlaneControls:
    from explorer.models import load_models

    models = load_models(CHECKPOINTS, synthetic_data, download=False)
    assert set(models.planes) == {"ring8", "uneven3", "moons", "spiral", "checkerboard"}, models.errors
    return PlaneControls(models, data=None, trained=None, choices=[])  # no Radio or State needed to call handlers


def served_file(url: str) -> Path:
    """The file a value's URL names ("ge/<name>"), which must lie in the app's served folder."""
    assert url.startswith("ge/"), url
    path = served.resolve("/" + url)
    assert path.parent == served.folder() and path.is_file(), path
    return path


def first_frame(run: dict) -> np.ndarray:
    """A run's first kept frame (z_T), decoded from its positions file as the page decodes it."""
    n = run["n"]
    codes = np.frombuffer(served_file(run["pos"]).read_bytes(), dtype="<i2", count=n * 2)
    return codes.reshape(n, 2).astype(np.float64) * run["pos_scale"]


# --- the data set control ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nope", "Ring8", "", None, 3, ["ring8"]])
def test_unknown_data_set_is_refused(ctl, name):
    with pytest.raises(checks.InputError, match="Data set must be one of ring8, uneven3") as e:
        ctl.model(name, None)
    assert len(e.value.message) <= SHORT


def test_your_drawing_without_a_model_is_refused(ctl):
    with pytest.raises(checks.InputError, match="not trained a model on a drawing yet") as e:
        ctl.model(YOURS, None)
    assert "Train" in e.value.message and len(e.value.message) <= SHORT
    with pytest.raises(checks.InputError, match="not trained"):
        field.settled_field(ctl, YOURS, None)
    with pytest.raises(checks.InputError, match="not trained"):
        particles.particles(ctl, YOURS, 10, 0.0, 100, 0, None)


def test_builtin_model_and_reference(ctl):
    model, ref, name = ctl.model("uneven3", None)
    assert name == "uneven3" and model is ctl.models.planes["uneven3"]
    want = plane.reference("uneven3")
    assert ref.exact and torch.equal(ref.mixture.means, want.mixture.means)
    assert torch.equal(ref.mixture.covs, want.mixture.covs)


# --- the field view ----------------------------------------------------------------------------------------------

def test_settled_field_is_the_field_table(ctl):
    value = json.loads(field.settled_field(ctl, "uneven3"))
    model = ctl.models.planes["uneven3"]
    header, blob = plane.field_table(model, plane.reference("uneven3"))
    assert value["data"] == "uneven3" and value["title"] == "3 uneven Gaussians"
    assert {k: value[k] for k in header} == json.loads(json.dumps(header))
    assert value["bytes"] == len(blob) and served_file(value["url"]).read_bytes() == blob
    assert field.settled_field(ctl, "uneven3") == json.dumps(value)  # computed once per process, then the same


# --- the particles view ------------------------------------------------------------------------------------------

def test_particles_two_runs_from_one_z_T(ctl):
    value = json.loads(particles.particles(ctl, "ring8", 12, 0.0, 100, 5))
    assert value["data"] == "ring8" and value["seed"] == 5
    ddpm, ddim = value["runs"]
    assert ddpm["label"] == "DDPM, all 1000 steps" and ddim["label"] == "DDIM, 12 steps, η = 0"
    assert ddpm["computed"] == 1001 and ddpm["frames"] == plane.MAX_FRAMES and ddim["frames"] == 13
    assert ddpm["t"][0] == ddim["t"][0] == 1000 and ddpm["t"][-1] == ddim["t"][-1] == 0
    a, b = first_frame(ddpm), first_frame(ddim)
    z_T = torch.randn(100, 2, generator=torch.Generator().manual_seed(5)).numpy()
    assert np.abs(a - z_T).max() <= ddpm["pos_scale"] / 2 + 1e-6
    assert np.abs(b - z_T).max() <= ddim["pos_scale"] / 2 + 1e-6
    for run in (ddpm, ddim):
        assert len(served_file(run["pos"]).read_bytes()) == run["frames"] * (100 * 2 * 2 + 2 * run["bins"] * 4)
        assert len(served_file(run["eps"]).read_bytes()) == run["frames"] * 100 * 2 * 2
    assert value["field"] == json.loads(field.settled_field(ctl, "ring8"))  # the field drawn beneath them


def test_particles_accept_numbers_as_the_page_sends_them(ctl):
    value = json.loads(particles.particles(ctl, "ring8", 12, 0.5, 100.0, 5.0))  # floats of integers too
    assert value["seed"] == 5 and value["runs"][1]["label"] == "DDIM, 12 steps, η = 0.5"
    with pytest.raises(checks.InputError, match="not the text '12'"):  # one rule: text is not a number
        particles.particles(ctl, "ring8", "12", 0.5, 100, 5)
    eta0 = json.loads(particles.particles(ctl, "ring8", 12, 0, 100, 5))["runs"][1]
    assert np.abs(first_frame(value["runs"][1]) - first_frame(eta0)).max() <= 1e-3  # one z_T, and η moved the ends
    assert served_file(value["runs"][1]["pos"]).read_bytes() != served_file(eta0["pos"]).read_bytes()


GOOD = {"steps": 10, "eta": 0.0, "n": 100, "seed": 0}


@pytest.mark.parametrize(("control", "value", "named"), [
    ("steps", 0, "DDIM steps"), ("steps", 1001, "DDIM steps"), ("steps", 2.5, "DDIM steps"),
    ("steps", math.nan, "DDIM steps"), ("steps", "many", "DDIM steps"), ("steps", True, "DDIM steps"),
    ("steps", None, "DDIM steps"),
    ("eta", -0.1, "η"), ("eta", 1.5, "η"), ("eta", math.nan, "η"), ("eta", "x", "η"), ("eta", False, "η"),
    ("eta", math.inf, "η"),
    ("n", 0, "Particles"), ("n", particles.MAX_PARTICLES + 1, "Particles"), ("n", 1.5, "Particles"),
    ("n", math.nan, "Particles"), ("n", "lots", "Particles"), ("n", True, "Particles"),
    ("seed", -1, "Seed"), ("seed", 2**31, "Seed"), ("seed", 0.5, "Seed"), ("seed", math.nan, "Seed"),
    ("seed", "s", "Seed"), ("seed", True, "Seed"),
])
def test_particles_refuse_bad_controls(ctl, control, value, named):
    args = {**GOOD, control: value}
    with pytest.raises(checks.InputError) as e:
        particles.particles(ctl, "ring8", args["steps"], args["eta"], args["n"], args["seed"])
    assert e.value.message.startswith(named) and len(e.value.message) <= SHORT, e.value.message


# --- the drawing -------------------------------------------------------------------------------------------------

SQUARE = [[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]]


def test_points_accepts_a_drawing():
    for value in ({"points": SQUARE}, json.dumps({"points": SQUARE})):
        pts = draw.points(value)
        assert pts.dtype == torch.float64 and pts.tolist() == SQUARE
    corners = [[-3.5, -3.5], [3.5, 3.5], [0, 3.5]]  # the plane's edges are inside it; integers are numbers
    assert draw.points({"points": corners}).tolist() == corners
    assert len(draw.points({"points": [[0.0, 0.0]] * draw.MAX_POINTS})) == draw.MAX_POINTS


@pytest.mark.parametrize(("value", "message"), [
    ({"points": []}, "has 0 points: place at least 3"),
    ({"points": [[0.0, 0.0]]}, "has 1 point: place at least 3"),
    ({"points": [[0.0, 0.0]] * 2}, "has 2 points: place at least 3"),
    ({"points": [[0.0, 0.0]] * 1000}, "has 1000 points: at most 300"),
    ({"points": [[0.0, 0.0]] * 301}, "has 301 points: at most 300"),
    ({"points": [*SQUARE, [math.nan, 0.0]]}, "not two finite numbers"),
    ({"points": [*SQUARE, [0.0, -math.inf]]}, "not two finite numbers"),
    (json.dumps({"points": [*SQUARE, [math.nan, 1]]}), "not two finite numbers"),
    ({"points": [*SQUARE, [3.6, 0.0]]}, r"outside the plane \[−3.5, 3.5\]²"),
    ({"points": [*SQUARE, [0.0, -100.0]]}, "outside the plane"),
    ({"points": "abc"}, "must be a list of \\[x, y\\] pairs"),
    ({"points": {"x": 1}}, "must be a list"),
    ({"points": [*SQUARE, [1.0, 2.0, 3.0]]}, "Each point must be \\[x, y\\], two numbers"),
    ({"points": [*SQUARE, [1.0]]}, "Each point must be"),
    ({"points": [*SQUARE, 1.0]}, "Each point must be"),
    ({"points": [*SQUARE, ["1", "2"]]}, "Each point must be"),
    ({"points": [*SQUARE, [True, 0.0]]}, "Each point must be"),
    ({"points": [*SQUARE, [0.0, False]]}, "Each point must be"),
    ({"points": [*SQUARE, None]}, "Each point must be"),
    ({}, "The drawing must be"),
    ([[0, 0], [1, 1], [2, 2]], "The drawing must be"),
    ("{not json", "The drawing must be"),
    ("[1, 2, 3]", "The drawing must be"),
    (None, "The drawing must be"),
    (5, "The drawing must be"),
    ("x" * 10_000, "The drawing must be"),
    ({"points": ["y" * 10_000, 1, 2]}, "Each point must be"),
])
def test_points_refuses_bad_drawings_shortly(value, message):
    with pytest.raises(checks.InputError, match=message) as e:
        draw.points(value)
    assert len(e.value.message) <= SHORT, e.value.message


def test_points_refuses_a_huge_integer():
    """JSON integers have no size limit: a coordinate of 400 digits is outside the plane, and must be said so."""
    with pytest.raises(checks.InputError, match=r"outside the plane|finite"):
        draw.points(json.dumps({"points": [[10**400, 0], [0, 0], [1, 1]]}))


def settled(data) -> dict:
    return json.loads(draw.settle(types.SimpleNamespace(_data=data)))


def drawing(out: dict) -> tuple[list, str]:
    return out["points"], out["message"]


def test_settle_keeps_only_valid_points():
    out = settled({"points": [[0, 0], [1.234567, -1.0000049], [9, 9], [math.nan, 0], "x", [1, 2, 3], [True, 1],
                              [-3.5, 3.5]]})
    assert out["points"] == [[0, 0], [1.2346, -1.0], [-3.5, 3.5]]  # rounded to 4 decimals
    assert out["message"].startswith("The point [True, 1]") or out["message"].startswith("Each point must be")
    assert len(out["message"]) <= SHORT
    assert drawing(settled({"points": SQUARE})) == (SQUARE, "")
    assert drawing(settled({"points": [[0.5, 0.5]]})) == ([[0.5, 0.5]], "")  # still drawing: not refused
    for data in (None, {}, "points", {"points": "abc"}, {"points": None}, [1, 2]):
        assert drawing(settled(data)) == ([], "")


def test_settle_sends_back_the_pages_number():
    assert settled({"points": SQUARE, "seq": 7})["seq"] == 7  # the page drops answers to older strokes
    for seq in (None, True, "7", 7.5, [7]):
        assert settled({"points": SQUARE, "seq": seq})["seq"] is None


def test_settle_caps_at_max_points():
    pts = [[round(-3 + i * 0.01, 2), 0.5] for i in range(draw.MAX_POINTS + 50)]
    out = settled({"points": pts})
    assert out["points"] == pts[: draw.MAX_POINTS]
    assert f"At most {draw.MAX_POINTS} points" in out["message"] and len(out["message"]) <= SHORT
    assert drawing(settled({"points": pts[: draw.MAX_POINTS]})) == (pts[: draw.MAX_POINTS], "")


# --- training on a drawing ---------------------------------------------------------------------------------------

def test_train_refuses_a_bad_drawing_before_training(ctl):
    with pytest.raises(checks.InputError, match="has 1 point"):
        next(training.train(ctl, 4000, {"points": [[0.0, 0.0]]}, None))


def simple_loss(model: DDPM2D, x: torch.Tensor) -> float:
    """Ho's simple loss on points x at t and ε drawn with a fixed generator: the same draws for every model."""
    g = torch.Generator().manual_seed(99)
    t = torch.randint(0, model.diffusion.T, (len(x),), generator=g)
    with torch.no_grad():
        return float(model.diffusion.training_loss(model, x.float(), t, torch.randn(x.shape, generator=g)).mean())


def test_continue_training_goes_on_from_the_weights_and_lowers_the_field_error(ctl):
    """Train 150 steps, then Continue 600: the steps, the loss curve and the field error go on from where they were,
    the first model is left as it was, the error is lower (the estimates use the same points, so their difference
    is the network's), and the data set radio names the steps."""
    drawing = json.dumps({"points": SQUARE})
    *_, (html1, first) = training.train(ctl, 150, drawing, None)
    weights = [p.clone() for p in first.model.parameters()]
    assert [s for s, *_ in first.errors] == [18, 36, 54, 72, 90, 108, 126, 144, 150]  # every 150 // 8, and the end
    assert "Field error" in html1 and "Not converged yet</b>: the field error is" in html1  # 150 steps: far from it
    *progress, (html2, more) = training.train_more(ctl, 600, drawing, first, None)
    assert "Continuing on your 4 points" in progress[0][0]
    assert more.steps == 750 and len(more.losses) == 750 and more.losses[:150] == first.losses
    assert more.errors[: len(first.errors)] == first.errors and more.errors[-1][0] == 750
    assert "for 600 steps (750 in all)" in html2
    assert all(torch.equal(a, b) for a, b in zip(weights, first.model.parameters(), strict=True))  # untouched
    (_, e1, se1, _), (_, e2, se2, _) = first.errors[-1], more.errors[-1]
    assert e2 < e1 - 3 * math.hypot(se1, se2)
    shown = float(re.search(r"<b>([\d.]+) ± [\d.]+</b> at step 750", html2).group(1))
    assert shown == pytest.approx(e2, abs=1e-4)  # the page shows the estimate
    radio = training.trained_label([("8 Gaussians on a ring", "ring8"), ("your drawing (train it first)", YOURS)], more)
    assert radio["value"] == YOURS and ("your drawing (trained: 750 steps)", YOURS) in radio["choices"]
    with pytest.raises(checks.InputError, match="no model to continue yet: press Train first"):
        next(training.train_more(ctl, 300, drawing, None, None))


@pytest.mark.parametrize(("errors", "done", "converged", "words"), [
    ([(100, 0.50, 0.01, 0.36), (400, 0.09, 0.01, 0.36)], 400, False, "the field error is 25% of the floor"),
    ([(100, 0.50, 0.01, 0.36), (400, 0.009, 0.001, 0.36)], 400, True, "Converged: the field error is 2.5% of"),
    ([(100, 0.50, 0.01, 0.36), (165, 0.009, 0.001, 0.36)], 165, False,
     "reached the 30 s limit after 165 of 400 steps"),
])
def test_the_verdict_says_not_converged_while_the_error_is_large_or_training_was_cut(errors, done, converged, words):
    ok, sentence = training.verdict(errors, 400, done, "reached the 30 s limit")
    assert ok is converged and words in sentence
    assert ("Continue training" in sentence) is (not converged)


def test_train_on_a_tiny_drawing(ctl, monkeypatch):
    import safetensors.torch

    import train.checkpoint

    saved = []  # every way a model could be written to disk, recorded instead
    for owner, name in ((torch, "save"), (safetensors.torch, "save_file"), (safetensors.torch, "save_model"),
                        (train.checkpoint, "save_checkpoint"), (train.checkpoint, "save_state")):
        monkeypatch.setattr(owner, name, lambda *a, _n=name, **k: saved.append((_n, a)))
    before = {p.name for p in CHECKPOINTS.iterdir()}
    outs = list(training.train(ctl, 200, json.dumps({"points": SQUARE}), None))
    assert saved == [] and {p.name for p in CHECKPOINTS.iterdir()} == before  # nothing written to checkpoints/
    *progress, (final_html, trained) = outs
    assert progress, "no progress before the end"
    for html, state in progress:
        assert "<progress max='200'" in html and "Training on your 4 points" in html
        assert not isinstance(state, Trained)  # the state is left alone until the end
    assert isinstance(trained, Trained) and trained.steps == 200 and "Trained for 200 steps" in final_html
    assert trained.points.tolist() == SQUARE and math.isfinite(trained.loss)
    assert not trained.model.training and not any(p.requires_grad for p in trained.model.parameters())
    # the loss fell: in the curve's own caption, and on the same data for an untrained model of the same shape
    first, last = map(float, re.search(r"from ([\d.]+) to ([\d.]+) over 200 steps", final_html).groups())
    assert last < 0.8 * first
    x = trained.reference.mixture.sample(4096, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    untrained = DDPM2D(training.MODEL).eval()
    assert simple_loss(trained.model, x) < 0.8 * simple_loss(untrained, x)
    # its field: the exact table of the drawing, written to the served folder
    value = json.loads(trained.field)
    assert value["data"] == YOURS and value["exact"] is True and "your 4 points" in value["note"]
    assert value["err_max"] > 0 and len(value["err_mean"]) == len(value["ts"])
    blob = served_file(value["url"]).read_bytes()
    K, A, H, R = len(value["ts"]), value["arrows"], value["heat"], value["err"]
    assert len(blob) == value["bytes"] == K * A * A * 8 + K * H * H + K * R * R
    assert served_file(value["url"]).name.startswith("plane-s-field")
    # the lab now uses it: the model, the field, and particles from it
    model, ref, name = ctl.model(YOURS, trained)
    assert model is trained.model and name == YOURS and torch.equal(ref.mixture.means, trained.points)
    assert field.settled_field(ctl, YOURS, trained) == trained.field
    runs = json.loads(particles.particles(ctl, YOURS, 10, 0.0, 30, 1, trained))
    assert runs["data"] == YOURS and runs["field"] == value
    ddpm, ddim = runs["runs"]
    assert np.abs(first_frame(ddpm) - first_frame(ddim)).max() <= (ddpm["pos_scale"] + ddim["pos_scale"]) / 2 + 1e-6
    assert served_file(ddim["pos"]).name.startswith("plane-s-run")
    assert saved == [] and {p.name for p in CHECKPOINTS.iterdir()} == before
    # its field's file pruned (a session back after MAX_AGE_S): the value names a new file, which exists
    served_file(value["url"]).unlink()
    again = json.loads(field.settled_field(ctl, YOURS, trained))
    assert again["url"] != value["url"] and served_file(again["url"]).exists()
    assert {k: v for k, v in again.items() if k != "url"} == {k: v for k, v in value.items() if k != "url"}

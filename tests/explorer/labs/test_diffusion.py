"""The diffusion tab's handlers called directly, on small models of any T (the app tests use the shipped one)."""

import base64
import collections
import io
import itertools
import json

import numpy as np
import pytest
import torch

from explorer import checks, render
from explorer.labs.diffusion import compare, elbo, export, forward, guidance, reverse
from explorer.labs.diffusion import frames as film
from explorer.models import Models
from train.models.ddpm import DDPM, DDPMConfig


@pytest.fixture(scope="module", params=[20, 50])
def models(request) -> Models:
    cfg = DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=14, timesteps=request.param)
    return Models(ddpm=DDPM(cfg).eval())


def test_snapshots_span_zero_to_T(models):
    T = models.ddpm.diffusion.T
    html = forward.snapshots(models, torch.zeros(1, 1, 28, 28), 0)
    captions = [int(c.split("<")[0]) for c in html.split("<figcaption>t = ")[1:]]
    assert captions[0] == 0 and captions[-1] == T and captions == sorted(set(captions))


def test_elbo_table_partitions_every_timestep(models):
    T = models.ddpm.diffusion.T
    _, md = elbo.elbo_chart(models, torch.zeros(1, 1, 28, 28), 0)
    spans = [line.split("t = ")[1].split(" ")[0] for line in md.splitlines() if line.startswith("| denoising")]
    bounds = [tuple(map(int, s.split("–"))) for s in spans]
    assert bounds[0][0] == 2 and bounds[-1][1] == T  # t = 1 is the reconstruction term, t = 2…T denoising
    assert all(b[0] == a[1] + 1 and b[0] <= b[1] for a, b in itertools.pairwise(bounds))


def test_chosen_snapshot_ts(models):
    T = models.ddpm.diffusion.T
    html = forward.snapshots(models, torch.zeros(1, 1, 28, 28), 0, f"{T}; 3 1,1")
    assert [c.split("<")[0] for c in html.split("<figcaption>t = ")[1:]] == ["1", "3", str(T)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "give up to 12 whole numbers"),
    ("5, x", "'x' is not a whole number"),
    ("2.5", "'2.5' is not a whole number"),
    ("-1", "t = -1 is outside the allowed range"),
    ("100000", "t = 100000 is outside the allowed range"),
    (",".join(map(str, range(13))), "13 snapshot t values given; at most 12"),
])
def test_bad_snapshot_ts_are_named(models, text, message):
    import gradio as gr

    with pytest.raises(gr.Error, match=message):
        forward.snapshots(models, torch.zeros(1, 1, 28, 28), 0, text)


def test_guidance_text_states_the_label_dropout_from_the_card(models):
    models.ddpm_card = {"training": {"class_dropout": 0.1}}
    assert "10% of the images had their label replaced" in guidance.guidance_text(models)
    models.ddpm_card = {}
    assert "some of the images" in guidance.guidance_text(models)


def test_guidance_text_quotes_the_measured_trade_off_from_the_card(models, monkeypatch):
    row = {"kind": "ddpm", "sampler": "ddim50", "labels": "balanced", "n": 5000, "device": "cpu"}
    monkeypatch.setattr(models, "ddpm_card", {"sample_quality": {"reference": "all 10,000 MNIST test images", "rows": [
        {"kind": "real", "labels": "none", "n": 5000, "inception_score": 9.5, "frechet_distance": 5.3},
        {"kind": "real", "labels": "balanced", "n": 5000, "inception_score": 9.574, "frechet_distance": 4.9},
        {**row, "guidance": 1.0, "inception_score": 9.0, "frechet_distance": 70.0},  # replaced by a newer row
        {**row, "guidance": 1.0, "inception_score": 9.966, "frechet_distance": 63.98},
        {**row, "guidance": 2.0, "n": 1000, "inception_score": 9.99, "frechet_distance": 90.0},  # a smaller N
        {**row, "guidance": 3.0, "device": "cuda-NVIDIA-H200", "inception_score": 9.99, "frechet_distance": 99.0},
        {**row, "guidance": 0.0, "inception_score": 9.265, "frechet_distance": 20.68},
        {**row, "sampler": "ddim10", "guidance": 0.0, "inception_score": 9.3, "frechet_distance": 21.8},
        {**row, "labels": "none", "guidance": 0.0, "inception_score": 7.4, "frechet_distance": 81.5},
    ]}})
    text = guidance.guidance_text(models)
    assert ("the Fréchet distance (FD) to all 10,000 MNIST test images: $w=0$: IS 9.27, FD 20.7; $w=1$: IS 9.97, "
            "FD 64.0 (real digits, class-balanced like the samples: IS 9.57; 5,000 training digits are FD 4.9 from the "
            "test set)") in text  # the floor that compares like with like: balanced, as many, the same reference
    assert "5,000 samples each, scored" in text and "w=2" not in text and "w=3" not in text
    assert "7.4" not in text and "21.8" not in text
    models.ddpm_card = {"sample_quality": {"rows": [{"source": "old row without fields", "n": 5000}]}}
    assert "Measured" not in guidance.guidance_text(models)


# --- the sample is a frame; stop ends the run's own stream; controls that have no effect --------

def test_the_last_frame_is_the_sampler_output(models):
    """DDIM with 1 step used to end on "t = 1000 (the sample)" over pure noise: the last frame was the last
    step's input. Now every run ends with z_0, the sampler's output, at t = 0."""
    T = models.ddpm.diffusion.T
    for steps in (1, 5):
        req = reverse.parse_request(models, "DDIM", steps, 0.0, 3, 2, "none (unconditional)", 0.0)
        frames = list(film.run_frames(models.ddpm, req))
        assert next(f.t for f in frames) == T and frames[-1].t == 0 and len(frames) == steps + 1
        assert [f.k for f in frames] == list(range(steps + 1))
        g = torch.Generator().manual_seed(3)
        z_T = torch.randn((2, 1, 28, 28), generator=g)
        last = list(film.trajectory(models.ddpm, req, z_T, g))[-1]
        assert frames[-1].png == film.frame_png(last.z_prev, last.eps, last.z_prev)
        assert frames[-2].png == film.frame_png(last.z_t, last.eps, last.x0)  # z_1's frame is not z_0's


def _drain(gen):
    return [out for out in gen]


def test_stop_ends_the_run_with_its_final_value(models):
    """However the race falls, the stopped run's last value is final and scrubbable: it comes from the run's own
    stream, after everything it streamed."""
    import json

    for _ in range(3):
        run = reverse.new_run(None)
        gen = reverse.reverse(models, "DDPM", 0, 0.0, 0, 4, "none (unconditional)", 0.0, run)
        first = next(gen)
        assert not json.loads(first[0])["final"]
        assert reverse.stop(run) != "Nothing is running."
        rest = list(gen)
        value, status, _ = rest[-1]
        v = json.loads(value)
        assert v["final"] and status.startswith("Stopped after") and v["computed"] < v["total"]
        assert all(json.loads(o[0])["final"] is False for o in rest[:-1] if isinstance(o[0], str))
        assert run.done and reverse.stop(run) == "Nothing is running."


def test_a_run_stopped_by_a_newer_one_leaves_the_newer_runs_state_and_status(models):
    """A run stopped by the next Run click ends by blanking the viewer for the newer run, and leaves the session's
    state (the newer run, which Stop must reach while it waits for a slot) and status alone; also when it was stopped
    before its first step."""
    for started in (True, False):
        old = reverse.new_run(None)
        gen = reverse.reverse(models, "DDPM", 0, 0.0, 0, 2, "none (unconditional)", 0.0, old)
        if started:
            next(gen)
        new = reverse.new_run(old)
        value, status, state = list(gen)[-1]
        assert json.loads(value)["run"] == new.id and json.loads(value)["frames"] == []
        assert status == {"__type__": "update"} and state == {"__type__": "update"}


def test_stop_before_the_run_starts(models):
    run = reverse.new_run(None)
    reverse.stop(run)  # pressed while the run waited in the queue
    out = list(reverse.reverse(models, "DDIM", 5, 0.0, 0, 2, "none (unconditional)", 0.0, run))
    assert len(out) == 1 and out[0][1].startswith("Stopped before the first step")


def test_a_new_run_stops_the_one_still_going(models):
    old = reverse.new_run(None)
    gen = reverse.reverse(models, "DDPM", 0, 0.0, 0, 2, "none (unconditional)", 0.0, old)
    next(gen)
    new = reverse.new_run(old)
    assert old.stop.is_set() and not new.stop.is_set() and new.id > old.id
    value, status, _ = list(gen)[-1]  # its stream ends by blanking the viewer for the new run, status left alone
    assert json.loads(value) == {"run": new.id, "final": False, "total": 0, "computed": 0, "frames": []}
    assert status == {"__type__": "update"}


def test_the_run_button_checks_first_and_says_why_a_run_may_wait(models):
    """Its first step runs before the run joins the queue: a bad value is named there (not after waiting behind
    other runs), and the status says that runs take turns."""
    from explorer import checks

    old = reverse.new_run(None)
    run, files, status, view = reverse.run_button(models, old, "DDIM", 5, 0.0, 0, 2, "3", 1.0)
    assert old.stop.is_set() and run.id > old.id and files["visible"] is False
    assert json.loads(view) == {"run": run.id, "final": False, "total": 0, "computed": 0, "frames": []}
    assert status.startswith("Starting DDIM, 5 steps, η = 0, seed 0, class 3, w = 1.") and "take turns" in status
    with pytest.raises(checks.InputError, match="Steps"):
        reverse.run_button(models, run, "DDIM", 0, 0.0, 0, 2, "3", 1.0)


def test_controls_without_effect_are_disabled():
    steps, eta = reverse._sampler_controls("DDPM")
    assert steps["interactive"] is False and eta["interactive"] is False
    assert all(u["interactive"] for u in reverse._sampler_controls("DDIM"))
    assert reverse._guidance_control("none (unconditional)")["interactive"] is False
    assert reverse._guidance_control("3")["interactive"] is True


def test_request_describes_itself_in_words(models):
    one = reverse.parse_request(models, "DDIM", 1, 0.0, 7, 1, "none (unconditional)", 5.0)
    assert one.describe() == "DDIM, 1 step, η = 0, seed 7, unconditional"  # not "1 steps"
    assert one.guidance == 0.0  # w has no effect without a class
    T = models.ddpm.diffusion.T
    ddpm = reverse.parse_request(models, "DDPM", 3, 0.2, 0, 1, "none (unconditional)", 0.0)
    assert ddpm.steps == T and ddpm.describe().startswith(f"DDPM, all {T} steps")
    assert export.export_name(one) == "ddim1-eta0-seed7-uncond"


def test_elbo_chart_reports_progress_and_speaks_of_the_loss(models):
    seen = []

    def progress(frac, desc=None):
        seen.append(frac)

    fig, md = elbo.elbo_chart(models, torch.zeros(1, 1, 28, 28), 0, progress=progress)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert "terms of the loss −ELBO" in md and "−ELBO" in fig.layout.title.text
    assert "-\\mathrm{ELBO}=" in elbo.ELBO_TEXT and "L_T" in elbo.ELBO_TEXT


def test_two_samplers_include_ddpm_only_when_asked(models):
    calls = []
    html = compare.two_samplers(models, 3, 2, 0.0, 0, 1, "none (unconditional)", 0.0, False,
                                  progress=lambda f, desc=None: calls.append(desc))
    assert html.count("<img") == 3 and "DDPM, all" not in html and calls  # z_T and the two DDIM runs
    assert "the shared z_T (seed 0)" in html and "fresh noise at every step (seed 1)" in html  # why DDPM ends elsewhere
    T = models.ddpm.diffusion.T
    html = compare.two_samplers(models, 3, 2, 0.0, 0, 1, "none (unconditional)", 0.0, True,
                                progress=lambda f, desc=None: None)
    assert html.count("<img") == 4 and f"DDPM, all {T} steps" in html


def test_dpm_solver_runs_in_the_viewer_and_beside_ddim(models):
    """DPM-Solver++(2M) in the reverse viewer: its frames are its steps', η does not apply, and the file name says
    which sampler ran; in "Same seed, two samplers" it is the second arm, from the same z_T as DDIM."""
    from explorer.state import DPM_SOLVER

    req = reverse.parse_request(models, DPM_SOLVER, 4, 0.7, 5, 2, "none (unconditional)", 0.0)
    assert req.eta == 0.0 and req.describe() == f"{DPM_SOLVER}, 4 steps, seed 5, unconditional"
    assert export.export_name(req) == "dpmpp2m4-seed5-uncond"
    frames = list(film.run_frames(models.ddpm, req))
    assert len(frames) == 5 and frames[-1].t == 0
    g = torch.Generator().manual_seed(5)
    z_T = torch.randn((2, 1, 28, 28), generator=g)
    steps = list(models.ddpm.diffusion.dpm_solver_pp_sample_progressive(models.ddpm.eps_model(None), (2, 1, 28, 28), 4,
                                                                        z_T=z_T))
    assert frames[-1].png == film.frame_png(steps[-1].z_prev, steps[-1].eps, steps[-1].z_prev)
    steps_u, eta_u = reverse._sampler_controls(DPM_SOLVER)
    assert steps_u["interactive"] is True and eta_u["interactive"] is False and "deterministic" in eta_u["label"]
    html = compare.two_samplers(models, 3, 2, 0.0, 0, 1, "none (unconditional)", 0.0, False, DPM_SOLVER,
                                progress=lambda f, desc=None: None)
    assert html.count("<img") == 3 and f"{DPM_SOLVER}, 2 steps" in html and "DDIM, 3 steps" in html
    with pytest.raises(Exception, match="Second sampler"):
        compare.two_samplers(models, 3, 2, 0.0, 0, 1, "none (unconditional)", 0.0, False, "Heun",
                             progress=lambda f, desc=None: None)


def test_exported_frames_say_what_they_show(models):
    """Each exported frame carries the run, its step and t, and the rows' names; the samples PNG is the sample row."""
    from PIL import Image

    req = reverse.parse_request(models, "DDIM", 2, 0.0, 7, 2, "none (unconditional)", 0.0)
    run = collections.deque(reverse.reverse(models, "DDIM", 2, 0.0, 7, 2, "none (unconditional)", 0.0), maxlen=1)[0][2]
    assert run.title == req.describe() and run.name == "ddim2-eta0-seed7-uncond"
    assert [export.frame_caption(run, f) for f in run.frames] == [
        f"step 1 of 2 · t = {run.frames[0].t}", f"step 2 of 2 · t = {run.frames[1].t}", "the sample · t = 0"]
    frames = export._export_frames(run, scale=3)
    grid = np.asarray(Image.open(io.BytesIO(run.frames[-1].png)).convert("L"))
    h, w = grid.shape
    top = export.HEADER_H + export.LABEL_H  # the title and caption, then the blocks' names
    assert frames[-1].shape == (top + 3 * h, max(3 * w, 360))
    assert frames[-1][:export.HEADER_H].max() == 255 and frames[-1][export.HEADER_H:top].max() == 255  # text drawn
    assert np.array_equal(frames[-1][top:, :3 * w], render.upscale(grid, 3))  # digits intact
    # the frame: three square blocks side by side (2 samples: 2 columns, 1 row), the gap between them black
    block = film.block_width(2)
    assert w == 3 * block + 2 * export.BLOCK_GAP and h == render.SIDE + 4
    assert grid[:, block:block + export.BLOCK_GAP].max() == 0
    with Image.open(export.export_samples(run, scale=4)) as im:
        sample = np.asarray(im)
    assert np.array_equal(sample[top:, :4 * block], render.upscale(grid[:, :block], 4))


def test_exporting_the_same_run_again_reuses_its_files(models):
    """Each repeated export of one run rewrote ~18 MB; now the files of a finished run are handed out again while
    they exist, and a new run exports anew."""
    from pathlib import Path

    run = collections.deque(reverse.reverse(models, "DDIM", 2, 0.0, 7, 2, "none (unconditional)", 0.0), maxlen=1)[0][2]
    first = export.export(run)
    stamps = [Path(f).stat().st_mtime_ns for f in first]
    assert export.export(run) == first and [Path(f).stat().st_mtime_ns for f in first] == stamps
    Path(first[0]).unlink()  # pruned: made again
    again = export.export(run)
    assert again != first and all(Path(f).exists() for f in again)
    other = collections.deque(reverse.reverse(models, "DDIM", 2, 0.0, 8, 2, "none (unconditional)", 0.0),
                              maxlen=1)[0][2]
    assert set(export.export(other)).isdisjoint(again)


def test_the_samples_readings_are_the_classifiers_in_a_square_grid(models):
    """On request, each sample of the finished run with the digit the project's classifier finds most probable and
    that probability under it, ⌈√n⌉ to a row; hidden when not asked for and before a run finished."""
    import dataclasses
    import re

    from tests.conftest import CHECKPOINTS
    from train.checkpoint import load_checkpoint

    models = dataclasses.replace(models, classifier=load_checkpoint(CHECKPOINTS / "classifier.safetensors"))
    run = collections.deque(reverse.reverse(models, "DDIM", 3, 0.0, 4, 5, "none (unconditional)", 0.0), maxlen=1)[0][2]
    assert run.samples.shape == (5, 28, 28) and 0 <= float(run.samples.min()) and float(run.samples.max()) <= 1
    off = film.readings(models, False, run)
    assert off["visible"] is False and off["value"] == ""
    assert film.readings(models, True, None)["value"] == ""
    html = film.readings(models, True, run)["value"]
    assert "repeat(3, max-content)" in html  # 5 samples: 3 columns
    with torch.no_grad():  # the classifier's own softmax, computed here
        probs = torch.softmax(models.classifier.eval()(run.samples[:, None].float()), dim=1)
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    best, digit = probs.max(dim=1)
    assert captions == [f"{d} ({p:.0%})" if p >= 0.5 else f"unsure ({d}?)"
                        for p, d in zip(best.tolist(), digit.tolist(), strict=True)]


def test_unconditional_vs_a_class_runs_the_same_noise_with_and_without_the_label(models):
    """One click: the shared z_T, then the same DDIM steps without a label and with the class; the class arm is
    reverse's own run of that class from the same seed, the unconditional arm reverse's unconditional run."""
    import re

    from PIL import Image

    html = compare.uncond_vs_class(models, 3, 0.0, 2, 2, "3", 0.5, progress=lambda *a, **k: None)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 3 and "unconditional, DDIM 3 steps" in html and "class 3, w = 0.5, DDIM 3 steps" in html

    def grid(b64):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("L"))

    for label, w, img in (("none (unconditional)", 0.0, imgs[1]), ("3", 0.5, imgs[2])):
        run = collections.deque(reverse.reverse(models, "DDIM", 3, 0.0, 2, 2, label, w), maxlen=1)[0][2]
        assert np.array_equal(grid(img), render.grid(run.samples, 2))  # the same samples, to the grey level
    with pytest.raises(checks.InputError, match="Pick a class"):
        compare.uncond_vs_class(models, 3, 0.0, 2, 2, "none (unconditional)", 0.5, progress=lambda *a, **k: None)

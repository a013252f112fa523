"""The same z_T through two samplers, DDIM and a second one (DDIM at another step count, or DPM-Solver++(2M)), and
DDPM with all T steps if asked."""

import dataclasses
import time
from functools import partial

import gradio as gr
import torch

from explorer import background, checks, render
from explorer.gradio_compat import Dropdown, Number, Radio, Slider
from explorer.labs.diffusion.common import DiffusionControls
from explorer.labs.diffusion.frames import trajectory
from explorer.labs.diffusion.reverse import (
    GUIDANCE_DEFAULT,
    GUIDANCE_LABEL_OFF,
    _guidance_control,
    parse_request,
)
from explorer.links import Links
from explorer.models import Models
from explorer.state import CLASS_NONE, CLASSES, DPM_SOLVER, MAX_GUIDANCE, MAX_SAMPLES
from train.diffusion import to_unit_range

SECOND_SAMPLERS = ("DDIM", DPM_SOLVER)


def two_samplers(models: Models, steps_a, steps_b, eta, seed, n, label, guidance, with_ddpm=False,
                 sampler_b="DDIM", progress=gr.Progress(), request: gr.Request = None) -> str:
    """DDIM with `steps_a` steps and `sampler_b` (DDIM or DPM-Solver++(2M)) with `steps_b` (and, if asked, DDPM with
    all T steps) from the same z_T, final samples side by side. Reports its progress step by step (DDPM's 1000 steps
    take minutes on a CPU). One run at a time per session (`background.RUNS`)."""
    req, second, with_ddpm = parse_comparison(models, steps_a, steps_b, eta, seed, n, label, guidance, with_ddpm,
                                              sampler_b)
    with background.RUNS.claim(request.session_hash if request else None):
        return _two_samplers(models, models.diffusion_model(), req, second, with_ddpm, progress)


def parse_comparison(models: Models, steps_a, steps_b, eta, seed, n, label, guidance, with_ddpm, sampler_b="DDIM"):
    """/two_samplers's values checked: (the first arm's SamplerRequest, the second's, whether DDPM runs too).
    Also its `checks.pre_queue` validator, so a bad value is named before the call waits for a run slot."""
    req = parse_request(models, "DDIM", steps_a, eta, seed, n, label, guidance)
    sampler_b = checks.choice("Second sampler", sampler_b, SECOND_SAMPLERS)
    steps_b = checks.number("Steps (second)", steps_b, 1, models.diffusion_model().diffusion.T, integer=True)
    if not isinstance(with_ddpm, bool):
        raise checks.InputError(f"'Include DDPM' must be true or false, not {checks.shown(with_ddpm)}.")
    second = dataclasses.replace(req, sampler=sampler_b, steps=steps_b, eta=req.eta if sampler_b == "DDIM" else 0.0)
    return req, second, with_ddpm


def _run_arms(models: Models, m, req, arms: list, progress, name) -> list[str]:
    """Each arm (a SamplerRequest) from the same z_T (seed req.seed; fresh noise, where an arm draws any, from seed
    req.seed + 1): the shared z_T, then each arm's samples, as image grids captioned `name(arm)` and the time."""
    z_T = torch.randn((req.n, 1, 28, 28), generator=torch.Generator().manual_seed(req.seed))
    total, done = sum(a.steps for a in arms), 0
    out = [render.grid_tag(to_unit_range(z_T.squeeze(1)), req.n, cell=56, caption=f"the shared z_T (seed {req.seed})",
                           alt=f"{req.n} images of pure noise z_T, the start of every sampler below")]
    with torch.inference_mode():
        for arm in arms:
            t0 = time.perf_counter()
            g = torch.Generator().manual_seed(req.seed + 1)
            last = None
            for k, step in enumerate(trajectory(m, arm, z_T, g)):
                last = step
                if k % 10 == 0:
                    progress((done + k) / total, desc=f"{arm.sampler}, {arm.steps} steps: step {k + 1}")
            done += arm.steps
            what = name(arm)
            samples = to_unit_range(last.z_prev.squeeze(1))
            out.append(render.grid_tag(samples, req.n, cell=56,
                                       caption=f"{what}: {time.perf_counter() - t0:.1f} s",
                                       export=render.file_name("diffusion-compare", sampler=arm.sampler,
                                                               steps=arm.steps, eta=arm.eta, seed=req.seed,
                                                               **({} if arm.label is None else
                                                                  {"label": arm.label, "w": arm.guidance})),
                                       alt=models.alt(f"{req.n} samples: {what}, from that z_T", samples)))
    return out


def _sampler_name(arm) -> str:
    return {"DDPM": f"DDPM, all {arm.steps} steps", DPM_SOLVER: f"{DPM_SOLVER}, {arm.steps} steps"}.get(
        arm.sampler, f"DDIM, {arm.steps} steps, η = {arm.eta:g}")


def uncond_vs_class(models: Models, steps, eta, seed, n, label, guidance, progress=gr.Progress(),
                    request: gr.Request = None) -> str:
    """The same z_T through the same DDIM steps twice: without a label (the unconditional model) and with class
    `label` at guidance `guidance`; only the label the network is given differs."""
    req = parse_request(models, "DDIM", steps, eta, seed, n, label, guidance)
    if req.label is None:
        raise checks.InputError("Pick a class: the same z_T then runs unconditionally and for that class.")
    arms = [dataclasses.replace(req, label=None, guidance=0.0), req]
    with background.RUNS.claim(request.session_hash if request else None):
        out = _run_arms(models, models.diffusion_model(), req, arms, progress, lambda a: (
            "unconditional" if a.label is None else f"class {a.label}, w = {a.guidance:g}") + f", DDIM {a.steps} steps")
    return ("<div>" + "".join(out) + "<p class='ge-note'>Both rows start from the same z_T and take the same DDIM "
            f"steps (η = {req.eta:g}{'' if req.eta == 0 else f', fresh noise from seed {req.seed + 1} in both'}): "
            "only the label the network is given differs, none (the unconditional model) or the class with its "
            "guidance scale. What the classifier reads in each sample is in the images' descriptions.</p></div>")


def _two_samplers(models: Models, m, req, second, with_ddpm: bool, progress) -> str:
    arms = [req, second]
    if with_ddpm:
        arms.append(dataclasses.replace(req, sampler="DDPM", steps=m.diffusion.T, eta=1.0))
    out = _run_arms(models, m, req, arms, progress, _sampler_name)
    cls = "" if req.label is None else f" (class {req.label}, w = {req.guidance:g})"
    return ("<div>" + "".join(out) + f"<p class='ge-note'>Every row starts from the same z_T{cls}. DDIM with η = 0 "
            "and DPM-Solver++(2M) add no noise: both follow the probability-flow ODE, which maps each z_T to one "
            "sample, DDIM with first-order steps and DPM-Solver++ with second-order ones, so their samples agree up "
            "to each one's discretization error, which shrinks faster with the steps for the second-order solver. "
            "DDPM (and DDIM with η > 0) draws fresh noise at every step "
            f"(seed {req.seed + 1}): a discretized SDE, whose path from the same z_T ends at another sample. With a "
            "perfect network and vanishing steps the SDE and the ODE would sample the same distribution; with this "
            "network and these step counts they do not quite (the model's card scores each sampler apart, and their "
            "Fréchet distances differ).</p></div>")


def first_comparison(models: Models, steps_a, steps_b, eta, seed, n, label, guidance, sampler_b="DDIM") -> str:
    """`two_samplers` without DDPM, as a page opens (the view's first picture); a link to more than
    reverse.OPENING_MAX_STEPS steps leaves it to the Compare button."""
    from explorer.labs.diffusion.reverse import OPENING_MAX_STEPS

    longest = max(checks.number("DDIM steps (first)", steps_a, 1, 10**6, integer=True),
                  checks.number("Steps (second)", steps_b, 1, 10**6, integer=True))
    if longest > OPENING_MAX_STEPS:
        return (f"<p class='ge-note'>{longest} steps do not start by themselves when a page opens: press "
                "<b>Compare</b> to run them.</p>")
    return two_samplers(models, steps_a, steps_b, eta, seed, n, label, guidance, False, sampler_b,
                        progress=lambda *a, **kw: None)


def build(ctl: DiffusionControls, links: Links) -> None:
    T = ctl.T
    # the controls in a column beside the rows of samples (the first screen is the instrument)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            with gr.Row():
                btn = gr.Button("Compare", variant="primary", elem_id="diff-compare-btn")
                vs = gr.Button("Unconditional vs this class, same z_T", elem_id="diff-cmp-uncond")
            with gr.Row():
                a = Slider(1, T, value=min(50, T), step=1, label="DDIM steps (first)", elem_id="diff-cmp-a",
                           min_width=140)
                b = Slider(1, T, value=min(10, T), step=1, label="steps (second)", elem_id="diff-cmp-b", min_width=140)
            sampler_b = Radio(list(SECOND_SAMPLERS), value="DDIM", label="second sampler",
                              elem_id="diff-cmp-sampler-b")
            with gr.Row():
                eta = Slider(0, 1, value=0.0, step=0.05, label="η", elem_id="diff-cmp-eta", min_width=140)
                n = Slider(1, MAX_SAMPLES, value=4, step=1, label="samples", elem_id="diff-cmp-n", min_width=140)
            with gr.Row():
                label = Dropdown(CLASSES, value=CLASS_NONE, label="class",
                                 interactive=bool(ctl.ddpm.config.num_classes), elem_id="diff-cmp-class", min_width=140)
                seed = Number(0, label="seed", minimum=0, step=1, elem_id="diff-cmp-seed", min_width=100)
            guidance = Slider(0, MAX_GUIDANCE, value=GUIDANCE_DEFAULT, step=0.5, label=GUIDANCE_LABEL_OFF,
                              interactive=False, elem_id="diff-cmp-guidance")
            ddpm = gr.Checkbox(False, label=f"also DDPM with all {T} steps (minutes on a CPU)",
                               elem_id="diff-compare-ddpm")
        with gr.Column(scale=5):
            out = gr.HTML(elem_id="diff-compare")
    label.change(_guidance_control, label, guidance, api_visibility="private", show_progress="hidden")
    inputs = [a, b, eta, seed, n, label, guidance, ddpm, sampler_b]
    render.mark_stale(inputs, ["diff-compare"])
    check = checks.pre_queue(partial(parse_comparison, ctl.models))
    render.clear_stale(btn.click(background.in_session(two_samplers, ctl.models), inputs, out, api_name="two_samplers",
                                 concurrency_limit=2, validator=check), ["diff-compare"])
    render.clear_stale(vs.click(background.in_session(uncond_vs_class, ctl.models), [a, eta, seed, n, label, guidance],
                                out, api_name="uncond_vs_class", concurrency_limit=2), ["diff-compare"])
    # not the DDPM box: a link would start minutes of work on every page that opens it
    linked = [c for c in inputs if c is not ddpm]
    for name, c in zip(("cmp_a", "cmp_b", "cmp_eta", "cmp_seed", "cmp_n", "cmp_class", "cmp_guidance",
                        "cmp_sampler_b"), linked, strict=True):
        links.param("diffusion", name, c)
    links.opening(partial(first_comparison, ctl.models), linked, [out], later=True)
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown("DDIM, and a second sampler (DDIM with another step count, or the second-order DPM-Solver++(2M)), "
                "and if you ask, DDPM with all T steps, all from the same initial noise z_T.")

"""The learned reverse process, streamed frame by frame (z_t, predicted ε, predicted x̂_0, and last the sample),
then scrubbed in the page (explorer/filmstrip.py); DDIM, DPM-Solver++(2M) or DDPM, class and guidance; Stop; export."""

import collections
import time
from functools import partial

import gradio as gr

from explorer import background, checks, filmstrip
from explorer.gradio_compat import Dropdown, Number, Radio, Slider
from explorer.labs.diffusion.common import LATEX, DiffusionControls
from explorer.labs.diffusion.export import export, export_name
from explorer.labs.diffusion.frames import readings, run_frames
from explorer.labs.diffusion.guidance import guidance_text
from explorer.links import Links
from explorer.models import Models
from explorer.state import CLASS_NONE, CLASSES, DPM_SOLVER, MAX_GUIDANCE, MAX_SAMPLES, SAMPLERS, SamplerRequest

GUIDANCE_LABEL_ON = "guidance scale w"
GUIDANCE_LABEL_OFF = "guidance scale w (pick a class first: there is nothing to guide towards)"
# The guidance scale a class starts with: one the model's card measures (train/evaluate.py's sweep), where the
# Inception Score rises past real digits' and the Fréchet distance is no worse than without guidance; at w = 1 the FD
# more than doubles (docs/checkpoints.md), so larger defaults would start every class beyond the measured trade-off.
GUIDANCE_DEFAULT = 0.5


def parse_request(models: Models, sampler, steps, eta, seed, n, label, guidance) -> SamplerRequest:
    m = models.diffusion_model()
    return SamplerRequest.parse(m.diffusion.T, m.config.num_classes, sampler, steps, eta, seed, n, label, guidance)


def check_call(models: Models, sampler, steps, eta, seed, n, label, guidance, run=None) -> None:
    """/reverse's values checked when the call arrives, before it waits for a run slot (`checks.pre_queue`)."""
    parse_request(models, sampler, steps, eta, seed, n, label, guidance)


def new_run(run) -> filmstrip.Run:
    """The Run button's first step, before the run waits in the queue: a fresh run in this session's state,
    so that Stop can reach it even before it starts. A run still going is stopped."""
    fresh = filmstrip.Run(0)
    if run is not None and not run.done:
        run.successor = fresh.id  # its stream ends by blanking the viewer for this run (`_reverse`)
        run.stop.set()
    return fresh


# Seconds between streamed updates. Each update costs the page ~80 ms of its main thread, most of it Gradio's own
# bookkeeping (measured in headless Chromium on 2 cores): at 20 a second the page was busy all the time, drew 5.6
# frames a second, and a click on Stop took 9.7 s to land; at 5 a second it is busy 15% of the time, draws 49 frames a
# second and Stop lands in 0.3 s. Every step's frame is kept either way, for scrubbing and export.
STREAM_S = 0.2

WAITING = ("Starting {what}. Runs take turns, two at a time for everyone using this app: if others are running, "
           "yours starts when one ends.")


def run_button(models: Models, run, sampler, steps, eta, seed, n, label, guidance
               ) -> tuple[filmstrip.Run, dict, str, str]:
    """The Run button's first step, before the run joins the queue (it waits there only for a run slot): the
    controls checked (a bad value is named now, not after the wait), `new_run`, the previous run's export files
    cleared and hidden (they no longer match what is shown), the status saying why a run may wait, and the viewer
    blanked for the new run (`filmstrip.pending`), which shows while the run waits for a slot behind other users'
    runs (a run that starts at once draws its first frame in the same moment, and the page shows that)."""
    req = parse_request(models, sampler, steps, eta, seed, n, label, guidance)
    fresh = new_run(run)
    return fresh, gr.update(value=None, visible=False), WAITING.format(what=req.describe()), filmstrip.pending(fresh.id)



def reverse(models: Models, sampler, steps, eta, seed, n, label, guidance, run=None, request: gr.Request = None):
    """Stream the reverse process: every frame is kept (for scrubbing and export), the page gets frames as
    they come.

    Yields (viewer value, status, run state). While streaming, at most 5 updates a second (STREAM_S), each with the
    newest frame only; the last update hands the page the whole run (see explorer/filmstrip.py). The steps
    run in a thread of their own (explorer/background.py). Stop sets the run's `stop`: this generator then
    yields the stopped run as its last value, so no streamed value can arrive after it. One run at a time per
    session (`background.RUNS`).
    """
    req = parse_request(models, sampler, steps, eta, seed, n, label, guidance)
    with background.RUNS.claim(request.session_hash if request else None):
        yield from _reverse(models, req, run)


def _reverse(models: Models, req: SamplerRequest, run):
    if run is None or run.started:  # an API call, which has no Run button's first step
        run = filmstrip.Run(0)
    run.total, run.started, run.name, run.title = req.steps + 1, True, export_name(req), req.describe()
    what = req.describe()
    if run.stop.is_set():
        run.done = True
        if run.successor is not None:  # a newer run stopped it: the page, status and state are the newer run's
            yield filmstrip.pending(run.successor), gr.update(), gr.update()
            return
        yield gr.update(), f"Stopped before the first step ({what}).", run
        return
    t0 = time.perf_counter()
    try:
        frames = partial(run_frames, models.diffusion_model(), req, alt=models.alt, run=run)
        for batch in background.stream(frames, run.stop, interval=STREAM_S, name="reverse-process"):
            run.frames.extend(batch)
            k = min(len(run.frames), req.steps)
            status = f"{what}: step {k} of {req.steps}, {time.perf_counter() - t0:.2f} s"
            yield filmstrip.value(run, final=False), status, run
    finally:
        run.done = True  # also when the page was closed: the generator is closed, the thread ends
    if run.successor is not None:  # stopped by a newer run: blank the viewer for it; its status and state stay
        yield filmstrip.pending(run.successor), gr.update(), gr.update()
        return
    if len(run.frames) < run.total:  # stopped: background.stream ended early
        done = len(run.frames)
        status = (f"Stopped after {done} of {req.steps} steps ({what}): scrub them below." if done else
                  f"Stopped before the first step ({what}).")
        yield (filmstrip.publish(run) if done else gr.update()), status, run
        return
    status = f"{what}: done in {time.perf_counter() - t0:.2f} s. Scrub the frames below; the last is the sample."
    yield filmstrip.publish(run), status, run


def stop(run) -> str | dict:
    """Stop this session's run: the run's own stream ends with its final value. Says so if none is going."""
    if run is None or run.done:
        return "Nothing is running."
    run.stop.set()
    return gr.update()


ETA_LABELS = {"DDIM": "η (DDIM: 0 deterministic, 1 like DDPM)",
              DPM_SOLVER: "η (DPM-Solver++ solves the ODE: deterministic, like DDIM with η = 0)",
              "DDPM": "η (DDPM draws fresh noise every step, like DDIM with η = 1)"}


def _sampler_controls(sampler: str) -> list:
    """DDPM always takes all T steps with fresh noise; DPM-Solver++ takes any number of steps, with no noise: the
    steps slider matters for DDIM and DPM-Solver++, η for DDIM only."""
    return [gr.update(interactive=sampler != "DDPM",
                      label="steps (DDPM always takes all T)" if sampler == "DDPM" else "steps"),
            gr.update(interactive=sampler == "DDIM", label=ETA_LABELS.get(sampler, ETA_LABELS["DDIM"]))]


def _guidance_control(label: str) -> dict:
    on = label != CLASS_NONE
    return gr.update(interactive=on, label=GUIDANCE_LABEL_ON if on else GUIDANCE_LABEL_OFF)


OPENING_MAX_STEPS = 100  # a page that opens runs at most this many steps by itself; longer runs wait for Run


def finished(models: Models, sampler, steps, eta, seed, n, label, guidance) -> tuple:
    """A whole run, as a page opens (the viewer's first picture): `reverse`'s last (viewer, status, run). A link
    to a long run (DDPM's T steps, or DDIM or DPM-Solver++ with more than OPENING_MAX_STEPS) leaves it to the Run
    button: every page that opens the link would otherwise cost minutes of the server."""
    req = parse_request(models, sampler, steps, eta, seed, n, label, guidance)
    if req.steps > OPENING_MAX_STEPS:
        return (gr.update(), f"{req.describe()}: {req.steps} steps, so it does not start by itself. Press "
                             "**Run the reverse process** to run it.", None)
    return collections.deque(reverse(models, sampler, steps, eta, seed, n, label, guidance), maxlen=1)[0]


def _exports(run: gr.State) -> gr.File:
    """The export button and the files' box, wired to this session's run; returns the box."""
    with gr.Row():
        export_btn = gr.Button("Export GIF, GIF for slides, MP4 and the samples (PNG)", size="sm", scale=0)
        files = gr.File(label="exports: the run (GIF, a small GIF for slides, MP4), its samples (PNG)",
                        file_count="multiple",
                        interactive=False, height=110, elem_id="diff-export-files", visible=False)
    # the files' box is hidden while it has none (an empty file box is an unnamed control to a screen reader)
    export_btn.click(export, run, files, api_name="export").then(lambda: gr.update(visible=True), None, files,
                                                                  api_visibility="private", show_progress="hidden")
    return files


def build(ctl: DiffusionControls, links: Links) -> None:
    models, m, T = ctl.models, ctl.ddpm, ctl.T
    # the controls beside the viewer they drive: both on the first screen
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            with gr.Row():
                run_btn = gr.Button("Run the reverse process", variant="primary", elem_id="diff-run", scale=3)
                stop_btn = gr.Button("Stop", variant="stop", elem_id="diff-stop", scale=1, min_width=80)
            sampler = Radio(list(SAMPLERS), value="DDIM", label="sampler", elem_id="diff-sampler")
            with gr.Row():
                steps = Slider(1, T, value=min(50, T), step=1, label="steps", elem_id="diff-steps", min_width=140)
                n = Slider(1, MAX_SAMPLES, value=4, step=1, label="samples at once", elem_id="diff-n", min_width=140)
            with gr.Row():
                label = Dropdown(CLASSES, value=CLASS_NONE, label="class (classifier-free guidance)",
                                 interactive=bool(m.config.num_classes), elem_id="diff-class", min_width=140)
                seed = Number(0, label="seed", minimum=0, step=1, elem_id="diff-seed", min_width=100)
            guidance = Slider(0, MAX_GUIDANCE, value=GUIDANCE_DEFAULT, step=0.5, interactive=False,
                              elem_id="diff-guidance", label=GUIDANCE_LABEL_OFF)
            eta = Slider(0, 1, value=0.0, step=0.05, label="η (DDIM: 0 deterministic, 1 like DDPM)",
                         elem_id="diff-eta")
            read_on = gr.Checkbox(False, label="what the classifier reads in each sample", elem_id="diff-read-on",
                                  interactive=models.classifier is not None)
        with gr.Column(scale=5):
            status = gr.Markdown(elem_id="diff-status")
            view = filmstrip.viewer(m.diffusion, elem_id="diff-frame")
            read = gr.HTML(visible=False, elem_id="diff-readings")
    run = gr.State(None)  # this session's filmstrip.Run
    gr.Markdown("Left to right: the noisy sample $z_t$, the predicted noise $\\hat\\varepsilon$ (±2 shown black to "
                "white) and the predicted clean image $\\hat x_0$, each sample in the same cell of each block. The "
                "last frame is the sample $z_0$ the sampler returns. Once a run ends, the slider, the arrow keys and "
                "▶ play move through its frames in your browser, without recomputing anything.\n\n"
                + (guidance_text(models) if m.config.num_classes else ""), latex_delimiters=LATEX)
    files = _exports(run)

    sampler.change(_sampler_controls, sampler, [steps, eta], api_visibility="private", show_progress="hidden")
    label.change(_guidance_control, label, guidance, api_visibility="private", show_progress="hidden")
    # trigger_mode "multiple": a Run clicked while the last run still streams stops that run (run_button) and queues
    # this one, which waits for it (background.RUNS); Gradio's default for clicks ("once") dropped the new run when
    # the old one's stream had not ended yet, leaving the viewer waiting for a run that never started
    (run_btn.click(partial(run_button, models), [run, sampler, steps, eta, seed, n, label, guidance],
                   [run, files, status, view], api_visibility="private", show_progress="hidden",
                   trigger_mode="multiple")
     .success(background.in_session(reverse, models), [sampler, steps, eta, seed, n, label, guidance, run],
              [view, status, run], api_name="reverse", concurrency_limit=2, show_progress="minimal",
              validator=checks.pre_queue(partial(check_call, models)), trigger_mode="multiple")
     .then(partial(readings, models), [read_on, run], read, api_visibility="private", show_progress="hidden"))
    run_btn.click(lambda: gr.update(value=""), None, read, queue=False, api_visibility="private",
                  show_progress="hidden")  # a new run: the last run's readings go
    read_on.change(partial(readings, models), [read_on, run], read, api_visibility="private",
                   show_progress="hidden")
    stop_btn.click(stop, run, status, api_name="stop", show_progress="hidden")
    for name, c in (("sampler", sampler), ("steps", steps), ("eta", eta), ("seed", seed), ("n", n),
                    ("class", label), ("guidance", guidance)):
        links.param("diffusion", name, c)
    links.opening(partial(finished, models), [sampler, steps, eta, seed, n, label, guidance], [view, status, run],
                  later=True)

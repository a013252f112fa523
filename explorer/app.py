"""build_demo(models) -> gr.Blocks: one tab per lab, each built by its package in explorer/labs."""

from __future__ import annotations

import inspect

import gradio as gr

from explorer import checks, filmstrip, render
from explorer.labs import diffusion, kl, plane, vae
from explorer.links import Links
from explorer.models import Models

TITLE = "Generative Explorer"
HEADER = """# Generative Explorer
See how a variational autoencoder and a diffusion model work, on models trained on MNIST by this project's
own `train` package. Every picture below is computed live from the shipped checkpoints."""


class Blocks(gr.Blocks):
    """gr.Blocks that refuses a call with the wrong number of values, naming the endpoint and its parameters. Gradio's
    own check answers too few with a paragraph about JavaScript functions that lists every value received (a 1 MB
    string included), and ignores too many."""

    def validate_inputs(self, block_fn, inputs: list) -> None:
        # Clients may send a placeholder (null) for each gr.State input (gradio_client does) or leave them out
        # (Gradio's REST route then adds nulls): either way the count reaching here is that of all inputs. A value
        # where a placeholder goes is one value too many: Gradio would drop it silently for the session's own.
        if len(inputs) == len(block_fn.inputs) and all(
                value is None for value, b in zip(inputs, block_fn.inputs, strict=True) if isinstance(b, gr.State)):
            return
        try:  # the API's parameter names are the handler's (as `view_api` shows them), else the controls' labels
            sig = [p.name for p in inspect.signature(block_fn.fn).parameters.values()
                   if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            sig = []
        if len(sig) < len(block_fn.inputs):  # (the inputs fill the first parameters; a gr.Progress may follow)
            sig = [getattr(b, "label", None) or type(b).__name__ for b in block_fn.inputs]
        params = [n for n, b in zip(sig, block_fn.inputs, strict=False) if not isinstance(b, gr.State)]
        name = f"/{block_fn.api_name}" if block_fn.api_name else "This event"
        sent = len(inputs) - sum(v is None for v, b in zip(inputs, block_fn.inputs, strict=False)
                                 if isinstance(b, gr.State)) if len(inputs) == len(block_fn.inputs) else len(inputs)
        listed = f"({', '.join(params)})" if params else "(none)"
        raise checks.InputError(f"{name} takes {len(params)} value{'s' * (len(params) != 1)} {listed}, not {sent}.")

    async def process_api(self, block_fn, inputs: list, *args, **kwargs) -> dict:
        """Gradio's, with a bad value met by a `checks.pre_queue` validator (or by the checks below, which run in it
        too) answered as a refused validation, which Gradio sends before queueing as HTTP 422 naming the parameter;
        any other error there would reach an API client as a bare "400 Bad Request"."""
        if not getattr(block_fn, "is_validator_function", False):
            return await super().process_api(block_fn, inputs, *args, **kwargs)
        try:
            # the count named with the endpoint's own name and parameters, not the validator's (which has neither)
            self.validate_inputs(next(f for f in self.fns.values() if f.validator is block_fn.fn), inputs)
            return await super().process_api(block_fn, inputs, *args, **kwargs)
        except checks.InputError as e:
            return {"data": checks.refusal(block_fn.fn, block_fn.inputs, inputs, e.message)}

    async def preprocess_data(self, block_fn, inputs: list, state, explicit_call: bool = False):
        """Gradio's, with a value that is not a file where a file goes (an upload, a sketch) named as the user's
        mistake: Gradio's own check of its shape raises before any handler, with a stack trace in the log."""
        import pydantic

        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except pydantic.ValidationError:
            for block, value in zip(block_fn.inputs, inputs, strict=False):
                model = getattr(block, "data_model", None)
                try:
                    if model is not None and value is not None:
                        model.model_validate(value, context={"validate_meta": True})
                except pydantic.ValidationError:
                    what = ("a sketch: {background, layers, composite}, each a file as gradio_client's handle_file() "
                            "sends it" if isinstance(block, gr.ImageEditor) else
                            "a file, as gradio_client's handle_file(path) sends it")
                    control = getattr(block, "label", None) or type(block).__name__
                    raise checks.InputError(f"The value for '{control}' must be {what}; got {checks.shown(value)}.") \
                        from None
            raise


def build_demo(models: Models, links: Links | None = None) -> gr.Blocks:
    """The app. `links`: the registry of linked controls and first views to fill (explorer/links.py; a new one if
    None); `python -m explorer` warms its first views once the app serves."""
    # live plots load plotly.js from the app itself; the reverse-process viewer fetches finished runs' frames
    gr.set_static_paths([render.PLOTLY_JS, filmstrip.folder()])
    links = Links() if links is None else links  # what a link restores, and what every view shows first
    # Gradio's cache (uploads, images it was handed): files older than an hour are removed every ten minutes, and all
    # of them when the app stops
    with Blocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        gr.Markdown(HEADER)
        links.note = gr.Markdown(visible=False, elem_id="ge-link-note", elem_classes="ge-link-note")
        with gr.Tabs(elem_id="labs") as links.top:
            with gr.Tab("VAE", id="vae", elem_id="tab-vae"):
                links.lab("vae", "VAE")
                render.heading("The VAE lab", 2)
                encoded = vae.build(models, links)
            with gr.Tab("KL divergence", id="kl", elem_id="tab-kl"):
                links.lab("kl", "KL divergence")
                render.heading("The KL divergence lab", 2)
                kl.build(models, encoded, links)
            with gr.Tab("Diffusion", id="diffusion", elem_id="tab-diffusion") as diffusion_tab:
                links.lab("diffusion", "Diffusion")
                render.heading("The diffusion lab", 2)
                diffusion.build(models, links)
            with gr.Tab("Diffusion in 2-D", id="plane", elem_id="tab-plane"):
                links.lab("plane", "Diffusion in 2-D")
                render.heading("The 2-D diffusion lab", 2)
                plane.build(models, links)
        render.brush_on_open(diffusion_tab, "diff-sketch")  # its first sub-tab holds a sketchpad
        links.wire(demo)
    return demo


LAUNCH_KW = dict(
    css=render.CSS, js=render.JS, theme=gr.themes.Soft(),
    max_file_size="5mb",  # an image of a digit needs far less; a larger upload is refused before it is written
    enable_monitoring=False,  # no /monitoring route
    # Gradio keeps each session's state and last outputs (about 0.7 MB each: tests/bench/bench_load.py); the least
    # recently active past 300 are dropped (a class of 30 with several tabs each), not Gradio's 10,000 (~7 GB)
    state_session_capacity=300,
)
# The queue: four events at once per function unless it says otherwise, at most 64 waiting (a request beyond is told
# the queue is full), and no direct POST to /gradio_api/run/<name> that would skip it and every concurrency limit
# (queue=False events, the page's drags, still work).
QUEUE_KW = dict(default_concurrency_limit=4, max_size=64, api_open=False)


def app_kwargs(allowed_hosts: list[str] = (), any_host: bool = False, demo: gr.Blocks | None = None,
               errors: dict[str, str] | None = None) -> dict:
    """Gradio's FastAPI app with explorer/guard.py in front: foreign Host names and cross-site requests refused, and
    (given the `demo`) calls to endpoints or events that do not exist answered in one line (`errors`: models.errors,
    for the endpoints of a lab whose model did not load). `any_host`: every Host name served (a share link's),
    cross-site requests still refused."""
    from starlette.middleware import Middleware

    from explorer.guard import EndpointMiddleware, GuardMiddleware

    middleware = [Middleware(GuardMiddleware, allowed_hosts=allowed_hosts, any_host=any_host)]
    if demo is not None:
        middleware.append(Middleware(EndpointMiddleware, blocks=demo, errors=errors))
    return {"middleware": middleware}

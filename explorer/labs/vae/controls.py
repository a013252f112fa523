"""The VAE lab's left column: the model, the decoded view of the sliders' z, the pixel seed, the sliders."""

import json
from functools import partial

import gradio as gr
import torch

from explorer import checks, page, render, served
from explorer.gradio_compat import Dropdown, Number, Slider, event_payload
from explorer.labs.vae import page_decoder
from explorer.labs.vae.common import (
    LATEX,
    MAX_SLIDERS,
    Z_RANGE,
    Cache,
    VaeControls,
    latent,
    sliders_from_z,
)
from explorer.links import Links
from explorer.models import Models

SLIDERS_TEXT = r"""
**Decoding while you drag.** The sliders are $z$. The left image is the decoder's mean $f_\theta(z)$: every pixel's
probability of being on. The right image is one draw $x \sim \mathcal B(f_\theta(z))$ with the seed below: the same
$z$ with another seed gives another binary image, because the model's randomness lives in the pixels too.
"""


@torch.inference_mode()
def decode(models: Models, name: str, seed, *z_values) -> str:
    """Sliders -> the decoder's mean f_θ(z) and one Bernoulli sample, as HTML (the server's rendering)."""
    vae = models.vae(name)
    seed = checks.seed(seed)
    z = latent(vae, z_values)
    probs = vae.decode_probs(z[None])[0]
    x = page_decoder.bernoulli_sample(probs, seed)  # the page's uniforms: its sample while dragging is this one
    shown = ", ".join(f"{v:.2f}" for v in z[:4].tolist()) + (", …" if z.numel() > 4 else "")
    return render.row(render.img_tag(probs, size=150, caption="mean f<sub>θ</sub>(z)",
                                     alt=models.alt(f"the decoded digit: pixel probabilities f(z) for z = ({shown}), "
                                                    f"{name} VAE", probs)),
                      render.img_tag(x, size=150, caption=f"sample x ~ B(f<sub>θ</sub>(z)), seed {seed}",
                                     alt=models.alt("a binary digit drawn pixel by pixel from those "
                                                    f"probabilities, seed {seed}", x)))


def decoded_value(models: Models, name: str, seed, z: list, note: str = "", seq: int | None = None) -> str:
    """The decoded view's value: the server's rendering for (model, seed, z), and what it was asked, so that the
    page can tell whether it still matches what the page shows (explorer/static/decoder.js); `seq`: the number of
    the page's question it answers (static/lib/settle.js), None for a value the server sends on its own."""
    return json.dumps({"model": name, "seed": seed, "z": [float(v) for v in z], "error": bool(note),
                       "html": note + decode(models, name, seed, *z), "seq": seq})


def settle(models: Models, data: dict) -> str:
    """The page has decoded a drag and asks the server: its answer replaces the page's. `data` is what the page
    sent ({"model", "seed", "z", "last"}); a bad value gets its message above the images of `last`, the last z the
    page could draw (zero if it is not a valid z either)."""
    data = data if isinstance(data, dict) else {}
    name = data.get("model")
    seq = data.get("seq") if isinstance(data.get("seq"), int) and not isinstance(data.get("seq"), bool) else None
    D = models.vae(name).latent_dim
    try:
        last = [float(v) for v in latent(models.vae(name), data.get("last"), exact=True).tolist()]
    except (checks.InputError, TypeError, ValueError):
        last = [0.0] * D
    try:
        seed = checks.seed(data.get("seed"), "Pixel seed")
        latent(models.vae(name), data.get("z"))  # checks every value
        z = [float(v) for v in data["z"][:D]]  # as the page sent them (float32 would not round-trip)
        return decoded_value(models, name, seed, z, seq=seq)
    except checks.InputError as e:  # shown in place: the page's drag events show no toast
        seed = data.get("seed") if isinstance(data.get("seed"), int) and 0 <= data["seed"] <= checks.MAX_SEED else 0
        return decoded_value(models, name, seed, last, checks.error_note(e.message + " The images show the last "
                                                                          "valid z."), seq)


def decode_all(models: Models, name: str, seed, *z_values) -> str:
    """All sliders at once (after they were set programmatically): the decoded view."""
    D = models.vae(name).latent_dim
    return decoded_value(models, name, checks.seed(seed, "Pixel seed"), [float(v) for v in z_values[:D]])


def _on_model(models: Models, name: str) -> list:
    D = models.vae(name).latent_dim
    return [gr.update(visible=d < D, value=0.0) for d in range(MAX_SLIDERS)] + [gr.Accordion(visible=D > 2)]


def _dims(models: Models, name: str) -> list:
    """The sliders of model `name` shown, their values kept (a link sets both)."""
    D = models.vae(name).latent_dim
    return [gr.update(visible=d < D) for d in range(MAX_SLIDERS)] + [gr.Accordion(visible=D > 2)]


def build(models: Models, cache: Cache, links: Links) -> VaeControls:
    """Lay out the left column; the caller wires it (`wire`) once the sub-labs exist."""
    first = next(iter(models.vaes))
    D0 = models.vaes[first].latent_dim
    model = Dropdown(list(models.vaes), value=first, label="model", elem_id="vae-model")
    decoders = page_decoder.publish(models, served.folder())  # the page decodes while you drag
    decoded = gr.HTML(decoded_value(models, first, 0, [0.0] * D0), elem_id="vae-decoded",
                      html_template=(f"<div class='ge-dec' data-z-range='{Z_RANGE:g}' data-sliders='{MAX_SLIDERS}' "
                                     f"data-decoders='{page_decoder.attributes(decoders)}'>"
                                     + page.static("decoder.html") + "</div>"),
                      js_on_load=page.mount("decoder.js", ("settle",)))

    def z_slider(k: int) -> gr.Slider:
        return Slider(-Z_RANGE, Z_RANGE, value=0.0, step=0.01, label=f"z{k + 1}", min_width=140,
                      visible=k < D0, elem_id=f"vae-z{k + 1}")

    sliders = [z_slider(0), z_slider(1)]  # full width, under the picture they drive: easy to drag, both in view
    with gr.Row():
        seed = Number(0, label="pixel seed", minimum=0, step=1, elem_id="vae-seed")
        zero = gr.Button("z = 0", size="sm")
        rand = gr.Button("random z", size="sm")
    with gr.Accordion(f"z3 … z{MAX_SLIDERS}", open=True, visible=D0 > 2) as more_dims:
        for d in range(2, MAX_SLIDERS, 2):  # two per row keeps a 32-D latent within reach
            with gr.Row(equal_height=True):
                sliders += [z_slider(d), z_slider(d + 1)]
    gr.Markdown(SLIDERS_TEXT, latex_delimiters=LATEX)
    links.param("vae", "model", model)
    links.param("vae", "seed", seed)
    for k, s in enumerate(sliders):
        links.param("vae", f"z{k + 1}", s)
    return VaeControls(models, cache, model, decoded, seed, sliders, more_dims, zero, rand, gr.State(None))


def moved(ctl: VaeControls, name: str, seed, z: torch.Tensor) -> list:
    """The sliders set programmatically to z (D,), in one request: the sliders and the decoded view (`outputs`).
    The latent map's star follows the sliders in the page (static/events/star.js)."""
    values = sliders_from_z(z)
    zs = [float(v) for v in values[: z.shape[0]]]
    return [*values, decoded_value(ctl.models, name, checks.seed(seed, "Pixel seed"), zs)]


def outputs(ctl: VaeControls) -> list:
    """What `moved` returns values for."""
    return [*ctl.sliders, ctl.decoded]


def wire(ctl: VaeControls):
    """The left column's events: while a slider is dragged the page decodes (static/decoder.js) and then asks
    the server once (`settle`), the pixel seed is asked the same way, z = 0 and random z set the sliders, and a
    model switch resets the sliders and redecodes. Returns the model switch's event, for the lab to chain the views
    that depend on the model."""
    models = ctl.models
    for s in ctl.sliders:  # the page decodes while you drag (static/decoder.js hears the sliders' own input events)
        s.change(None, ctl.sliders, None, js=page.static("events/star.js"))  # and the map's star follows: no request

    def on_settle(evt: gr.EventData) -> str:  # Gradio finds EventData by type hint
        return settle(models, event_payload(evt))  # the custom event's payload, as Gradio documents it

    # one question at a time per page (static/lib/settle.js), each run with its own payload
    ctl.decoded.settle(on_settle, None, ctl.decoded, trigger_mode="multiple", show_progress="hidden",
                       api_visibility="private")
    # the pixel seed is asked through `settle` too (the page's one question at a time): a second handler of its
    # own raced the drag's answer, and whichever came last was shown
    sync = partial(decode_all, models)

    def decode_z(model: str, seed: int, z: list[float]) -> str:
        """The decoder's mean f_θ(z) and one Bernoulli sample for a latent z of the model's size, as HTML."""
        return decode(models, model, seed, *latent(models.vae(model), z, exact=True).tolist())

    gr.api(decode_z, api_name="decode")

    def to_zero(name, seed):
        return moved(ctl, name, seed, torch.zeros(models.vae(name).latent_dim))

    def to_random(name, seed):  # a fresh z each click, from torch's global generator
        return moved(ctl, name, seed, torch.randn(models.vae(name).latent_dim))

    ctl.zero.click(to_zero, [ctl.model, ctl.seed], outputs(ctl), show_progress="hidden", api_visibility="private")
    ctl.rand.click(to_random, [ctl.model, ctl.seed], outputs(ctl), show_progress="hidden", api_visibility="private")
    # .input: the user's choice resets the sliders; a link that sets the model keeps its own z (`opening` below)
    return (ctl.model.input(partial(_on_model, models), [ctl.model], [*ctl.sliders, ctl.more_dims],
                            show_progress="hidden", api_visibility="private")
            .then(sync, [ctl.model, ctl.seed, *ctl.sliders], ctl.decoded, show_progress="hidden",
                  api_visibility="private"))


def opening(ctl: VaeControls, links: Links, then: list) -> None:
    """What the lab shows as a page opens, for the controls a link set (or the defaults): the model's sliders and
    their decoded view, then `then`'s (function, inputs, outputs), the other views that depend on the model."""
    first = (partial(decode_all, ctl.models), [ctl.model, ctl.seed, *ctl.sliders], [ctl.decoded])
    links.opening(partial(_dims, ctl.models), [ctl.model], [*ctl.sliders, ctl.more_dims], then=[first, *then])

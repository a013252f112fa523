"""Interpolation between the encoder means of two test digits: a straight line and a great circle."""

from functools import partial

import gradio as gr
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Slider
from explorer.labs.vae.common import (
    VaeControls,
)
from explorer.links import Links
from explorer.models import Models
from train.models.vae import slerp


@torch.inference_mode()
def interpolate(models: Models, name: str, a, b, steps) -> str:
    """Decode the straight line and the great circle between the encoder means of two test digits."""
    vae = models.vae(name)
    ia, ib = models.test_index(a), models.test_index(b)
    steps = checks.number("Steps", steps, 3, 24, integer=True)
    d = models.test_digits()
    mu = vae.encode(d.x[torch.tensor([ia, ib])]).base_dist.loc  # (2, D)
    t = torch.linspace(0, 1, steps)
    lin = (1 - t[:, None]) * mu[0] + t[:, None] * mu[1]
    sph = slerp(mu[0], mu[1], t)
    out = []
    for title, z in (("linear: (1 − t)·μ_a + t·μ_b", lin), ("spherical (slerp)", sph)):
        norms = ", ".join(f"{v:.1f}" for v in z.norm(dim=1)[:: max(1, steps // 6)])
        images = vae.decode_probs(z)
        caption = f"{title}; ‖z‖ along the path: {norms}"
        out.append(render.grid_tag(images, steps, cell=48, caption=caption,
                                   alt=models.alt(f"{steps} digits decoded along the {title.split(':')[0]} path",
                                                  images)))
    return ("<div>" + "".join(out) +
            f"<p class='ge-note'>from test #{ia} (a {int(d.labels[ia])}) "
            f"to test #{ib} (a {int(d.labels[ib])})</p></div>")


def build(ctl: VaeControls, links: Links) -> None:
    with gr.Row():
        a = Number(3, label="from test digit", minimum=0, step=1, elem_id="vae-interp-from")
        b = Number(2, label="to test digit", minimum=0, step=1, elem_id="vae-interp-to")
        steps = Slider(3, 24, value=10, step=1, label="steps", elem_id="vae-interp-steps")
        btn = gr.Button("Interpolate", variant="primary")
    out = gr.HTML(elem_id="vae-interp")
    render.mark_stale([ctl.model, a, b, steps], ["vae-interp"])
    render.clear_stale(btn.click(partial(interpolate, ctl.models), [ctl.model, a, b, steps], out,
                                 api_name="interpolate"), ["vae-interp"])
    last = max(len(ctl.models.digits.x) - 1, 0) if ctl.models.digits is not None else 0
    links.param("vae", "from", a, hi=last)
    links.param("vae", "to", b, hi=last)
    links.param("vae", "steps", steps)
    links.opening(partial(interpolate, ctl.models), [ctl.model, a, b, steps], [out])
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown("Decode the path between the encoder means μ of two test digits: a straight line, and a "
                "spherical path (slerp) whose direction turns along a great circle while ‖z‖ moves evenly from "
                "‖μ_a‖ to ‖μ_b‖, so it does not cut through the low-norm middle that the straight line crosses "
                "(unless the two means point in opposite directions: then there is no great circle to follow, "
                "and it takes the straight line). "
                "Neither keeps ‖z‖ at the typical radius of a draw from N(0, I), about √D (5.66 for D = 32): "
                "the encoder means sit inside it, and the captions give ‖z‖ along each path.")

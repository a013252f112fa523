"""The spectrum: the radially averaged power spectra of the digit, of z_t, of the network's x̂_0 and ε̂ at the chosen t,
against the noise's flat spectrum, with the frequency where the noise overtakes the signal marked; and, on request,
generated samples' mean spectrum against real digits'. The maths: train/spectrum.py."""

import math
from functools import lru_cache, partial

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.diffusion.common import LATEX, DiffusionControls
from explorer.links import Links
from train.diffusion import to_model_range
from train.spectrum import crossover, radial_power

SAMPLES = 16  # generated samples (DDIM-50, unconditional) against as many real test digits

TEXT = r"""
**What noise does to frequencies.** Each curve is a power spectrum: how much of the image's energy sits at each
spatial frequency $k$ (cycles across the 28-pixel digit, averaged over all directions). White noise has the same
power at every $k$, a flat line at $1-\bar\alpha_t$ in $z_t=\sqrt{\bar\alpha_t}\,x+\sqrt{1-\bar\alpha_t}\,\varepsilon$;
the digit's signal is its own spectrum scaled by $\bar\alpha_t$, and like every natural image it has far more power
at low $k$ (strokes, overall shape) than at high $k$ (edges). So as $t$ grows the noise drowns the high frequencies
first, and the marked $k^*$, where the two meet, slides down to the coarsest scale. Run backwards, the reverse
process settles coarse structure first and fine detail last: Dieleman (2024) calls it *spectral autoregression*.
Falck et al. (2025) read the same picture as a side effect of white noise rather than a virtue: high frequencies are
noised earlier (their signal-to-noise ratio $\bar\alpha_t P_x(k)/(1-\bar\alpha_t)$ falls first), their reverse steps
are less Gaussian than the sampler assumes, and a forward process that noises every frequency at the same rate
generates as well on ordinary images. Watch $\hat x_0$ (clipped to $[-1, 1]$, as the samplers use it): at moderate
$t$, a few hundred steps, its power above $k^*$ falls below the digit's, because the network has little to go on
there and guesses a smoother, more average digit; near $t=T$, where $z_t$ is almost pure noise, even the clipped guess
carries noise-like power at high $k$.
"""


def view(ctl: DiffusionControls, digit, t, seed):
    """The spectra of the chosen digit at step t (ε drawn with `seed`)."""
    if digit is None:
        raise checks.InputError("Pick or draw a digit in the Forward process view first.")
    T = ctl.T
    t = checks.number("t", t, 1, T, integer=True)
    seed = checks.seed(seed)
    diff, model = ctl.ddpm.diffusion, ctl.ddpm.eps_model()
    eps = torch.randn(digit.shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        z = diff.q_sample_at(digit, t, eps)
        eps_hat, x0_hat = diff.predict(model, z, t - 1)  # x̂_0 clipped to [−1, 1], as the samplers use it
    sqrt_ab, _, _ = diff.coefficients(t)
    abar = sqrt_ab**2
    k, px = radial_power(digit[0, 0])
    spectra = {name: radial_power(img[0, 0])[1] for name, img in (("z", z), ("x0", x0_hat), ("eps", eps_hat))}
    star = crossover(k, px, abar)
    fig = go.Figure()
    ks = k[1:].tolist()
    lines = [("the digit x", px, "#6b7280", None), ("its signal in z_t: ᾱ_t·P_x", abar * px, "#6b7280", "dot"),
             ("z_t", spectra["z"], "#111827", None), ("x̂_0, the network's guess (clipped)", spectra["x0"], "#2563eb",
                                                      None),
             ("ε̂, the predicted noise", spectra["eps"], "#ea580c", None)]
    for name, p, color, dash in lines:
        fig.add_trace(go.Scatter(x=ks, y=p[1:].tolist(), name=name, mode="lines+markers", line=dict(color=color,
                                 dash=dash), marker=dict(size=4), hovertemplate="k = %{x}: %{y:.3g}"))
    fig.add_trace(go.Scatter(x=[ks[0], ks[-1]], y=[1 - abar] * 2, name="the noise in z_t: 1 − ᾱ_t (flat)",
                             mode="lines", line=dict(color="#ea580c", dash="dash")))
    if star is None:
        title = f"t = {t}: the signal is above the noise at every frequency"
    elif abar * float(px[1]) <= 1 - abar:
        title = f"t = {t}: the noise is above the signal at every frequency k ≥ 1"
    else:
        title = f"t = {t}: the noise overtakes the signal above k* ≈ {star:.1f} cycles per image"
    if star:  # (a trace, not a shape: a shape's x on a log axis is read as log10)
        lo, hi = float(min(p[1:].min() for _, p, *_ in lines)), float(max(p[1:].max() for _, p, *_ in lines))
        fig.add_trace(go.Scatter(x=[star, star], y=[lo, hi], mode="lines", name=f"k* ≈ {star:.1f}: signal meets noise",
                                 line=dict(color="#16a34a", width=2), hoverinfo="skip"))
    fig.update_layout(title=title, height=440, xaxis=dict(title="k, cycles per image (log)", type="log",
                                                          range=[0, math.log10(ks[-1]) + 0.02]),
                      yaxis=dict(title="power |F_k|² (log)", type="log", exponentformat="power"),
                      legend=dict(orientation="h", y=-0.22), margin=dict(l=60, r=10, t=50, b=40))
    render.exportable(fig, f"diffusion-spectrum_t={t}_seed={seed}", f"power spectra at t = {t}, ε seed {seed}")
    return fig


@lru_cache(maxsize=2)
def _generated(ddpm) -> torch.Tensor:
    """SAMPLES unconditional DDIM-50 samples, seed 0, (N, 1, 28, 28) in [−1, 1]; drawn once per process."""
    with torch.inference_mode():
        return ddpm.diffusion.sample(ddpm.eps_model(), (SAMPLES, 1, 28, 28), "ddim", steps=50,
                                     generator=torch.Generator().manual_seed(0)).clamp(-1, 1)


def compare(ctl: DiffusionControls):
    """The mean spectrum of SAMPLES generated digits against SAMPLES real test digits."""
    if ctl.models.digits is None:
        raise checks.InputError("Comparing with real digits needs the MNIST test digits (--data-dir).")
    real = to_model_range(ctl.models.digits.grey[:SAMPLES].view(-1, 1, 28, 28))
    k, pr = radial_power(real[:, 0])
    _, pg = radial_power(_generated(ctl.ddpm)[:, 0])
    fig = go.Figure()
    for name, p, color in ((f"{SAMPLES} real test digits", pr.mean(0), "#6b7280"),
                           (f"{SAMPLES} generated (DDIM-50)", pg.mean(0), "#2563eb")):
        fig.add_trace(go.Scatter(x=k[1:].tolist(), y=p[1:].tolist(), name=name, mode="lines+markers",
                                 line=dict(color=color)))
    ratio = (pg.mean(0) / pr.mean(0))[1:]
    fig.update_layout(title=f"mean spectra; generated ÷ real: {ratio.min():.2f} to {ratio.max():.2f} across k",
                      height=340, xaxis=dict(title="k, cycles per image (log)", type="log"),
                      yaxis=dict(title="power (log)", type="log", exponentformat="power"),
                      legend=dict(orientation="h", y=-0.3), margin=dict(l=60, r=10, t=50, b=40))
    return fig


def build(ctl: DiffusionControls, links: Links) -> None:
    with gr.Row(equal_height=False):  # the controls beside the figure: both on the first screen
        with gr.Column(scale=1, min_width=220):
            t = Slider(1, ctl.T, value=300, step=1, label="t", elem_id="diff-spec-t")
            seed = Number(0, label="ε seed", minimum=0, step=1, elem_id="diff-spec-seed")
            btn = gr.Button(f"Generated vs real ({SAMPLES} each)", elem_id="diff-spec-compare")
        with gr.Column(scale=3):
            plot = Plot(label="power spectra", show_label=False, elem_id="diff-spec-plot")
    gen = Plot(label="generated against real", show_label=False, visible=False, elem_id="diff-spec-gen")
    fn = partial(view, ctl)
    t.release(fn, [ctl.digit, t, seed], plot, api_name="spectrum", show_progress="hidden",
              trigger_mode="always_last")
    seed.change(fn, [ctl.digit, t, seed], plot, api_visibility="private", show_progress="hidden",
                trigger_mode="always_last")
    btn.click(partial(compare, ctl), None, gen, api_name="spectrum_generated", concurrency_limit=2).success(
        lambda: gr.update(visible=True), None, gen, api_visibility="private", show_progress="hidden")
    links.param("diffusion", "spec_t", t)
    links.param("diffusion", "spec_seed", seed)
    links.opening(fn, [ctl.digit, t, seed], [plot])
    gr.Markdown(TEXT, latex_delimiters=LATEX)

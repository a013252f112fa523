"""Where importance sampling fails: the 2-D model's exact test log-likelihood (quadrature, `python -m train
evaluate-vae`) against the importance-weighted estimates, and the test digits where the k = 1000 estimate falls
furthest below the truth, each shown with its true posterior, the encoder's Gaussian, the weights' effective
sample size and the estimate as K grows to 10^5."""

from __future__ import annotations

from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.vae.common import LATEX, VaeControls
from explorer.labs.vae.likelihood import _posterior_figure
from explorer.links import Links
from explorer.models import Models
from train.data import digits_sha256
from train.exact_likelihood import BernoulliVAE, effective_sample_size, exact_log_px
from train.models.vae import posterior_grid, running_log_mean_exp

MODEL = "2-D latent"  # the one model whose log p(x) can be had exactly
MAX_K, REPEATS = 100_000, 4

TEXT = r"""
**Where importance sampling fails.** With a 2-D latent, $\log p(x)=\log\int p(x\mid z)\,p(z)\,dz$ needs no bound:
the integral over the plane can be computed, to a hundredth of a nat, for every test digit. Against it, the
importance-weighted estimate $\log\frac1K\sum_k p(x,z_k)/q_\phi(z_k\mid x)$, $z_k\sim q_\phi(z\mid x)$, is below
the truth in expectation (Jensen), by little for most digits and by tens or hundreds of nats for a few. Those are
the digits whose true posterior $p(z\mid x)$ has mass where the encoder's Gaussian has almost none, typically a
second mode: a sample lands there so rarely that the weights $p(x,z)/q(z\mid x)$ there are enormous and never
drawn, the estimate misses that mass, and the weights it does draw are dominated by one or two (an effective
sample size near 1). Importance sampling is only as good as the proposal's coverage of the posterior: more
samples help only once one of them reaches the mode $q$ misses.
"""


def worst(models: Models) -> list[dict]:
    """The card's digits with the largest gap between the estimate and the exact value; [] without a card
    measurement, or when the loaded test digits are not those it was measured on."""
    lk = models.vae_cards.get(MODEL, {}).get("likelihood", {})
    rows = lk.get("worst", {}).get("images", []) if isinstance(lk, dict) else []
    if not rows or models.digits is None or lk.get("test_set_sha256") != _sha(models):
        return []
    return [r for r in rows if isinstance(r, dict) and 0 <= r.get("index", -1) < len(models.digits.x)]


def _sha(models: Models) -> str:
    """The loaded test digits' fingerprint, computed once per set of digits."""
    key = id(models.digits)
    if key not in _SHAS:
        _SHAS[key] = digits_sha256(models.digits.x)
    return _SHAS[key]


_SHAS: dict[int, str] = {}


def table(models: Models) -> str:
    """The card's figures for each model: exact where there is one, and each estimate named as the bound it is."""
    lines = ["| model | −log p(x), nats (mean over the test images ± s.e.) | what it is |", "|---|---|---|"]
    for name in models.vaes:
        lk = models.vae_cards.get(name, {}).get("likelihood")
        if not isinstance(lk, dict):
            continue
        if lk.get("exact"):
            e = lk["exact"]
            lines.append(f"| {name} | **{e['nll_nats']:.2f}** ± {e['stderr_over_images']:.2f} | exact (quadrature; "
                         f"each image within {e['tol_nats']:g} nats) |")
        for k, r in sorted(lk.get("iwae", {}).items(), key=lambda kv: int(kv[0])):
            what = "the ELBO (k = 1)" if k == "1" else f"importance-weighted, k = {int(k):,}"
            lines.append(f"| {name} | {r['nll_nats']:.2f} ± {r['stderr_over_images']:.2f} | {what}: an upper "
                         "bound on −log p(x) in expectation |")
    if len(lines) == 2:
        return ""
    n = next((lk.get("test_images") for lk in (models.vae_cards.get(m, {}).get("likelihood") for m in models.vaes)
              if isinstance(lk, dict)), None)
    return (f"Measured on the {n:,} binarized test digits (`python -m train evaluate-vae`; the 32-D model has no "
            "exact value, only bounds):\n\n" + "\n".join(lines))


def gallery(models: Models) -> list:
    d = models.digits
    return [render.upscale(render.to_uint8(d.x[r["index"]]), 2) for r in worst(models)] if d is not None else []


def inspect(models: Models, pick, k_max, seed):
    """The chosen digit (its place in the gallery): the estimate against K beside the exact line, its posterior
    under the encoder's Gaussian, and the weights' effective sample size."""
    rows = worst(models)
    if not rows:
        raise checks.InputError("No measured digits: run `python -m train evaluate-vae` for the 2-D model.")
    pick = checks.number("Digit", pick, 0, len(rows) - 1, integer=True)
    k_max = checks.number("K (samples)", k_max, 100, MAX_K, integer=True)
    seed = checks.seed(seed)
    row, vae = rows[pick], models.vae(MODEL)
    x = models.test_digits().x[row["index"]]
    with torch.inference_mode():
        exact = float(exact_log_px(BernoulliVAE(vae), x[None]).log_px[0])
        g = torch.Generator().manual_seed(seed)
        log_w = vae.log_weights(x[None].expand(REPEATS, -1), k_max, "posterior", g).double()  # (R, K)
        grid = posterior_grid(vae, x[None])
    ks = np.unique(np.round(np.logspace(0, np.log10(k_max), 60)).astype(int))
    curves = running_log_mean_exp(log_w)[:, ks - 1].numpy()  # (R, len(ks))
    ess = effective_sample_size(log_w).numpy()  # (R,)
    label = f"test digit #{row['index']}"
    fig = go.Figure()
    for r in range(REPEATS):
        fig.add_trace(go.Scatter(x=ks, y=curves[r], mode="lines", name=f"run {r + 1}", line=dict(width=1.5)))
    fig.add_hline(y=exact, line=dict(color="black", dash="dash"), annotation_text=f"exact log p(x) = {exact:.2f}")
    fig.update_layout(title=f"{label}: the estimate against K", height=380,
                      xaxis=dict(type="log", title="K, samples from q(z|x)"), yaxis=dict(title="nats"),
                      margin=dict(l=60, r=10, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    name = render.file_name("", digit=row["index"], K=k_max, seed=seed).lstrip("_")
    render.exportable(fig, f"vae-is-failure_{name}", f"importance sampling against K for {label} (2-D VAE)")
    post = _posterior_figure(vae, x, grid)
    render.exportable(post, f"vae-is-posterior_{name}", f"true posterior of {label} and the encoder's Gaussian")
    final = curves[:, -1]
    card = (f"The card's k = 1,000 estimate was {row['iwae_log_px']:.2f} (effective sample size {row['ess']:.1f})."
            if abs(row["exact_log_px"] - exact) < 0.05 else
            f"(The card says the exact value is {row['exact_log_px']:.2f}: this model is not the one `python -m "
            "train evaluate-vae` measured.)")
    md = (f"**{label}**: exact log p(x) = **{exact:.2f}** nats. At K = {k_max:,} the {REPEATS} runs estimate "
          f"{', '.join(f'{v:.2f}' for v in final)}: **{exact - final.mean():.2f} nats below** on average, with "
          f"effective sample sizes {', '.join(f'{v:.1f}' for v in ess)} of {k_max:,} (Kish: (Σw)²/Σw²). {card}")
    return fig, post, md


def build(ctl: VaeControls, links: Links) -> None:
    models = ctl.models
    if MODEL not in models.vaes:
        return
    rows = worst(models)
    if not rows:
        gr.Markdown(table(models), elem_id="vae-fail-table")
        gr.Markdown("ℹ️ No gallery: the 2-D model's card holds no measured digits (`python -m train evaluate-vae "
                    "--vae checkpoints/vae_2d.safetensors` finds them), or they were measured on other test digits "
                    "than those loaded here (MNIST's, with `--data-dir`).", elem_id="vae-fail-none")
        gr.Markdown(TEXT, latex_delimiters=LATEX)
        return
    k_card = models.vae_cards[MODEL]["likelihood"]["worst"].get("k", 1000)
    # the gallery and its figures first, the card's table under them (the first screen is the instrument)
    pics = render.digit_picker(
        gallery(models), f"The {len(rows)} test digits where the k = {k_card:,} estimate is furthest below the "
                         "exact log p(x), worst first: click one",
        [f"test digit #{r['index']} (worst {i + 1})" for i, r in enumerate(rows)], "vae-fail-gallery")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=200):
            pick = Number(0, label=f"digit in the gallery (0–{len(rows) - 1})", precision=0, minimum=0,
                          maximum=len(rows) - 1, elem_id="vae-fail-pick")
            k = Slider(100, MAX_K, value=20_000, step=100, label="K, largest sample count", elem_id="vae-fail-k")
            seed = Number(0, label="seed", minimum=0, step=1, elem_id="vae-fail-seed")
        with gr.Column(scale=4):
            with gr.Row():
                plot = Plot(label="estimate against K", show_label=False, elem_id="vae-fail-plot")
                post = Plot(label="true posterior", show_label=False, elem_id="vae-fail-post")
    md = gr.Markdown(elem_id="vae-fail-md")
    gr.Markdown(table(models), elem_id="vae-fail-table")

    run = partial(inspect, models)
    pics.select(render.picked, None, pick, show_progress="hidden", api_visibility="private")  # needs a click
    gr.on([pick.change, k.release, seed.change], run, [pick, k, seed], [plot, post, md], api_name="is_failure")
    links.param("vae", "fail", pick, 0, len(rows) - 1, integer=True)
    links.param("vae", "fail_k", k)
    links.param("vae", "fail_seed", seed)
    links.opening(run, [pick, k, seed], [plot, post, md], later=True)
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(TEXT, latex_delimiters=LATEX)

"""β and posterior collapse: the β grid of VAEs (train/vae_grid.py), each trained on E_q[log p(x|z)] − β·KL and
scored on the same test digits. Per-dimension KL and active units, the rate–distortion plane, the latent map and
decoded manifold of a β beside β = 1, and (2-D) the exact log p(x) beside the ELBO and the IWAE bound. Every number
is the checkpoint card's (train/vae_metrics.py, train/evaluate_vae.py); the maps are drawn live."""

from functools import partial

import gradio as gr
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from explorer import checks, render
from explorer.gradio_compat import Plot, Radio
from explorer.labs.vae.common import LATEX, VaeControls
from explorer.labs.vae.latent_map import DIGIT_COLORS
from explorer.links import Links
from explorer.models import BETA_COMMAND, Models
from explorer.vae_maths import latent_plane, manifold

MAP_DIGITS = 2000  # test digits on each latent map
SIDE = 10  # manifold cells per side

TEXT = r"""
**β and posterior collapse.** A β-VAE (Higgins et al. 2017) trains on $\mathbb E_q[\log p(x\mid z)] - \beta\,
\mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z))$; β = 1 is the ELBO. Write the two terms as the **rate**
$R=\mathbb E_x\,\mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z))$, the nats the code spends per digit, and the **distortion**
$D=-\mathbb E_x\,\mathbb E_q\log p(x\mid z)$, what the code leaves unexplained (Alemi et al. 2018). Training
minimizes $D+\beta R$, so a larger β buys a cheaper code with more distortion, and the ELBO $=-(R+D)$ is the same all
along each dashed line $R+D=c$. As β grows, latent dimensions switch off one by one: their $q(z_d\mid x)$ becomes
the prior for every digit, their KL drops to 0, and the encoder's mean stops moving with the digit (a dimension is
counted *active* when the variance of $\mathbb E_q[z_d]$ over the digits exceeds 0.01, Burda et al. 2016). Pushed
far enough the code carries almost nothing and the decoder draws an average digit: posterior collapse. A β that
gives a tidier map is not a better model: compare the likelihoods in the table, where the 2-D models' $\log p(x)$
is exact.
"""


def _scores(card: dict) -> dict:
    """The card's numbers: R, D, KL per dimension, active units, and the likelihood run's ELBO, IWAE and exact."""
    rd = card.get("metrics", {}).get("rate_distortion", {})
    lik = next((v for k, v in card.items() if k.startswith("likelihood")), {})
    iwae = lik.get("iwae", {})
    top = max(iwae, key=int) if iwae else None
    return {"R": rd.get("rate_nats"), "D": rd.get("distortion_nats"), "kl": rd.get("kl_per_dim_nats", []),
            "active": rd.get("active_units"), "elbo": -lik["elbo"]["nll_nats"] if "elbo" in lik else None,
            "iwae": -iwae[top]["nll_nats"] if top else None, "k": top,
            "exact": -lik["exact"]["nll_nats"] if lik.get("exact") else None, "n": lik.get("test_images")}


def betas(models: Models, latent: int) -> list[str]:
    return [f"{b:g}" for d, b in sorted(models.beta_vaes) if d == latent]


def show(models: Models, latent, beta):
    """The figures and the table for the grid's model (latent, β) beside (latent, 1)."""
    sizes = sorted({d for d, _ in models.beta_vaes})
    if not sizes:
        raise checks.InputError(f"No β grid is loaded; train it with `{BETA_COMMAND}`.")
    latent = int(checks.choice("Latent size", str(latent), [str(d) for d in sizes]))
    beta = float(checks.choice("β", str(beta), betas(models, latent)))
    ref = 1.0 if (latent, 1.0) in models.beta_vaes else beta
    picked, base = _scores(models.beta_cards[latent, beta]), _scores(models.beta_cards[latent, ref])
    planes = _planes(models, latent, (beta, ref))
    return (_kl_bars(picked, base, beta, ref, latent), _rd_plane(models, latent, beta), _maps(models, latent, planes),
            _manifolds(models, latent, planes), _table(picked, base, beta, ref))


def choices(models: Models, latent) -> dict:
    """The β radio's choices for a latent size (β = 1 selected)."""
    sizes = [str(d) for d in sorted({d for d, _ in models.beta_vaes})]
    latent = int(checks.choice("Latent size", str(latent), sizes))
    vals = betas(models, latent)
    return gr.update(choices=vals, value="1" if "1" in vals else vals[0])


def _kl_bars(picked: dict, base: dict, beta: float, ref: float, latent: int) -> go.Figure:
    fig = go.Figure()
    for s, b, color in ((base, ref, "#9ca3af"), (picked, beta, "#2563eb")):
        kl = sorted(s["kl"], reverse=True)
        fig.add_trace(go.Bar(x=list(range(1, len(kl) + 1)), y=kl, name=f"β = {b:g}: {s['active']} of {latent} "
                             "active", marker_color=color, hovertemplate="%{y:.3f} nats"))
    fig.update_layout(barmode="group", height=300, title="KL per dimension, largest first",
                      xaxis=dict(title="dimension, by its KL", dtick=1), yaxis=dict(title="nats"),
                      legend=dict(orientation="h", y=-0.3), margin=dict(l=50, r=10, t=45, b=40))
    render.exportable(fig, f"vae-beta-kl_D={latent}_beta={beta:g}", f"KL per dimension, {latent}-D, β = {beta:g}")
    return fig


def _rd_plane(models: Models, latent: int, beta: float) -> go.Figure:
    pts = [(b, _scores(c)) for (d, b), c in sorted(models.beta_cards.items()) if d == latent]
    pts = [(b, s) for b, s in pts if s["R"] is not None]
    fig = go.Figure()
    if pts:
        lo = min(s["R"] + s["D"] for _, s in pts)
        hi = max(s["R"] + s["D"] for _, s in pts)
        rmax = max(s["R"] for _, s in pts) * 1.15 + 1
        for c in (lo, hi) if hi - lo > 0.05 else (lo,):  # lines of equal ELBO = −c through the best and worst
            fig.add_trace(go.Scatter(x=[0, rmax], y=[c, c - rmax], mode="lines", showlegend=False,
                                     line=dict(color="#9ca3af", dash="dash", width=1),
                                     hovertemplate=f"R + D = {c:.2f}: ELBO = {-c:.2f}<extra></extra>"))
            fig.add_annotation(x=0, y=c, text=f"ELBO {-c:.1f}", showarrow=False, xanchor="left",
                               yanchor="bottom" if c == hi else "top", font=dict(size=10, color="#6b7280"))
        fig.add_trace(go.Scatter(x=[s["R"] for _, s in pts], y=[s["D"] for _, s in pts], mode="markers+text",
                                 text=[f"β={b:g}" for b, _ in pts], textposition="top right", name="the grid",
                                 marker=dict(size=[16 if b == beta else 9 for b, _ in pts],
                                             color=["#2563eb" if b == beta else "#6b7280" for b, _ in pts]),
                                 hovertemplate="R %{x:.2f}, D %{y:.2f} nats"))
    fig.update_layout(height=300, title=f"rate–distortion, {latent}-D latent", showlegend=False,
                      xaxis=dict(title="rate R (nats)"), yaxis=dict(title="distortion D (nats)"),
                      margin=dict(l=55, r=10, t=45, b=40))
    return fig


def _planes(models: Models, latent: int, betas_: tuple[float, float]) -> list:
    """For each β, in order (β = 1 may come twice): (β, the map plane, the encoder means of the first MAP_DIGITS test
    digits or None), encoded once for both the map and the manifold."""
    out = []
    for b in betas_:
        vae = models.beta_vaes[latent, b]
        with torch.inference_mode():
            mu = vae.encode(models.digits.x[:MAP_DIGITS]).base_dist.loc if models.digits is not None else None
        out.append((b, latent_plane(vae, mu), mu))
    return out


def _maps(models: Models, latent: int, planes: list) -> go.Figure | None:
    if models.digits is None:
        return None
    kind = "z1, z2" if latent == 2 else "principal axes"
    labels = models.digits.labels[:MAP_DIGITS]
    fig = make_subplots(1, 2, subplot_titles=[f"β = {b:g}" for b, _, _ in planes], horizontal_spacing=0.08)
    for col, (_, plane, mu) in enumerate(planes, start=1):
        uv = plane.to_uv(mu)
        for c in range(10):
            sel = labels == c
            fig.add_trace(go.Scattergl(x=uv[sel, 0].numpy(), y=uv[sel, 1].numpy(), mode="markers", name=str(c),
                                       legendgroup=str(c), showlegend=col == 1,
                                       marker=dict(size=3, color=DIGIT_COLORS[c], opacity=0.6)), 1, col)
    fig.update_layout(height=330, title=f"encoder means, {MAP_DIGITS:,} test digits ({kind})",
                      margin=dict(l=40, r=10, t=60, b=30), legend=dict(itemsizing="constant"))
    return fig


def _manifolds(models: Models, latent: int, planes: list) -> str:
    tags = []
    for b, plane, _ in planes:  # (D > 2: the plane of the means' two principal axes, as on the map)
        imgs, _ = manifold(models.beta_vaes[latent, b], plane, SIDE)
        tags.append(render.grid_tag(imgs, SIDE, cell=24, caption=f"decoded manifold, β = {b:g}",
                                    alt=f"the decoded manifold of the {latent}-D β = {b:g} VAE"))
    return render.row(*tags)


def _table(picked: dict, base: dict, beta: float, ref: float) -> str:
    def f(v):
        return "–" if v is None else f"{v:.2f}"

    n = picked["n"] or base["n"]
    rows = [("ELBO", "elbo"), (f"IWAE-{picked['k'] or 'K'} bound", "iwae"), ("exact log p(x)", "exact"),
            ("rate R", "R"), ("distortion D", "D")]
    lines = [f"| {name} | {f(picked[k])} | {f(base[k])} |" for name, k in rows if picked[k] is not None]
    return (f"| nats per digit | β = {beta:g} | β = {ref:g} |\n|---|---|---|\n" + "\n".join(lines)
            + f"\n| active units | {picked['active']} | {base['active']} |\n\nMeans over the first {n:,} test digits "
            "(the cards'). The ELBO is the β = 1 objective whatever β trained the model; the IWAE bound is a lower "
            "bound on log p(x) in expectation; the exact log p(x) (2-D only) is the integral by quadrature.")


def build(ctl: VaeControls, links: Links) -> None:
    models = ctl.models
    if not models.beta_vaes:
        gr.Markdown(f"ℹ️ No β grid is loaded. Train it with `{BETA_COMMAND}` (about an hour on one core).")
        return
    sizes = sorted({d for d, _ in models.beta_vaes})
    with gr.Row(equal_height=False):  # the controls beside the two figures they drive: both on the first screen
        with gr.Column(scale=1, min_width=170):
            latent = Radio([str(d) for d in sizes], value=str(sizes[0]), label="latent size D",
                           elem_id="vae-beta-d")
            first = betas(models, sizes[0])
            beta = Radio(first, value="1" if "1" in first else first[0], label="β", elem_id="vae-beta")
        with gr.Column(scale=2, min_width=260):
            kl = Plot(label="KL per dimension", show_label=False, elem_id="vae-beta-kl")
        with gr.Column(scale=2, min_width=260):
            rd = Plot(label="rate and distortion", show_label=False, elem_id="vae-beta-rd")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            maps = Plot(label="latent maps", show_label=False, elem_id="vae-beta-maps")
        with gr.Column(scale=2, min_width=280):
            table = gr.Markdown(elem_id="vae-beta-table")
            grids = gr.HTML(elem_id="vae-beta-manifolds")
    outs = [kl, rd, maps, grids, table]
    latent.input(partial(choices, models), latent, beta, api_visibility="private").then(
        partial(show, models), [latent, beta], outs, api_visibility="private")
    beta.input(partial(show, models), [latent, beta], outs, api_name="beta_grid")
    links.param("vae", "beta_d", latent)
    links.param("vae", "beta", beta)
    links.opening(partial(show, models), [latent, beta], outs)
    gr.Markdown(TEXT, latex_delimiters=LATEX)

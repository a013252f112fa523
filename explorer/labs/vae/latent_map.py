"""The latent map: the test digits at their encoder means, the sliders' z as a star, the encoded digit's
posterior ellipses, and the decoded manifold beside it. A click on either sets the sliders."""

import math
from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Dropdown
from explorer.labs.vae.common import (
    GRID_CELL_PX,
    LATEX,
    MANIFOLD_SIDE,
    PRINCIPAL,
    Z_RANGE,
    Cache,
    VaeControls,
    latent,
    map_planes,
)
from explorer.labs.vae.controls import moved, outputs
from explorer.models import Models
from explorer.vae_maths import LatentPlane, gaussian_quantiles

DIGIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]

MAP_TEXT = r"""
**The latent map.** Each dot is one test digit placed at its encoder mean $\mu_\phi(x)$, coloured by its label.
The star is the sliders' $z$. The grid beside it decodes $f_\theta(z)$ over a lattice of Gaussian quantiles
(as in Kingma & Welling's Fig. 4). For the 2-D model, whose plane is the whole latent space, that makes the grid's
cells hold equal prior probability. For the 32-D model the grid lies in a plane: the encoder means' two leading
principal axes through their centre, one standard deviation of the means per unit, so its cells hold equal shares of
a Gaussian fitted to the means along those axes, not of the prior.
**Click a dot on the map or a cell of the grid** to move the sliders there.

For the 32-D model the map is a projection: the star is the shadow of $z$ on the plane, and the line above the map
says how far $z$ itself lies from it. A slider mostly moves $z$ across the principal plane, so the star barely moves;
pick "$z_k$ against the principal axis across it" as the map's plane to watch slider $k$ move the star sideways.
"""


def _map_points_url(models: Models, cache: Cache, name: str, axis: str = PRINCIPAL) -> str | None:
    """The test-set encoder means of model `name`, one trace per digit, as a file the page fetches once
    (render.publish_traces): 10,000 points (~150 kB) that no slider changes."""
    mu = cache.means[name]
    if mu is None:
        return None

    def traces() -> list:
        uv = cache.view(name, axis)[0].to_uv(mu).numpy()
        labels = models.digits.labels.numpy()
        return [go.Scattergl(x=uv[labels == c, 0], y=uv[labels == c, 1], mode="markers", name=str(c),
                             marker=dict(size=3, color=DIGIT_COLORS[c], opacity=0.6),
                             hovertemplate=f"digit {c}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>")
                for c in range(10)]

    return render.publish_traces(traces, "vae-map-" + "".join(c if c.isalnum() else "-" for c in name)
                                 + ("" if axis == PRINCIPAL else f"-{axis}"))


def off_plane_text(plane: LatentPlane, z: torch.Tensor) -> str:
    """The line above the map: for a plane that is not the whole latent space, how far z lies from it (the page
    writes the same sentence while a slider moves: static/events/star.js)."""
    if plane.exact:
        return ""
    r = float((z - plane.center).norm())
    d = float(plane.off_plane(z))
    return (f"<p class='ge-map-off'>A projection: the star is z's shadow on this plane. z lies "
            f"<b>{d:.2f}</b> from the plane, {r:.2f} from the means' centre.</p>")


def at_sliders(models: Models, cache: Cache, name: str, state, axis, *sliders) -> str:
    """`latent_map` with the star at the sliders' z (the first D of them; at 0 while one holds a bad value, whose
    message the decoded view gives)."""
    D = models.vae(name).latent_dim
    try:
        z = latent(models.vae(name), list(sliders[:D]), exact=True).tolist()
    except checks.InputError:
        z = None
    return latent_map(models, cache, name, state, z, axis=axis)


def latent_map(models: Models, cache: Cache, name: str, state, z_values: list | None, template: bool = False,
               axis: str = PRINCIPAL) -> str:
    """The latent map as a `render.live_value`: the test-set encoder means coloured by digit (fetched once by the
    page, see `_map_points_url`), the sliders' z (a list, None for 0) as a star, and the encoded digit's
    posterior ellipses."""
    vae = models.vae(name)
    z = latent(vae, z_values if z_values is not None else [0.0] * vae.latent_dim)
    plane = cache.view(name, axis)[0]
    fig = go.Figure()
    if state is not None and state.model == name:
        m, s = state.mu, state.sigma
        t = torch.linspace(0, 2 * math.pi, 100)
        for k in (1, 2):
            pts = _projected_ellipse(plane, m, s, k, t)
            fig.add_trace(go.Scattergl(
                x=pts[:, 0].numpy(), y=pts[:, 1].numpy(), mode="lines", name=f"q(z|x) {k}σ", hoverinfo="skip",
                line=dict(color="black", width=2 if k == 1 else 1, dash=None if k == 1 else "dot")))
    zz = plane.to_uv(z).numpy()
    # WebGL like the points: Plotly draws every WebGL trace above every SVG one, which hid an SVG star among them.
    # Its meta carries the plane's projection uv = (z − c)·P, so the page moves it as a slider changes (STAR_JS).
    proj = {"center": [float(f"{v:.6g}") for v in plane.center.tolist()],
            "P": [[float(f"{v:.6g}") for v in row] for row in torch.linalg.pinv(plane.axes).tolist()],
            "axes": [[float(f"{v:.6g}") for v in row] for row in plane.axes.tolist()],  # z = c + u·a₀ + v·a₁
            "grid": [float(f"{v:.6g}") for v in gaussian_quantiles(MANIFOLD_SIDE).tolist()],  # the manifold's u, v
            "exact": plane.exact}
    fig.add_trace(go.Scattergl(x=[zz[0]], y=[zz[1]], mode="markers", name="sliders' z", meta=proj,
                               marker=dict(symbol="star", size=18, color="gold", line=dict(color="black", width=1.5))))
    if plane.exact:
        x_title, y_title, title = "z1", "z2", "test-set encoder means"
    elif axis == PRINCIPAL:
        x_title, y_title, title = "PC1", "PC2", "test-set encoder means, projected on their 2 principal axes"
    else:
        x_title, y_title = f"{axis} − its mean over the test digits", f"the means' principal axis across {axis}"
        title = f"test-set encoder means, projected on {axis} and the principal axis across it"
    fig.update_layout(height=480, margin=dict(l=40, r=10, t=40, b=40), legend=dict(itemsizing="constant"),
                      title=title,
                      xaxis=dict(title=x_title, range=[-4, 4]), yaxis=dict(title=y_title, range=[-4, 4],
                                                                           scaleanchor="x"),
                      clickmode="event")
    render.exportable(fig, render.file_name("vae-latent-map", model=name),
                      f"test-set encoder means of the {name} VAE, coloured by digit; the star is the sliders' z")
    return render.live_value(fig, html=off_plane_text(plane, z), template=template,
                             static_url=_map_points_url(models, cache, name, axis))


def _projected_ellipse(plane: LatentPlane, m: torch.Tensor, s: torch.Tensor, k: int, t: torch.Tensor):
    """k-σ ellipse of q(z|x) mapped into plane coordinates (uv = (z − c)·P, P the pseudo-inverse)."""
    P = torch.linalg.pinv(plane.axes)  # (D, 2)
    cov = P.T @ torch.diag(s**2) @ P  # (2, 2)
    evals, evecs = torch.linalg.eigh(cov)
    circle = torch.stack([t.cos(), t.sin()], -1) * (k * evals.clamp_min(0).sqrt())
    return plane.to_uv(m) + circle @ evecs.T


MANIFOLD_LABEL = "decoded manifold (click a cell)"
MANIFOLD_ALT = ("the decoded manifold: digits decoded on a grid of the latent map's plane; click one to set the "
                "sliders to it")


def manifold_image(models: Models, cache: Cache, name: str, axis: str = PRINCIPAL) -> str:
    """The decoded manifold of the model's map plane, as the value of its render.click_image."""
    return render.click_image_html(cache.view(name, axis)[1][0], MANIFOLD_ALT, MANIFOLD_LABEL)


def manifold_point(models: Models, cache: Cache, name: str, axis, x, y) -> torch.Tensor:
    """The z of the manifold grid's cell under pixel (x, y) of its image."""
    plane, (_, uv) = cache.view(name, axis)
    col = min(max(int(checks.number("x", x, 0, 1e6)) // (render.SIDE * GRID_CELL_PX), 0), MANIFOLD_SIDE - 1)
    row = min(max(int(checks.number("y", y, 0, 1e6)) // (render.SIDE * GRID_CELL_PX), 0), MANIFOLD_SIDE - 1)
    return plane.to_z(uv[row * MANIFOLD_SIDE + col])


def map_point(models: Models, cache: Cache, name: str, u, v, axis: str = PRINCIPAL) -> torch.Tensor:
    """The z of map point (u, v): the plane's coordinates (the latent itself for a 2-D model)."""
    plane = cache.view(name, axis)[0]
    u = checks.number("Map coordinate u", u, -Z_RANGE, Z_RANGE)
    v = checks.number("Map coordinate v", v, -Z_RANGE, Z_RANGE)
    return plane.to_z(torch.tensor([u, v]))


@dataclass(frozen=True)
class MapView:
    """The latent map and the decoded manifold beside it (the lab redraws them when the model or the encoded digit
    changes)."""

    lmap: gr.HTML
    grid: gr.HTML
    axis: gr.Dropdown  # the map's plane (PRINCIPAL or a slider's axis)


def build(ctl: VaeControls) -> MapView:
    models, cache = ctl.models, ctl.cache
    D = max(vae.latent_dim for vae in models.vaes.values())  # every plane any model has (Cache.view checks)
    axis = Dropdown(map_planes(D), value=PRINCIPAL, label="the map's plane",
                    visible=models.vae(ctl.first).latent_dim > 2, elem_id="vae-map-axis")
    with gr.Row():
        with gr.Column(scale=3):
            lmap = render.live_plot(latent_map(models, cache, ctl.first, None, None, template=True),
                                    elem_id="vae-map")
        grid = render.click_image(cache.manifolds[ctl.first][0], MANIFOLD_ALT, MANIFOLD_LABEL, "vae-manifold",
                                  scale=2)

    def on_map_click(name: str, seed, plane: str, evt: gr.EventData) -> list:  # Gradio finds EventData by type hint
        return moved(ctl, name, seed, map_point(models, cache, name, evt.x, evt.y, plane))

    def on_grid_select(name: str, seed, plane: str, evt: gr.SelectData) -> list:
        return moved(ctl, name, seed, manifold_point(models, cache, name, plane, *evt.index))

    lmap.click(on_map_click, [ctl.model, ctl.seed, axis], outputs(ctl), show_progress="hidden",
               api_visibility="private")
    grid.select(on_grid_select, [ctl.model, ctl.seed, axis], outputs(ctl), show_progress="hidden",
                api_visibility="private")

    def map_click(model: str, u: float, v: float, plane: str = PRINCIPAL) -> list[float]:
        """The latent z at point (u, v) of the model's map plane ("pc": the principal axes, "z1" … "zD": a
        slider's axis against the principal axis across it)."""
        return map_point(models, cache, model, u, v, plane).tolist()

    gr.api(map_click, api_name="map_click")
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(MAP_TEXT, latex_delimiters=LATEX)
    return MapView(lmap, grid, axis)


def plane_reset(models: Models, name: str) -> dict:
    """The plane control after the user picked model `name`: the principal plane, shown for a latent of more than
    two dimensions."""
    return gr.update(value=PRINCIPAL, visible=models.vae(name).latent_dim > 2)


def plane_shown(models: Models, name: str) -> dict:
    """The plane control as a page opens on model `name` (a link's plane kept)."""
    return gr.update(visible=models.vae(name).latent_dim > 2)

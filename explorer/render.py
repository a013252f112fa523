"""Turning tensors into what the page shows: crisp upscaled digits, image grids, inline PNGs.

Digits travel as 28×28 PNGs inside <img> tags (a few hundred bytes, no extra file request) and the
browser scales them up with `image-rendering: pixelated`, so pixels stay crisp at any size.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import plotly
import torch
from PIL import Image

from explorer import page, served

SIDE = 28  # MNIST images are 28×28
def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """(..., 784) or (28, 28) intensities in [0, 1] -> (28, 28) uint8 (white digit on black)."""
    a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    a = a.reshape(SIDE, SIDE)
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_data_url(img: torch.Tensor | np.ndarray) -> str:
    """A 28×28 intensity image (or any 2-D uint8 array) as a data: URL holding a PNG."""
    a = img if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 2 else to_uint8(img)
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def digit_picker(images: list[np.ndarray], label: str, names: list[str], elem_id: str) -> gr.HTML:
    """A labelled row of digit buttons whose `.select` gives the clicked one's place (evt.index), like gr.Gallery's;
    the images travel as data: URLs, so the page's config holds no server paths (a gallery's would name its cache
    files). `names[i]` is button i's accessible name."""
    buttons = "".join(
        f'<button type="button" class="ge-pick" data-index="{i}" aria-pressed="false" aria-label="{html.escape(n)}">'
        f'<img src="{png_data_url(img)}" alt="" width="{img.shape[1]}" height="{img.shape[0]}"></button>'
        for i, (img, n) in enumerate(zip(images, names, strict=True)))
    body = (f'<div class="ge-picker" role="group" aria-label="{html.escape(label)}">'
            f'<div class="ge-picker-label">{html.escape(label)}</div>{buttons}</div>')
    return gr.HTML(body, js_on_load=page.mount("picker.js", ("select",)), elem_id=elem_id, padding=False)


def picked(evt: gr.SelectData) -> int:
    """The place of the button a `digit_picker`'s select event came from."""
    return int(evt.index)


def click_image_html(img: np.ndarray, alt: str, label: str) -> str:
    """The value of a `click_image`: the (H, W) uint8 image under its label."""
    return (f'<figure class="ge-click-image"><figcaption>{html.escape(label)}</figcaption>'
            f'<img src="{png_data_url(img)}" alt="{html.escape(alt)}" width="{img.shape[1]}" '
            f'height="{img.shape[0]}"></figure>')


def click_image(img: np.ndarray, alt: str, label: str, elem_id: str, scale: int | None = None) -> gr.HTML:
    """An image whose `.select` gives the clicked pixel as evt.index = [x, y] in the image's pixels, like gr.Image's;
    it travels as a data: URL (a gr.Image's value names its cache file on the server). Update it with
    `click_image_html`."""
    return gr.HTML(click_image_html(img, alt, label), js_on_load=page.mount("click_image.js", ("select",)),
                   elem_id=elem_id, padding=False, min_height=0, scale=scale)


def img_tag(img: torch.Tensor | np.ndarray, size: int = 168, caption: str = "", alt: str = "") -> str:
    """An <img> of a digit, upscaled with crisp pixels, with an optional caption underneath."""
    cap = f'<figcaption>{caption}</figcaption>' if caption else ""
    return (f'<figure class="ge-digit"><img src="{png_data_url(img)}" alt="{html.escape(alt or plain(caption))}" '
            f'width="{size}" height="{size}" style="image-rendering:pixelated">{cap}</figure>')


def grid(images: torch.Tensor, nrow: int, pad: int = 2, value: float = 0.35) -> np.ndarray:
    """(N, 784) or (N, 28, 28) in [0, 1] -> one uint8 grid image of nrow columns, with grey padding."""
    imgs = images.detach().cpu().reshape(-1, SIDE, SIDE).numpy()
    n = imgs.shape[0]
    ncol_rows = (n + nrow - 1) // nrow
    H = ncol_rows * (SIDE + pad) + pad
    W = nrow * (SIDE + pad) + pad
    out = np.full((H, W), value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        y, x = pad + r * (SIDE + pad), pad + c * (SIDE + pad)
        out[y : y + SIDE, x : x + SIDE] = imgs[i]
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def upscale(a: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling: every pixel becomes a factor×factor block."""
    return np.kron(a, np.ones((factor, factor), dtype=a.dtype))


def grid_tag(images: torch.Tensor, nrow: int, cell: int = 56, caption: str = "", export: str = "",
             alt: str = "") -> str:
    """A grid of digits as one crisp <img>. `export`: the file name (no suffix) of its "Download PNG" (static/page.js
    draws it with `caption` underneath); `alt`: its text for a screen reader (default: the caption, without markup)."""
    g = grid(images, nrow)
    scale = cell / SIDE
    w, h = int(g.shape[1] * scale), int(g.shape[0] * scale)
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    attr = f' data-ge-export="{html.escape(export, quote=True)}"' if export else ""
    return (f'<figure class="ge-grid"{attr}><img src="{png_data_url(g)}" width="{w}" height="{h}" '
            f'style="image-rendering:pixelated;max-width:100%;height:auto" alt="{html.escape(alt or plain(caption))}">'
            f'{cap}</figure>')


def plain(text: str) -> str:
    """`text` without its HTML tags ("f<sub>θ</sub>(z)" → "fθ(z)"): for alt text and captions drawn into files."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def file_name(what: str, **params) -> str:
    """An export's file name (no suffix) that says what it shows: file_name("kl-1d", mu_p=0, sigma_p=1.5) is
    'kl-1d_mu_p=0_sigma_p=1.5'. Values are written as in a link; characters a file system may refuse become '-'."""
    def text(k, v):
        if k == "digit" and isinstance(v, str):  # a digit's label: "test digit #35 (a 2)" → 35; a drawing → drawn
            found = re.search(r"#(\d+)", v)
            return found.group(1) if found else "drawn"
        return f"{v:g}" if isinstance(v, float) else str(v)

    parts = [what, *(f"{k}={text(k, v)}" for k, v in params.items())]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", "_".join(parts)).strip("-")[:200]


def exportable(fig, name: str, caption: str):
    """Name a plotly figure's exports: the page's "Download PNG / SVG" (static/page.js) save it as `name`.png/.svg,
    with `caption` (plain text: the parameters) under the plot."""
    meta = dict(fig.layout.meta or {})  # what else the page reads there stays (the schedule's T)
    meta["ge_export"] = {"name": name, "caption": caption}
    fig.layout.meta = meta
    return fig


def row(*figures: str, arrows: bool = False) -> str:
    sep = '<div class="ge-arrow">→</div>' if arrows else ""
    return f'<div class="ge-row">{sep.join(figures)}</div>'


# plotly.js as shipped inside the plotly Python package: served by the app itself, so it works offline
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_HEAD = f'<script src="{served.name("plotly.min.js", PLOTLY_JS)}"></script>'
LIVE_PLOT = "<div class='ge-live-html'></div><div class='ge-live-plot'></div>"  # the numbers above, the figure



def live_value(fig, html: str = "", template: bool = False, static_url: str | None = None,
               params: list | None = None) -> str:
    """The value of a `live_plot`: HTML shown above the figure, and the figure as plotly JSON, without its
    template unless asked (the page keeps the first one it gets). With `static_url` (from `publish_traces`),
    the page draws those traces, fetched once, below the figure's own: large traces that never change then
    travel once, not with every update (Gradio slows down after delivering large values: see
    tests/bench/bench_gradio_floor.py). `params`: the controls' values it was computed for, for a page that
    computes the view itself while they move (`page_plot`) and must tell whether this answer is still current."""
    d = fig.to_plotly_json()
    if not template:
        d["layout"].pop("template", None)
    # the export's name travels beside the figure: a changed layout.meta makes Plotly.react draw the figure anew
    meta = dict(d["layout"].pop("meta", None) or {})
    export = meta.pop("ge_export", None)
    if meta:
        d["layout"]["meta"] = meta
    return plotly.io.json.to_json_plotly({"html": html, "figure": d, "static_url": static_url, "params": params,
                                          "export": export})


def live_note(html: str) -> str:
    """A `live_plot` value that replaces the HTML above the figure and leaves the figure as it is."""
    return json.dumps({"html": html, "figure": None, "static_url": None})


def publish_traces(traces, name: str) -> str:
    """Write the plotly traces that `traces()` makes to `name`.json in the app's served folder
    (explorer/served.py's `folder()`), unless it is there already; returns the URL a `live_value` names
    them by. `name`: letters, digits and dashes, one per set of traces (the file is never rewritten)."""

    d = served.folder()
    path = d / f"{name}.json"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        text = plotly.io.json.to_json_plotly({"traces": [t.to_plotly_json() for t in traces()]})
        with tempfile.NamedTemporaryFile("w", dir=d, prefix=f".{name}-", suffix=".tmp", delete=False) as f:
            f.write(text)
        os.replace(f.name, path)  # atomic: a page never fetches half a file
    return served.served_url(path)


def live_plot(value: str, elem_id: str) -> gr.HTML:
    """HTML and a plotly figure for views that update while a slider is dragged (value: `live_value`).

    The browser updates both in one component, with a single Plotly.react. gr.Plot redraws twice per update,
    and a second output component forces plotly's text measurement into a fresh page layout: together they
    cost about 60 ms per slider step, which decides whether dragging feels live. Call
    `gr.set_static_paths([PLOTLY_JS])` before launching (build_demo does).
    """
    return gr.HTML(value, html_template=LIVE_PLOT, js_on_load=page.mount("live_plot.js", ("click",)), head=PLOTLY_HEAD,
                   elem_id=elem_id)


def page_plot(value: str, elem_id: str, config: dict) -> gr.HTML:
    """A `live_plot` whose page computes the view itself while its controls move (the KL panels,
    static/kl_panel.js, which hears their own input events): `config` is what the page reads from the root element's
    data-config (JSON: the controls' elem_ids and ranges). The server's values (`live_value` with `params`) still
    replace the page's drawing once the controls settle."""
    attr = html.escape(json.dumps(config), quote=True)
    return gr.HTML(value, html_template=f"<div class='ge-page-plot' data-config='{attr}'>{LIVE_PLOT}</div>",
                   js_on_load=page.mount("kl_panel.js", ("settle",)), head=PLOTLY_HEAD, elem_id=elem_id)


def heading(text: str, level: int = 3) -> gr.HTML:
    """A heading for screen readers and the page's outline (WCAG 1.3.1, 2.4.6), not drawn: the tab's own name says
    it on screen."""
    return gr.HTML(f"<h{level} class='ge-sr-only'>{html.escape(text)}</h{level}>", padding=False,
                   elem_classes="ge-sr-heading")


def about(text: str, latex: list) -> gr.Markdown:
    """A lab's theory, laid out under its figures and controls (the first screen is the instrument)."""
    return gr.Markdown(text, latex_delimiters=latex, elem_classes="ge-about")


def step_text(step) -> str:
    """A "try this" step's text (explorer/links.Step) as HTML: what to look at, then, if it has one, its question with
    the answer behind a disclosure (predict first, then reveal)."""
    out = f"<p>{html.escape(step.text)}</p>"
    if step.predict:
        out += (f"<p class='ge-predict'><b>Predict first:</b> {html.escape(step.predict)}</p>"
                f"<details class='ge-reveal'><summary>Reveal the answer</summary><p>{html.escape(step.answer)}</p>"
                "</details>")
    return out


def mark_stale(sources: list, elem_ids: list[str]) -> None:
    """Any change of a control in `sources` (a click, for buttons) marks the views `elem_ids` as out of date,
    in the page alone (no request): a result that no longer matches the controls says so until it is
    recomputed by the event that `clear_stale` names."""
    for s in sources:
        event = s.click if isinstance(s, gr.Button) else s.change
        event(None, None, None, js=page.js_call("events/stale.js", elem_ids, True))


def clear_stale(dep, elem_ids: list[str]):
    """After the event `dep` has recomputed the views `elem_ids`, they are current again."""
    return dep.then(None, None, None, js=page.js_call("events/stale.js", elem_ids, False))


def brush_on_open(tab, elem_id: str) -> None:
    """When `tab` is opened, select the brush of the Sketchpad `elem_id` if no tool is selected yet."""
    tab.select(None, None, None, js=page.js_call("events/brush.js", elem_id))


CSS = page.static("app.css")

"""Every figure exportable: PNG and SVG of each plot and a PNG of each image grid, named after what they
show and captioned with it (render.exportable, render.grid_tag, static/page.js), in real Chromium."""

import base64
import re

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def page(shared_page):
    """One page for the module's first three tests, in file order: the first reads the defaults, the second moves μ_q
    on from them, the third opens the VAE lab."""
    return shared_page


def _open(pg, *tabs: str) -> None:
    for name in tabs:
        pg.get_by_role("tab", name=name, exact=True).click()


def _download(pg, button):
    with pg.expect_download(timeout=30_000) as d:
        button.click()
    download = d.value
    return download.suggested_filename, open(download.path(), "rb").read()


def test_plots_download_as_png_and_svg_named_and_captioned(page):
    _open(page, "KL divergence")
    page.wait_for_selector("#kl-plot .ge-export button", timeout=30_000)
    name, data = _download(page, page.locator("#kl-plot").get_by_role("button", name="Download PNG"))
    assert name == "kl-1d_mu_p=0_sigma_p=1_mu_q=1_sigma_q=0.8_shaded=pq.png"
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    page.wait_for_selector("#kl-mc-plot .ge-export button", timeout=30_000)
    name, data = _download(page, page.locator("#kl-mc-plot").get_by_role("button", name="Download SVG"))
    assert name == "kl-monte-carlo_mu_p=0_sigma_p=1_mu_q=1_sigma_q=0.8_N=10000_seed=0.svg"
    svg = data.decode()
    assert svg.startswith("<svg") and "running estimate of KL(p ‖ q) against N" in svg
    assert re.search(r"closed form 0\.\d+; k1 0\.\d+, k3 0\.\d+ from N = 10,000 samples, seed 0", svg)  # the caption
    assert page.locator(".modebar-btn--logo").count() == 0  # no link to plotly.com in an offline app


def test_a_plot_downloaded_right_after_a_drag_is_named_after_what_it_shows(page):
    """The KL panel draws a drag in the page at once; its export's name comes with the server's answer, held back
    here until after the click: a download clicked before that answer used to take the previous values' name."""
    _open(page, "KL divergence")
    page.wait_for_selector("#kl-plot .ge-export button", timeout=30_000)
    held = []

    def hold(route):
        held.append(route)

    page.route("**/gradio_api/queue/join*", hold)  # every request to the server waits here
    page.locator("#kl-mu-q input[type=range]").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    panel = "document.querySelector('#kl-plot .ge-page-plot').dataset"
    page.wait_for_function(f"() => Math.abs(JSON.parse({panel}.drawn)[2] - 1.05) < 1e-9", timeout=5_000)
    assert page.evaluate(f"() => JSON.parse({panel}.server)[2]") == 1  # the server has not answered yet
    if not held:  # the page's question for the new values is on its way (on a loaded machine, after a while)
        page.wait_for_event("request", lambda r: "queue/join" in r.url, timeout=10_000)
    with page.expect_download(timeout=30_000) as d:
        page.locator("#kl-plot").get_by_role("button", name="Download PNG").click()
        page.wait_for_function(f"() => {panel}.exportWaits === '1'", timeout=5_000)  # the download waits …
        for route in list(held):
            route.continue_()
        page.unroute("**/gradio_api/queue/join*")  # any request held since is let through
    assert held and d.value.suggested_filename == "kl-1d_mu_p=0_sigma_p=1_mu_q=1.05_sigma_q=0.8_shaded=pq.png"


def test_image_grids_download_as_png(page):
    _open(page, "VAE", "Ancestral sampling")
    page.wait_for_selector("#vae-sample-grid .ge-export button", timeout=30_000)
    grid = page.locator("#vae-sample-grid figure").first
    name, data = _download(page, grid.get_by_role("button", name="Download PNG"))
    assert name == "vae-samples-probs_model=2-D-latent_seed=0_n=64.png"
    size = page.evaluate("""async (b64) => { const im = new Image(); im.src = 'data:image/png;base64,' + b64;
      await im.decode(); return [im.width, im.height]; }""", base64.b64encode(data).decode())
    assert size[0] >= 8 * 30 and size[1] > 8 * 30  # 8 × 8 digits at their on-screen size, and the caption



def test_dark_mode_themes_the_figures(browser, app_server):
    """?__theme=dark: Gradio's page goes dark, and so do the plotly figures, gr.Plot and live plots alike."""
    from tests.conftest import opened

    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        pg.goto(app_server.url + "/?__theme=dark&lab=kl&view=monte-carlo")
        opened(pg)
        for sel in ("#kl-plot .js-plotly-plot", "#kl-mc-plot .js-plotly-plot"):
            pg.wait_for_function("s => document.querySelector(s)?._fullLayout?.paper_bgcolor === '#0b0f19'", arg=sel,
                                 timeout=15_000)
        assert pg.evaluate("document.querySelector('#kl-mc-plot .js-plotly-plot')._fullLayout.font.color") == "#e5e7eb"
    finally:
        pg.close()

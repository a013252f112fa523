"""The 2-D diffusion lab in headless Chromium: the field follows the t slider in the page, the numbers it
prints are the server's, the particles play and a clicked particle's x̂_0 is the one the server's files give, and
a drawing trains in the session and becomes the data set of both views."""

import json
import re
import urllib.request

import numpy as np
import pytest
from gradio_client import Client

from explorer import plane

pytestmark = pytest.mark.browser

FIELD = ".ge-plane-field"


def open_lab(page, view: str | None = None) -> None:
    page.get_by_role("tab", name="Diffusion in 2-D").click()
    if view:
        page.locator("#plane-views").get_by_role("tab", name=view).click()


def set_t(page, t: int) -> str:
    """Move the t slider as a drag does (an input event) and return the t the field then says it drew: the page
    draws it itself, with no request (bench_plane measures how soon)."""
    page.evaluate("""t => {
        const r = document.querySelector('#plane-t input[type=range]');
        r.value = t; r.dispatchEvent(new Event('input', {bubbles: true}));
    }""", t)
    page.wait_for_function("t => document.querySelector('.ge-plane-field').dataset.t === String(t)", arg=t,
                           timeout=5_000)
    return page.evaluate("() => document.querySelector('.ge-plane-field').dataset.t")


def test_the_field_follows_the_slider_and_particles_play(page, app_server, shots):
    """The field: drawn at the slider's t in the input event itself, with the server's numbers; then the particles
    play, and a clicked particle's x̂_0 is the one the server's files give."""
    open_lab(page)
    page.wait_for_function("() => document.querySelector('.ge-plane-field')?.dataset.loaded === 'ring8'",
                           timeout=60_000)
    server = json.loads(Client(app_server.url, verbose=False).predict("ring8", api_name="/plane_field"))
    pixels = "() => document.querySelector('.ge-plane-field canvas').toDataURL()"
    seen = set()
    for t in (1000, 500, 100, 10):
        assert set_t(page, t) == str(t)
        seen.add(page.evaluate(pixels))
        k = server["ts"].index(t)
        text = page.inner_text(f"{FIELD} .ge-plane-readout")
        assert f"t = {t}: √ᾱ_t = {server['sqrt_ab'][k]:.3f}" in text
        assert f"under q(z_t): {server['err_mean'][k]:.3f}" in text
    assert len(seen) == 4  # each t drew a different picture
    # a person's drag: the slider is live (no event reads it on the server, which Gradio would draw as disabled)
    track = page.locator("#plane-t input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.9, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=6)
    drawn = int(page.evaluate("() => document.querySelector('.ge-plane-field').dataset.t"))
    page.mouse.up()
    assert 200 < drawn < 400  # drawn while the button is still held
    page.locator("#plane-show").get_by_text("error ‖ε_θ − ε*‖").click()
    page.wait_for_function("() => document.querySelector('.ge-plane-field').dataset.mode === 'error'")
    assert f"to {server['err_max']:.2f} (dark red)" in page.inner_text(f"{FIELD} .ge-plane-legend")
    assert set_t(page, 20) == "20"  # small t: the network is wrong off the data
    page.screenshot(path=str(shots / "plane-field.png"), full_page=False)
    # the particles, on the same page (a page costs seconds to open): ring8's first view
    page.locator("#plane-views").get_by_role("tab", name="Particles").click()
    page.wait_for_function("() => document.querySelector('.ge-plane-particles')?.dataset.loaded === "
                           "'ring8:DDIM, 50 steps, η = 0'", timeout=60_000)
    frame = "() => [...document.querySelectorAll('.ge-plane-panel canvas.ge-plane-canvas')].map(c => c.dataset.frame)"
    # a new run plays once by itself and ends on the samples, t = 0: both panels at their last kept state
    page.wait_for_function(PLAYED_ONCE, timeout=30_000)
    assert all(int(f) > 0 for f in page.evaluate(frame))
    # time runs left to right: the scrub's left end is t = T (noise), its right end t = 0, and both ends say so
    assert page.evaluate("() => getComputedStyle(document.querySelector('.ge-plane-t')).direction") == "rtl"
    ends = page.inner_text(".ge-plane-scrub")
    assert "noise, t = 1000" in ends and "t = 0, samples" in ends
    page.click(".ge-plane-play")  # from t = 0 it starts again at T
    page.wait_for_function("() => +document.querySelector('.ge-plane-t').value < 500", timeout=20_000)
    assert all(int(f) > 0 for f in page.evaluate(frame))  # both panels moved on
    page.click(".ge-plane-play")  # pause
    page.evaluate("""() => { const s = document.querySelector('.ge-plane-t'); s.value = 300;
                             s.dispatchEvent(new Event('input')); }""")
    canvas = page.locator(".ge-plane-panel canvas.ge-plane-canvas").nth(1)
    canvas.click(position={"x": 200, "y": 120})
    page.wait_for_function("() => document.querySelectorAll('.ge-plane-panel canvas.ge-plane-canvas')[1].dataset.x0",
                           timeout=20_000)
    i = int(page.evaluate("() => document.querySelector('.ge-plane-particles').dataset.chosen"))
    k = int(canvas.evaluate("c => c.dataset.frame"))
    x0_page = [float(v) for v in canvas.evaluate("c => c.dataset.x0").split(",")]
    # the same x̂_0 from the files the server wrote and the coefficients it sent, computed here
    run = json.loads(Client(app_server.url, verbose=False).predict("ring8", 50, 0.0, 2000, 0,
                                                                     api_name="/plane_particles"))["runs"][1]
    get = lambda rel: urllib.request.urlopen(f"{app_server.url}/{rel}", timeout=30).read()  # noqa: E731
    z = plane.decode(get(run["pos"]), (run["frames"], 2000, 2), run["pos_scale"])[k, i]
    eps = plane.decode(get(run["eps"]), (run["frames"], 2000, 2), run["eps_scale"])[k, i]
    x0 = (z - run["sqrt_1mab"][k] * eps) / run["sqrt_ab"][k]
    np.testing.assert_allclose(x0_page, x0, rtol=1e-12, atol=1e-12)
    assert "Following particle" in page.inner_text(".ge-plane-status")
    page.screenshot(path=str(shots / "plane-particles.png"), full_page=False)
    # another data set: both views follow; moons has no exact field, so no error map
    page.locator("#plane-data").get_by_text("two moons").click()
    page.wait_for_function("() => document.querySelector('.ge-plane-particles').dataset.loaded.startsWith('moons')",
                           timeout=60_000)
    page.locator("#plane-views").get_by_role("tab", name="The field").click()
    page.wait_for_function("() => document.querySelector('.ge-plane-field').dataset.loaded === 'moons'",
                           timeout=60_000)
    assert "No exact field here, so no error map" in page.inner_text(f"{FIELD} .ge-plane-note")


PLAYED_ONCE = """() => { const r = document.querySelector('.ge-plane-particles');
  return r.querySelector('.ge-plane-play').getAttribute('aria-label') === 'play'
    && +r.querySelector('.ge-plane-t').value === 0; }"""


def test_a_drawing_trains_and_becomes_the_data_set(page):
    """Train with no points: told what to do. Then click points, train, and both views use the drawing's model."""
    open_lab(page, "Your own data")
    page.click("#plane-train")
    page.wait_for_selector("text=The drawing has 0 points: place at least 3", timeout=30_000)
    canvas = page.locator(".ge-plane-draw canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for i in range(12):  # two blobs of clicks
        cx, cy = (0.3, 0.3) if i < 6 else (0.7, 0.7)
        x, y = box["x"] + box["width"] * (cx + 0.03 * (i % 3)), box["y"] + box["height"] * (cy + 0.03 * (i % 2))
        page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('.ge-plane-draw').dataset.count === '12'")
    page.wait_for_function("() => document.querySelector('.ge-plane-draw').dataset.server === '12'")  # (Train's)
    page.click("#plane-train")
    # "Trained for N steps", or on a busy machine "Reached the 30 s limit: trained for N steps": the model is used
    page.wait_for_function("() => /[Tt]rained for \\d+ steps/.test(document.querySelector('#plane-train-status')"
                           "?.innerText)", timeout=90_000)
    page.wait_for_function("() => document.querySelector(\"#plane-data input[value='your drawing']\").checked",
                           timeout=30_000)
    open_lab(page, "The field")
    page.wait_for_function("() => document.querySelector('.ge-plane-field').dataset.loaded === 'your drawing'",
                           timeout=60_000)
    assert "your 12 points" in page.inner_text(f"{FIELD} .ge-plane-note")
    # the data set is named with its steps; the status gives the field error and a verdict
    assert re.search(r"your drawing \(trained: [\d,]+ steps\)", page.inner_text("#plane-data"))
    status = page.inner_text("#plane-train-status")
    assert "Field error" in status and re.search(r"Not converged yet|Converged:", status)
    # Continue training goes on from the model: its steps add up
    open_lab(page, "Your own data")
    page.click("#plane-continue")
    page.wait_for_function(r"() => /in all\)/.test(document.querySelector('#plane-train-status')?.innerText)",
                           timeout=90_000)
    page.wait_for_function(r"() => /your drawing \(trained: [\d,]+ steps\)/.test("
                           "document.querySelector('#plane-data').innerText)", timeout=30_000)

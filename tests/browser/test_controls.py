"""What a student and a teacher ran into, as they saw it: in headless Chromium."""

import pytest

from tests.browser.test_links import SHOWN
from tests.conftest import app_page, settled

# the reverse run has taken a step ("…: step k of N, …"): its "Starting… all 1000 steps" is not yet a step, and a Stop
# clicked then ends it "before the first step"
RUNNING = r"() => /: step \d+ of /.test(document.querySelector('#diff-status').innerText)"

pytestmark = pytest.mark.browser


def _type(page, selector: str, text: str) -> None:
    box = page.locator(selector)
    box.scroll_into_view_if_needed()
    box.fill(text)
    box.press("Enter")


def _open(page, *tabs: str) -> None:
    for name in tabs:
        page.get_by_role("tab", name=name, exact=True).click()


def test_stop_always_ends_scrubbable_with_its_message(page):
    """Stop used to leave the reverse process stuck at "DDPM: step N of 1000", its slider disabled (4 of 6 tries):
    streamed values of the cancelled run arrived after Stop's final value."""
    _open(page, "Diffusion", "Reverse process")
    page.get_by_text("DDPM", exact=True).click()
    for _ in range(3):
        page.click("#diff-run")
        page.wait_for_selector("#diff-frame .ge-film-img:not([hidden])", timeout=30_000)
        page.wait_for_function(RUNNING,
                               timeout=30_000)
        page.click("#diff-stop")
        # Stop waits for the step in flight (a generous limit: beside other work a step can take seconds)
        page.wait_for_function("() => document.querySelector('#diff-status').innerText.startsWith('Stopped after')",
                               timeout=30_000)
        page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled", timeout=30_000)
        settled(page)  # the run's stream has ended: nothing streamed afterwards takes it back
        assert page.inner_text("#diff-status").startswith("Stopped after")
        assert "stopped after" in page.inner_text("#diff-frame .ge-film-caption")
        assert not page.locator("#diff-frame .ge-film-range").is_disabled()


def test_a_new_run_blanks_the_stopped_runs_caption(page):
    """Quick Run clicks left a stopped run's "stopped after 3 of 200 steps" beside the next run's "Starting…": a run
    stopped by a newer one now ends its stream with the newer run's id and no frames, which blanks the viewer unless
    the newer run has drawn already."""
    _open(page, "Diffusion", "Reverse process")
    page.get_by_text("DDPM", exact=True).click()
    page.click("#diff-run")
    page.wait_for_function(RUNNING, timeout=30_000)
    page.evaluate("""() => {  // every caption the viewer shows from now on, in order
        const el = document.querySelector('#diff-frame .ge-film-caption');
        window.__captions = [];
        new MutationObserver(ms => ms.forEach(m => window.__captions.push(m.type === 'characterData' ? m.target.data
                                                  : [...m.addedNodes].map(n => n.textContent).join(''))))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""")
    page.click("#diff-run")  # stops the first run, whose final value ("stopped after …") is still to come
    page.wait_for_function("() => window.__captions.some(c => c.startsWith('frame'))", timeout=60_000)
    page.wait_for_function(RUNNING, timeout=30_000)
    captions = page.evaluate("() => window.__captions")
    _stop_the_run(page)  # first: a failed assertion must not leave a DDPM run taking the cores
    # the first run's last value never shows (the page may or may not draw the blank between the two runs: when the
    # new run's first frame comes in the same moment, it draws only that)
    assert not any("stopped after" in c for c in captions), captions


def _stop_the_run(page) -> None:
    """Stop, until the status says the run stopped: a Stop that reached the server before the newer run's state did
    answers "Nothing is running." while that run goes on."""
    for _ in range(5):
        page.click("#diff-stop")
        try:
            page.wait_for_function("() => document.querySelector('#diff-status').innerText.startsWith('Stopped ')",
                                   timeout=10_000)
            return
        except Exception:
            continue
    raise AssertionError(f"the run did not stop: {page.inner_text('#diff-status')!r}")


def test_the_sample_is_the_last_frame_and_exports_are_per_run(page):
    _open(page, "Diffusion", "Reverse process")
    _type(page, "#diff-steps input[type=number]", "1")
    page.click("#diff-run")
    page.wait_for_function("() => document.querySelector('#diff-status').innerText.includes('done')", timeout=30_000)
    caption = "() => document.querySelector('#diff-frame .ge-film-caption').textContent"
    page.wait_for_function(f"() => ({caption})().startsWith('frame 2 of 2: z₀, the sample')", timeout=10_000)
    assert "index" not in page.evaluate(caption)  # not "t = 1 (index 0)"
    page.get_by_role("button", name="Export GIF, GIF for slides, MP4 and the samples (PNG)").click()
    page.wait_for_selector("#diff-export-files a", timeout=60_000)
    files = page.inner_text("#diff-export-files").replace("\n", "")
    for suffix in (".gif", "-slides.gif", ".mp4", "-samples.png"):  # named after the run
        assert f"ddim1-eta0-seed0-uncond{suffix}" in files
    page.click("#diff-run")  # a new run: the previous run's files go
    page.wait_for_function("() => !document.querySelector('#diff-export-files a')", timeout=10_000)


def test_controls_without_effect_are_disabled(page):
    _open(page, "Diffusion", "Reverse process")
    assert page.locator("#diff-guidance input[type=range]").is_disabled()  # class "none": w does nothing
    page.get_by_text("DDPM", exact=True).click()
    page.wait_for_function("() => document.querySelector('#diff-steps input[type=range]').disabled", timeout=10_000)
    assert page.locator("#diff-eta input[type=range]").is_disabled()


@pytest.fixture
def typing_page(shared_page):
    """One page for the tests below, in file order (tests/conftest.py): each opens its own lab and sub-tab, and what it
    waits for is its own (the stale table, the drawing, the KL lab's digit, each typed value's message), so they do
    not depend on each other; the typed values come last, as they leave boxes with values that are not allowed."""
    return shared_page


def test_stale_results_are_marked(typing_page):
    page = typing_page
    _open(page, "KL divergence")
    _type(page, "#kl-mu-q input[type=number]", "1.5")
    settled(page)
    assert "ge-stale" not in (page.get_attribute("#kl-mc-table", "class") or "")  # nothing computed yet
    page.click("#kl-mc-btn")
    page.wait_for_selector("#kl-mc-table table", timeout=30_000)
    assert "ge-stale" not in page.get_attribute("#kl-mc-table", "class")
    _type(page, "#kl-mu-q input[type=number]", "2")
    page.wait_for_function("() => document.querySelector('#kl-mc-table').classList.contains('ge-stale')",
                           timeout=5_000)
    page.click("#kl-mc-btn")
    page.wait_for_function("() => !document.querySelector('#kl-mc-table').classList.contains('ge-stale')",
                           timeout=30_000)


def test_the_sketchpad_draws_at_once_and_the_newest_input_wins(typing_page):
    page = typing_page
    _open(page, "VAE", "Encode")
    canvas = page.locator("#vae-sketch canvas").first
    canvas.scroll_into_view_if_needed()
    page.wait_for_function("() => !document.querySelector('#vae-sketch').innerText.includes('select the draw tool')",
                           timeout=10_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8, steps=12)
    page.mouse.up()
    # the sketchpad hands its strokes to the server a moment after the stroke ends (it uploads them as an image)
    for _ in range(10):
        settled(page)
        page.get_by_role("button", name="Encode drawing / upload").click()
        try:
            page.wait_for_selector("text=encoded: your drawing", timeout=3_000)
            break
        except Exception:
            continue
    assert page.get_by_text("encoded: your drawing").is_visible()


def test_the_kl_lab_shows_the_vae_labs_digit_with_its_model(typing_page):
    page = typing_page
    _open(page, "VAE", "Encode")
    page.click("#vae-encode-btn")
    page.wait_for_selector("text=encoded: test digit #0", timeout=30_000)
    _open(page, "KL divergence", "The VAE's KL term")
    page.click("#kl-vae-lab-btn")
    page.wait_for_function("() => document.querySelector('#kl-vae-md').innerText.includes('2-D latent')",
                           timeout=30_000)
    assert "test digit #0" in page.inner_text("#kl-vae-md")


def test_a_vae_trains_in_the_page_epoch_by_epoch_and_continues(typing_page):
    """VAE › Train one: each epoch adds its point to the curves and redraws the map; Continue goes on from there."""
    page = typing_page
    _open(page, "VAE", "Train one")
    _type(page, "#vae-train-epochs input[type=number]", "1")
    page.click("#vae-train")
    page.wait_for_function("() => document.querySelector('#vae-train-status').innerText.startsWith('Done: 1 epoch')",
                           timeout=60_000)
    for view in ("#vae-train-curves", "#vae-train-map"):
        page.wait_for_function(SHOWN, arg=view, timeout=10_000)
    assert "after epoch 1" in page.inner_text("#vae-train-map")
    page.click("#vae-train-more")
    page.wait_for_function("() => document.querySelector('#vae-train-status').innerText.includes('(2 epochs in all')",
                           timeout=60_000)
    assert "after epoch 2" in page.inner_text("#vae-train-map")


@pytest.mark.parametrize(("tabs", "box", "typed", "view", "message"), [
    (("VAE",), "#vae-z1 input[type=number]", "9", "#vae-decoded", "z1 = 9 is outside the allowed range [-4, 4]"),
    (("VAE",), "#vae-z1 input[type=number]", "", "#vae-decoded", "z1 is empty"),
    (("KL divergence", "Monte Carlo vs closed form"), "#kl-sigma-p input[type=number]", "0", "#kl-plot",
     "σ_p = 0 is outside the allowed range [0.001, 10]"),
    (("KL divergence", "Monte Carlo vs closed form"), "#kl-sigma-p input[type=number]", "-1", "#kl-plot",
     "σ_p = -1 is outside"),
    (("Diffusion",), "#diff-t input[type=number]", "1001", "#diff-forward", "t = 1001 is outside the allowed range"),
], ids=["vae-z1-9", "vae-z1-empty", "kl-sigma-0", "kl-sigma-neg", "forward-t-1001"])
def test_typed_values_get_a_named_message(typing_page, tabs, box, typed, view, message):
    """Typed values used to fail silently (HTTP 500 in the console), or leak "Could not preprocess input
    component at index 3 … TypeError", or show a bare "Error" badge."""
    page = typing_page
    _open(page, *tabs)
    _type(page, box, typed)
    page.wait_for_function("([v, m]) => document.querySelector(v).innerText.includes(m)", arg=[view, message],
                           timeout=10_000)


def test_the_star_and_the_schedule_marker_follow_keys_and_typing(page):
    _open(page, "Latent map")
    page.wait_for_function("() => (document.querySelector('#vae-map .ge-live-plot').data || []).length > 0",
                           timeout=30_000)
    star = "() => { const d = document.querySelector('#vae-map .ge-live-plot').data; " \
           "const s = d.find(t => t.meta && t.meta.P); return [s.x[0], s.y[0]]; }"
    assert page.evaluate(star) == [0, 0]
    page.locator("#vae-z1 input[type=range]").focus()
    for _ in range(50):
        page.keyboard.press("ArrowRight")  # keys fire no "release": the star used to stay put
    page.wait_for_function(f"() => Math.abs(({star})()[0] - 0.5) < 1e-6", timeout=5_000)
    _type(page, "#vae-z2 input[type=number]", "-1.5")
    page.wait_for_function(f"() => Math.abs(({star})()[1] + 1.5) < 1e-6", timeout=5_000)

    _open(page, "Diffusion")
    page.wait_for_function("() => document.querySelector('#diff-schedule .ge-live-plot').layout", timeout=30_000)
    _type(page, "#diff-t input[type=number]", "700")
    page.wait_for_function("() => document.querySelector('#diff-schedule .ge-live-plot').layout.shapes[0].x0 === 700",
                           timeout=5_000)


def test_the_32d_map_says_it_is_a_projection_and_can_follow_a_sliders_axis(pages, app_server):
    """The 32-D model's map is a projection: the line above it says how far z lies from the plane, and the page's
    number, updated as a slider moves, is the server's. On the plane of z1 (a link sets it), z1 moves the star
    sideways only."""
    url = app_server.url + "/?lab=vae&view=map&model=32-D+latent&plane=z1"
    with app_page(pages, url) as page:
        star = "() => { const d = document.querySelector('#vae-map .ge-live-plot').data; " \
               "const s = d.find(t => t.meta && t.meta.P); return [s.x[0], s.y[0], s.meta.center.length]; }"
        page.wait_for_function(f"() => ({star})()[2] === 32", timeout=30_000)
        assert "projected on z1" in page.evaluate("document.querySelector('#vae-map .ge-live-plot').layout.title.text")
        off = "() => document.querySelector('#vae-map .ge-map-off').innerText"
        assert "A projection" in page.evaluate(off)
        x0, y0, _ = page.evaluate(star)
        page.locator("#vae-z1 input[type=range]").focus()
        for _ in range(80):
            page.keyboard.press("ArrowRight")  # z1: 0 → 0.8
        page.wait_for_function(f"() => Math.abs(({star})()[0] - {x0}) > 0.05", timeout=5_000)
        page.wait_for_function("() => document.querySelector('#vae-z1 input[type=number]').value === '0.8'",
                               timeout=5_000)
        settled(page)
        x1, y1, _ = page.evaluate(star)
        assert x1 - x0 == pytest.approx(0.8, abs=1e-4) and abs(y1 - y0) < 1e-5  # sideways only, in units of z
        shown = page.evaluate(off)
        # the server's line for the same z: the plane picked again (the principal plane, then z1's) redraws the map
        for label in ("the means' principal axes (PC1, PC2)", "z1 against the principal axis across it"):
            page.locator("#vae-map-axis input").click()
            page.get_by_role("option", name=label, exact=True).click()
            settled(page)
        page.wait_for_function(f"() => Math.abs(({star})()[0] - {x1}) < 1e-6", timeout=15_000)
        assert page.evaluate(off) == shown

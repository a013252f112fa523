"""What a person sees: the app in headless Chromium, driven by Playwright.

Screenshots go to $GE_SCREENSHOT_DIR (the README's come from a run with it set to docs/ and the real
MNIST test set as GE_DATA_DIR).
"""

import pytest

from tests.conftest import settled

pytestmark = pytest.mark.browser


@pytest.fixture
def page(shared_page):
    """One page for the module, its tests in file order (each opens the lab and sub-tab it reads): a fresh page per
    test cost about 3 s each."""
    return shared_page


SHOWN = """() => {  // what the decoded view shows: the page's own drawing while dragging, else the server's images
  const el = document.querySelector('#vae-decoded'), own = el.querySelector('.ge-dec-page');
  return own.hidden ? el.querySelector('.ge-dec-server img').src : el.querySelector('.ge-dec-mean').toDataURL();
}"""


def decoded_src(pg) -> str:
    return pg.evaluate(SHOWN)


def test_page_loads_and_tabs_switch(page, shots):
    settled(page)
    page.screenshot(path=str(shots / "vae-lab.png"), full_page=True)
    page.get_by_role("tab", name="KL divergence").click()
    assert page.locator("#kl-plot").is_visible()
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    assert page.locator("#diff-t").is_visible()
    assert not page.locator("#vae-decoded").is_visible()
    page.get_by_role("tab", name="VAE", exact=True).click()
    assert page.locator("#vae-decoded").is_visible()


def test_dragging_a_slider_decodes_while_dragging(page):
    before = decoded_src(page)
    page.locator("#vae-z1 input[type=range]").scroll_into_view_if_needed()
    box = page.locator("#vae-z1 input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=8)
    # the image must change while the button is still held: decoding on drag, not only on release
    page.wait_for_function(f"b => ({SHOWN})() !== b", arg=before, timeout=10_000)
    mid = decoded_src(page)
    page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=4)
    page.wait_for_function(f"b => ({SHOWN})() !== b", arg=mid, timeout=10_000)
    page.mouse.up()
    assert float(page.locator("#vae-z1 input[type=number]").input_value()) > 2.5


def test_sample_button_shows_three_stages(page, shots):
    page.click("#vae-sample-btn")
    page.wait_for_selector("#vae-stages img", timeout=30_000)
    assert page.locator("#vae-stages img").count() == 2  # f_θ(z) and x
    page.wait_for_selector("#vae-stage-z .js-plotly-plot", timeout=30_000)  # z
    assert page.locator("#vae-sample-grid img").count() == 2
    assert "all 784 pixels at once" in page.inner_text("#vae-stages")
    settled(page)
    page.screenshot(path=str(shots / "vae-sampling.png"), full_page=True)


def test_clicking_the_map_and_the_grid_sets_the_sliders(page, shots):
    page.get_by_role("tab", name="Latent map").click()
    page.wait_for_selector("#vae-map .js-plotly-plot", timeout=30_000)
    page.locator("#vae-map").scroll_into_view_if_needed()  # below the fold under the lab's "Start here"
    # the test digits' points come from a file the page fetches once (render.publish_traces): wait for them
    page.wait_for_function("() => (document.querySelector('#vae-map .js-plotly-plot')._fullData || []).length >= 11",
                           timeout=15_000)
    # click the first test digit's dot: plotly turns data coordinates into pixels for us
    x, y, u = page.evaluate("""() => {
        const gd = document.querySelector('#vae-map .js-plotly-plot');
        const L = gd._fullLayout, r = gd.getBoundingClientRect();
        const xs = Array.from(gd._fullData[0].x), ys = Array.from(gd._fullData[0].y);  // typed arrays
        const i = xs.findIndex((v, k) => Math.abs(v) < 3.5 && Math.abs(ys[k]) < 3.5);
        return [r.left + L._size.l + L.xaxis.d2p(xs[i]), r.top + L._size.t + L.yaxis.d2p(ys[i]), xs[i]];
    }""")
    before = decoded_src(page)
    page.mouse.click(x, y)
    page.wait_for_function(f"b => ({SHOWN})() !== b", arg=before, timeout=15_000)  # hovering previews it at once
    # the click sets the sliders (through the server)
    page.wait_for_function("u => Math.abs(parseFloat(document.querySelector('#vae-z1 input[type=number]').value)"
                           " - u) < 0.06", arg=u, timeout=15_000)
    # a click on the manifold grid's top-left cell: z at the 5% / 95% Gaussian quantiles
    grid = page.locator("#vae-manifold img").bounding_box()
    before = decoded_src(page)
    page.mouse.move(grid["x"] + 3, grid["y"] + 3)  # hovering previews the cell in the page
    page.wait_for_function(f"b => ({SHOWN})() !== b", arg=before, timeout=15_000)
    at_cell = ("() => Math.abs(parseFloat(document.querySelector('#vae-z1 input[type=number]').value) + 1.64) < 0.02")
    page.mouse.click(grid["x"] + 3, grid["y"] + 3)  # the click sets the sliders (through the server)
    page.wait_for_function(at_cell, timeout=15_000)
    assert page.evaluate(at_cell)
    assert abs(float(page.locator("#vae-z2 input[type=number]").input_value()) - 1.64) < 0.02
    # the map's star follows the sliders in the page (the 2-D model's map is z itself); the server does not redraw it
    page.wait_for_function("""() => {
        const t = document.querySelector('#vae-map .js-plotly-plot').data.find(t => t.meta && t.meta.P);
        return Math.abs(t.x[0] + 1.64) < 0.02 && Math.abs(t.y[0] - 1.64) < 0.02; }""", timeout=5_000)
    page.screenshot(path=str(shots / "vae-latent-map.png"), full_page=True)


def test_encode_and_likelihood(page, shots):
    page.get_by_role("tab", name="Encode").click()
    page.click("#vae-encode-btn")
    page.wait_for_selector("text=reconstruction", timeout=30_000)
    # a test digit picked from the row of buttons (a keyboard's Enter too) is encoded
    before = page.inner_text("#vae-enc-images")
    page.locator("#vae-gallery button.ge-pick").nth(3).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("b => document.querySelector('#vae-index input').value === '3' && "
                           "document.querySelector('#vae-enc-images').innerText !== b", arg=before, timeout=30_000)
    assert page.locator("#vae-gallery button.ge-pick").nth(3).get_attribute("aria-pressed") == "true"
    assert page.get_by_role("button", name="test digit #3", exact=True).count() == 1
    page.click("#vae-to-mu")
    page.wait_for_function("() => parseFloat(document.querySelector('#vae-z1 input[type=number]').value) !== 0",
                           timeout=15_000)
    page.get_by_role("tab", name="Likelihood").click()
    page.get_by_role("button", name="Estimate log p(x) for the encoded digit").click()
    page.wait_for_selector("text=float32 cannot hold", timeout=120_000)
    assert page.get_by_text("KL(q(z|x) ‖ p(z|x))").first.is_visible()
    settled(page)
    page.screenshot(path=str(shots / "vae-likelihood.png"), full_page=True)
    # the exact log p(x) beside each bound; the gallery where importance sampling fails only for the digits the card
    # measured (MNIST's, GE_DATA_DIR), else a note that says why it is absent
    page.get_by_role("tab", name="Exact log p(x)").click()
    assert "exact (quadrature; each image within 0.01 nats)" in page.inner_text("#vae-fail-table")
    assert "an upper bound on −log p(x) in expectation" in page.inner_text("#vae-fail-table")
    if page.locator("#vae-fail-gallery").count():
        first = page.inner_text("#vae-fail-md")  # the worst digit, shown on opening
        assert "exact log p(x) =" in first and "effective sample sizes" in first
        page.locator("#vae-fail-gallery button.ge-pick").nth(1).click()  # the second worst
        page.wait_for_function("f => document.querySelector('#vae-fail-pick input').value === '1' && "
                               "document.querySelector('#vae-fail-md').innerText.includes('exact log p(x) =') && "
                               "document.querySelector('#vae-fail-md').innerText !== f", arg=first, timeout=60_000)
        settled(page)
        page.screenshot(path=str(shots / "vae-exact.png"), full_page=True)
    else:
        assert "No gallery" in page.inner_text("#vae-fail-none")


def _kl_numbers(page) -> tuple[str, str]:
    return page.inner_text("#kl-pq"), page.inner_text("#kl-qp")


def test_kl_slider_updates_numbers_and_figure_while_dragging(page, shots):
    page.get_by_role("tab", name="KL divergence").click()
    page.wait_for_selector("#kl-plot .js-plotly-plot")
    before_nums = _kl_numbers(page)
    before_title = page.text_content("#kl-plot .gtitle")
    page.locator("#kl-mu-q input[type=range]").scroll_into_view_if_needed()
    box = page.locator("#kl-mu-q input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.55, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.85, y, steps=6)
    page.wait_for_function("b => document.querySelector('#kl-pq').innerText !== b", arg=before_nums[0], timeout=10_000)
    page.mouse.up()
    after = _kl_numbers(page)
    assert after[0] != before_nums[0] and after[1] != before_nums[1]  # both directions updated
    page.wait_for_function("b => document.querySelector('#kl-plot .gtitle').textContent !== b", arg=before_title,
                           timeout=10_000)
    page.get_by_role("button", name="two spikes far apart").click()
    page.wait_for_function("() => document.querySelector('#kl-pq').innerText.includes('3200')", timeout=10_000)
    settled(page)
    page.screenshot(path=str(shots / "kl-lab.png"), full_page=True)


def test_kl_fit_draws_both_fits(page, shots):
    page.get_by_role("tab", name="KL divergence").click()
    page.get_by_role("tab", name="Forward vs reverse KL").click()
    page.click("#kl-fit-btn")
    page.wait_for_selector("text=moment-matching optimum", timeout=60_000)
    # The table is Markdown and shows at once; Plotly draws the figure a moment later.
    page.wait_for_function("() => { const p = document.querySelector('#kl-fit-plot .js-plotly-plot');"
                           " return p && p.data && p.data.length > 0; }", timeout=10_000)
    names = page.evaluate("() => Array.from(document.querySelector('#kl-fit-plot .js-plotly-plot').data, t => t.name)")
    assert any("min KL(p‖q)" in n for n in names) and any("min KL(q‖p)" in n for n in names)
    assert "gradient descent step" in page.text_content("#kl-fit-plot .gtitle")
    assert "forward fit converged" in page.inner_text("#kl-fit-table")
    settled(page)
    page.screenshot(path=str(shots / "kl-fit.png"), full_page=True)


def test_diffusion_run_streams_frames_and_scrubs(page, shots):
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    page.get_by_role("tab", name="Reverse process").click()
    steps = page.locator("#diff-steps input[type=number]")
    steps.fill("40")  # long enough (≥ 0.1 s) for the page to show frames before the last
    steps.press("Enter")
    page.evaluate("""() => {  // every caption the viewer shows, streamed ones included
      window.geCaptions = [];
      const el = document.querySelector('#diff-frame');
      new MutationObserver(() => window.geCaptions.push(el.querySelector('.ge-film-caption').textContent))
        .observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
    }""")
    page.click("#diff-run")
    page.wait_for_selector("#diff-frame .ge-film-img:not([hidden])", timeout=30_000)  # the first frame streams in
    page.wait_for_function("() => document.querySelector('#diff-status').innerText.includes('done')", timeout=60_000)
    caption = "() => document.querySelector('#diff-frame .ge-film-caption').textContent"
    page.wait_for_function(f"() => ({caption})().startsWith('frame 41 of 41')", timeout=10_000)
    # the final value shows the last frame at once; the slider opens once the page has fetched the rest
    page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled", timeout=10_000)
    seen = [c for c in page.evaluate("window.geCaptions") if c.startswith("frame")]
    assert any(not c.startswith("frame 41 of") for c in seen), seen  # frames streamed in before the last
    src = "() => document.querySelector('#diff-frame .ge-film-img').src"
    mark = "() => +document.querySelector('#diff-frame .ge-film-mark').getAttribute('x1')"
    last_src, last_mark = page.evaluate(src), page.evaluate(mark)

    slider = page.locator("#diff-frame .ge-film-range")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # scrub back to the first frame
    assert page.evaluate(caption).startswith("frame 1 of 41")  # shown at once: no request to wait for
    assert page.evaluate(src) != last_src and page.evaluate(mark) > last_mark  # the first frame is at a larger t
    slider.press("ArrowRight")
    assert page.evaluate(caption).startswith("frame 2 of 41")
    page.click("#diff-frame [data-act=next]")
    assert page.evaluate(caption).startswith("frame 3 of 41")
    page.click("#diff-frame [data-act=prev]")
    assert page.evaluate(caption).startswith("frame 2 of 41")
    page.click("#diff-frame [data-act=play]")  # plays to the end and stops there
    page.wait_for_function(f"() => ({caption})().startsWith('frame 41 of 41')", timeout=10_000)
    # the final value shows the last frame at once; the slider opens once the page has fetched the rest
    page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled", timeout=10_000)
    assert page.evaluate(src) == last_src
    page.wait_for_function("() => document.querySelector('#diff-frame [data-act=play]').textContent.includes('play')")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a middle frame for the picture
    settled(page)
    page.screenshot(path=str(shots / "diffusion-reverse.png"), full_page=True)


def test_diffusion_forward_process_follows_t_while_dragging_and_elbo_chart(page, shots):
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    page.get_by_role("tab", name="Forward process").click()
    forward = "() => document.querySelector('#diff-forward').innerHTML"
    before = page.evaluate(forward)
    slider = page.locator("#diff-t input[type=range]")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
    page.wait_for_function(f"() => ({forward})() !== {before!r}", timeout=10_000)  # changed before the release
    page.mouse.up()
    assert "ᾱ<sub>t</sub>" in page.evaluate(forward)
    page.wait_for_function("() => document.querySelector('#diff-schedule .js-plotly-plot') !== null", timeout=10_000)
    settled(page)
    page.screenshot(path=str(shots / "diffusion-forward.png"), full_page=True)

    page.get_by_role("tab", name="ELBO per timestep").click()
    page.click("#diff-elbo-run")
    page.wait_for_function("() => document.querySelector('#diff-elbo-plot .gtitle')?.textContent.includes('bits/dim')",
                           timeout=120_000)
    assert "sum" in page.inner_text("#diff-elbo-table")
    settled(page)
    page.screenshot(path=str(shots / "diffusion-elbo.png"), full_page=True)

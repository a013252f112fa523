"""The first screen is the instrument: on every lab and sub-tab, on a first visit at 1280 × 720 and 1400 × 1000, the
figure and the first control that drives it are inside the viewport without scrolling; the lab's theory comes under
them, and its "Start here" is one line that this browser remembers once opened."""

import pytest

from tests.browser.test_links import FIRST_VIEWS, SHOWN
from tests.conftest import app_page

pytestmark = pytest.mark.browser

# the figure of each sub-tab (its first view), and the control beside it that drives it
SCREENS = {
    **{k: (v[0], None) for k, v in FIRST_VIEWS.items()},
    ("VAE", "Ancestral sampling"): ("#vae-stage-z", None),
    ("VAE", "Latent map"): ("#vae-map", "#vae-z1"),
    ("KL divergence", "Monte Carlo vs closed form"): ("#kl-plot", "#kl-mu-p"),
    ("Diffusion in 2-D", "The field"): ("#plane-field", "#plane-t"),
    ("Diffusion in 2-D", "Particles"): ("#plane-particles", "#plane-steps"),
    ("Diffusion in 2-D", "Your own data"): ("#plane-draw", "#plane-train"),
    ("VAE", "Train one"): ("#vae-train-curves", "#vae-train"),
}
# figures that stay empty until their button is pressed: their box must be on the first screen all the same
EMPTY_UNTIL_PRESSED = {("VAE", "Train one")}
# a sub-tab's first control when none is named: the first input or button of its panel, in reading order
FIRST_CONTROL = """sel => {
  const panel = document.querySelector(sel).closest('[role=tabpanel]');
  return [...panel.querySelectorAll('input, button, select, textarea')].find(c => c.offsetParent !== null
    && !c.closest('[role=tablist], .ge-export, .ge-path, .ge-links, .label-wrap') && c.getAttribute('role') !== 'tab');
}"""
BOX = """el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"""


def _inside(box, w, h) -> bool:
    left, top, right, bottom = box
    return left >= 0 and top >= 0 and right <= w + 0.5 and bottom <= h + 0.5


# the screens: a laptop, a larger one, and a projector's 1280 × 720 in presenter mode (large type, no title line)
SIZES = {"1280x720": (1280, 720, ""), "1400x1000": (1400, 1000, ""), "presenter-1280x720": (1280, 720, "?present=1")}
# Not yet wholly on the first screen, strict xfails: each must fail now, and its entry goes when its layout is fixed.
# In presenter mode the larger type makes these figures and their controls taller than what is left under the tabs.
TODO: dict[str, set[tuple[str, str]]] = {
    "1280x720": set(), "1400x1000": set(),
    "presenter-1280x720": {("VAE", "Exact log p(x)"), ("Diffusion", "Same seed, two samplers"),
                           ("Diffusion in 2-D", "Particles")},
}


@pytest.fixture(scope="module", params=list(SIZES))
def screen(request, browser, app_server):
    """One page per screen, opened once: each sub-tab is then opened in it, as on a first visit."""
    width, height, query = SIZES[request.param]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(app_server.url + "/" + query)
    page.wait_for_selector("#vae-decoded .ge-dec", state="attached", timeout=60_000)
    yield page, width, height, request.param
    page.close()


@pytest.mark.parametrize("where", [pytest.param(k, id=" › ".join(k)) for k in SCREENS])
def test_the_figure_and_its_control_are_on_the_first_screen(screen, where, request):
    page, width, height, name = screen
    if where in TODO[name]:
        request.applymarker(pytest.mark.xfail(strict=True, reason="not yet laid out for this screen"))
    lab, view = where
    figure, control = SCREENS[where]
    page.get_by_role("tab", name=lab, exact=True).click()
    page.get_by_role("tab", name=view, exact=True).click()
    if where == ("VAE", "Exact log p(x)") and page.locator("#vae-fail-gallery").count():
        figure = "#vae-fail-plot"  # MNIST's digits loaded: the gallery and its figures come first, the table under
    page.locator(figure).wait_for(state="visible", timeout=30_000)
    if where not in EMPTY_UNTIL_PRESSED:
        page.wait_for_function(SHOWN, arg=figure, timeout=60_000)  # drawn at its size, not an empty box
    if figure in ("#plane-field", "#plane-particles"):  # (drawn in the page, once their data have loaded)
        page.wait_for_selector(f"{figure} [data-loaded]", timeout=60_000)
    page.evaluate("window.scrollTo(0, 0)")
    boxes = [("figure " + figure, page.locator(figure).evaluate(BOX))]
    ctl = page.locator(control) if control else page.evaluate_handle(FIRST_CONTROL, figure).as_element()
    if ctl is None:  # only the exact table, where the test digits hold none of the card's worst digits
        assert where == ("VAE", "Exact log p(x)") and page.locator("#vae-fail-none").is_visible()
    else:
        boxes.append(("its control", ctl.evaluate(BOX)))
    misses = [f"{what} at {[round(v) for v in box]}" for what, box in boxes if not _inside(box, width, height)]
    assert not misses, f"{lab} › {view} at {width} × {height}: " + "; ".join(misses)


def test_start_here_is_one_line_that_is_remembered_once_opened(pages, app_server):
    with app_page(pages, app_server.url) as page:
        path = page.locator("#vae-path")
        assert path.bounding_box()["height"] < 60  # one line, closed
        assert "(seen)" not in page.evaluate("getComputedStyle(document.querySelector('#vae-path .label-wrap span'),"
                                             " '::after').content")
        path.locator(".label-wrap").click()
        page.locator("#vae-step-1").wait_for(state="visible")
    with app_page(pages, app_server.url, wait=False) as page:  # the same browser, later
        page.wait_for_function("() => document.querySelector('#vae-path').classList.contains('ge-path-seen')")
        assert "(seen)" in page.evaluate("getComputedStyle(document.querySelector('#vae-path .label-wrap span'),"
                                         " '::after').content")
        page.get_by_role("tab", name="KL divergence", exact=True).click()
        page.locator("#kl-path").wait_for(state="visible")
        assert not page.locator("#kl-path").evaluate("el => el.classList.contains('ge-path-seen')")  # its own

"""A phone-sized viewport (390 × 844): the reverse viewer keeps its blocks, buttons and slider together, and the KL
figure and the VAE's decoded pair stay in view while their sliders move, covering none of them."""

import pytest

from tests.conftest import opened

pytestmark = pytest.mark.browser

RECT = "sel => { const r = document.querySelector(sel).getBoundingClientRect(); " \
       "return [r.left, r.top, r.right, r.bottom]; }"


@pytest.fixture
def phone(browser, app_server):
    pg = browser.new_page(viewport={"width": 390, "height": 844})
    yield pg
    pg.close()


def test_the_kl_figure_stays_in_view_while_its_sliders_move(phone, app_server):
    phone.goto(app_server.url + "/?lab=kl")
    opened(phone)
    # the page draws the figure once its tab shows: scrolled before that, the figure's 270 px pushed the slider off
    # the screen (the figure then sat where it was drawn, 609–879 px, below the fold)
    phone.wait_for_selector("#kl-plot .js-plotly-plot .main-svg", timeout=30_000)
    # the fonts (KaTeX's among them) load after the first layout and move what is below them: scroll once they have
    # (in one run under load the slider ended 11 px below the screen; a late font load is the likely cause)
    phone.evaluate("() => document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => "
                   "requestAnimationFrame(r))))")
    slider = phone.locator("#kl-sigma-q input[type=range]")
    slider.evaluate("el => el.scrollIntoView({block: 'end'})")  # the slider at the bottom of the screen, as a thumb
    slider.focus()                                                # would reach it
    before = phone.inner_text("#kl-qp")
    for _ in range(5):
        phone.keyboard.press("ArrowRight")
    phone.wait_for_function("b => document.querySelector('#kl-qp').innerText !== b", arg=before, timeout=5_000)
    plot = phone.evaluate(RECT, "#kl-plot .js-plotly-plot")
    knob = phone.evaluate(RECT, "#kl-sigma-q input[type=range]")
    assert 0 <= plot[1] and plot[3] <= 844 and plot[2] <= 390  # the whole figure on screen
    assert plot[3] <= knob[1] <= 844  # and the slider below it, not under it


def test_the_reverse_viewer_keeps_its_rows_buttons_and_slider_together(phone, app_server):
    phone.goto(app_server.url + "/?lab=diffusion&view=reverse")
    opened(phone)
    phone.locator("#diff-frame").scroll_into_view_if_needed()
    img = phone.evaluate(RECT, "#diff-frame .ge-film-img")
    labels = phone.evaluate(RECT, "#diff-frame .ge-film-labels")
    buttons = [phone.evaluate(RECT, f"#diff-frame .ge-film-btn[data-act={a}]") for a in ("prev", "play", "next")]
    track = phone.evaluate(RECT, "#diff-frame .ge-film-range")
    assert img[2] <= 390 and track[2] <= 390 and all(b[2] <= 390 for b in buttons)  # nothing off the screen
    assert labels[3] <= img[1] + 2 and abs(labels[0] - img[0]) < 20  # the blocks' names right above them
    assert len({round(b[1]) for b in buttons}) == 1  # the three buttons on one line
    assert 0 <= track[1] - buttons[0][3] < 60  # the slider right under them


def test_the_vae_decoded_pair_stays_in_view_above_the_slider_that_moves(phone, app_server):
    phone.goto(app_server.url + "/?lab=vae")
    opened(phone)
    phone.evaluate("() => document.fonts.ready")
    slider = phone.locator("#vae-z2 input[type=range]")
    slider.evaluate("el => el.scrollIntoView({block: 'end'})")  # at the bottom of the screen, under a thumb
    slider.focus()
    for _ in range(30):
        phone.keyboard.press("ArrowRight")
    phone.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=5_000)
    pair = phone.evaluate(RECT, "#vae-decoded")
    block = phone.evaluate(RECT, "#vae-z2")
    assert 0 <= pair[1] and pair[3] <= 844 and pair[2] <= 390  # the pair on screen, the page's drawing in it
    assert pair[3] <= block[1] and block[3] <= 844  # the slider, its label too, below it and on screen

"""Nothing is empty on first load, and a link restores the view it was copied from (explorer/links.py,
static/links.js), in real Chromium."""

import json
import time

import pytest

from tests.conftest import app_page, opened, settled

pytestmark = pytest.mark.browser

# every view that used to wait for a button, by lab and sub-tab
FIRST_VIEWS = {
    ("VAE", "Ancestral sampling"): ["#vae-stage-z", "#vae-stages", "#vae-sample-grid"],
    ("VAE", "Latent map"): ["#vae-map", "#vae-manifold"],
    ("VAE", "Encode"): ["#vae-enc-images", "#vae-enc-q", "#vae-enc-kl"],
    ("VAE", "Likelihood"): ["#vae-lik-plot", "#vae-lik-elbo", "#vae-lik-under"],
    ("VAE", "Exact log p(x)"): ["#vae-fail-table"],  # (+ the gallery's first digit where the MNIST digits are loaded)
    ("VAE", "Two gaps"): ["#vae-gaps-bar", "#vae-gaps-table"],
    ("VAE", "β-VAE"): ["#vae-beta-kl", "#vae-beta-rd", "#vae-beta-maps", "#vae-beta-table"],
    ("VAE", "Interpolation"): ["#vae-interp"],
    ("KL divergence", "Monte Carlo vs closed form"): ["#kl-mc-plot", "#kl-mc-table"],
    ("KL divergence", "Forward vs reverse KL"): ["#kl-fit-plot", "#kl-fit-table"],
    ("KL divergence", "Two 2-D Gaussians"): ["#kl2-plot"],
    ("KL divergence", "The VAE's KL term"): ["#kl-vae-plot", "#kl-vae-md"],
    ("Diffusion", "Forward process"): ["#diff-forward", "#diff-snapshots"],
    ("Diffusion", "Reverse process"): ["#diff-frame", "#diff-status"],
    ("Diffusion", "Same seed, two samplers"): ["#diff-compare"],
    ("Diffusion", "ELBO per timestep"): ["#diff-elbo-plot", "#diff-elbo-table"],
    ("Diffusion", "Spectrum"): ["#diff-spec-plot"],
    ("Diffusion in 2-D", "Guidance"): ["#plane-g-plot", "#plane-g-md"],
    ("Diffusion in 2-D", "Step budget"): ["#plane-a-plot", "#plane-a-md"],
}
# a view is shown when it holds a drawn figure, an image or text, and no Gradio "empty" placeholder
SHOWN = """sel => { const el = document.querySelector(sel);
  if (!el || el.querySelector('[aria-label="Empty value"], .empty')) return false;
  return el.querySelector('.js-plotly-plot .main-svg, img[src], canvas') !== null
    || (el.innerText || '').trim().length > 20; }"""


def _open(pg, *tabs: str) -> None:
    for name in tabs:
        pg.get_by_role("tab", name=name, exact=True).click()


def _number(pg, elem_id: str, value) -> None:
    box = pg.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _link(pg) -> str:
    pg.wait_for_function("() => window.geLinks")
    return pg.evaluate("window.geLinks.link()")


def test_a_fresh_page_shows_no_empty_view(page):
    for (lab, view), selectors in FIRST_VIEWS.items():
        _open(page, lab, view)
        for sel in selectors:
            try:
                page.wait_for_function(SHOWN, arg=sel, timeout=30_000)
            except Exception as e:
                raise AssertionError(f"{lab} → {view}: {sel} is empty on first load") from e
    assert "test digit #0" in page.locator("#vae-enc-images").inner_text()


def test_the_url_follows_the_view_and_a_kl_link_restores_it(page, pages):
    _open(page, "KL divergence", "Monte Carlo vs closed form")
    _number(page, "kl-mu-q", 2.5)
    page.locator("#kl-direction").get_by_text("KL(q‖p)").click()
    _open(page, "Two 2-D Gaussians")
    _number(page, "kl2-rho-q", 0.5)
    page.wait_for_function("() => location.search.includes('rho')")  # the page keeps its URL up to date
    url = _link(page)
    assert "lab=kl" in url and "view=two-d" in url and "mu_q=2.5" in url and "q_rho=0.5" in url
    assert "dir=KL" in url and "sigma_p" not in url  # defaults stay out of the link
    page.wait_for_function("() => document.querySelector('#kl2-plot .ge-page-plot').dataset.server?.includes('0.5')")
    want = [page.locator(s).inner_text() for s in ("#kl2-pq", "#kl2-qp")]
    _open(page, "Monte Carlo vs closed form")  # (a hidden element's innerText has no line breaks)
    want.insert(0, page.locator("#kl-pq").inner_text())
    with app_page(pages, url) as other:  # a second page, in the same context
        other.wait_for_function("() => document.querySelector('#kl2-plot .ge-page-plot')?.dataset.server"
                                "?.includes('0.5')", timeout=30_000)
        assert other.locator("#kl-views [role=tab][aria-selected=true]").inner_text() == "Two 2-D Gaussians"
        assert [other.locator(s).inner_text() for s in ("#kl2-pq", "#kl2-qp")] == want[1:]
        assert not other.locator("#ge-link-note").is_visible()
        _open(other, "Monte Carlo vs closed form")  # the 1-D panel's sub-tab: what the link set there too
        assert other.locator("#kl-mu-q input[type=number]").input_value() == "2.5"
        assert other.locator("#kl-direction input[aria-checked=true], #kl-direction input:checked"
                             ).first.input_value() == "KL(q‖p)"
        other.wait_for_function("t => document.querySelector('#kl-pq').innerText === t", arg=want[0])


def test_a_vae_link_restores_the_model_z_and_the_encoded_digit(page, pages):
    _open(page, "VAE", "Encode")
    _number(page, "vae-index", 5)
    page.locator("#vae-encode-btn").click()
    page.wait_for_function("() => document.querySelector('#vae-enc-images').innerText.includes('#5')")
    _number(page, "vae-z1", 1.25)
    _number(page, "vae-seed", 3)
    page.wait_for_function("() => location.search.includes('z1=1.25') && location.search.includes('seed=3')")
    url = _link(page)
    assert "view=encode" in url and "digit=5" in url
    server = "() => { const b = document.querySelector('#vae-decoded .ge-dec-server'); " \
             "return !b.hidden && b.innerHTML.includes('seed 3'); }"
    # the server's answer for z1 = 1.25 and seed 3 (typed before the drag's own answer came: it must not undo it)
    page.wait_for_function(server, timeout=30_000)
    settled(page)  # no answer still on its way
    want = page.locator("#vae-decoded .ge-dec-server").inner_html()
    with app_page(pages, url) as other:  # a second page, in the same context
        other.wait_for_function("() => document.querySelector('#vae-enc-images')?.innerText.includes('#5')",
                                timeout=30_000)
        assert other.locator("#vae-views [role=tab][aria-selected=true]").inner_text() == "Encode"
        assert other.locator("#vae-z1 input[type=number]").input_value() == "1.25"
        other.wait_for_function("w => document.querySelector('#vae-decoded .ge-dec-server').innerHTML === w",
                                arg=want, timeout=30_000)


def test_a_link_opens_before_its_slow_views_are_drawn(pages, app_server):
    """A link to a digit's likelihood: the page's first answer sets the controls while the server still computes
    the likelihood (about a second, for a seed no other test asks for), which the load's generator yields next
    (explorer/links.py, `later` openings); only then does the page mark itself opened."""
    url = f"{app_server.url}/?lab=vae&view=likelihood&digit=7&k=2000&lik_seed=92"
    with app_page(pages, url, wait=False) as pg:
        # the seed restored, and the plot showing Gradio's progress of the page load's generator, which has yet to
        # send it (in a single answer, the seed would come with the plot itself)
        pg.wait_for_function("""() => document.querySelector('#vae-lik-seed input')?.value === '92'
            && document.querySelector('#vae-lik-plot .wrap.generating, #vae-lik-plot .wrap .progress-text')""",
                             timeout=30_000)
        assert not pg.evaluate(SHOWN, "#vae-lik-plot")
        assert pg.evaluate("() => document.documentElement.dataset.geRestored") is None
        opened(pg)
        pg.wait_for_function(SHOWN, arg="#vae-lik-plot", timeout=10_000)


def test_a_diffusion_link_restores_the_reverse_run(page, pages):
    _open(page, "Diffusion", "Reverse process")
    _number(page, "diff-steps", 10)
    _number(page, "diff-seed", 7)
    page.wait_for_function("() => location.search.includes('steps=10') && location.search.includes('seed=7')")
    url = _link(page)
    assert "lab=diffusion" in url and "view=reverse" in url
    held = []

    def hold_the_first_request(pg):
        """The page's first request held 1.5 s, as a busy server would: the address bar, kept from the controls every
        second, must not fall back to the defaults meanwhile, and the reverse run (in the page's second answer) must
        still be the link's."""
        def hold(route):
            if not held:
                held.append(route.request.url)
                time.sleep(1.5)
            route.continue_()
        pg.route("**/queue/join*", hold)

    with app_page(pages, url, before=hold_the_first_request) as other:  # a second page, in the same context
        other.wait_for_function("() => /DDIM.*10 steps.*seed 7.*done/.test(document.querySelector('#diff-status')"
                                ".innerText)", timeout=60_000)
        assert held and other.locator("#diff-views [role=tab][aria-selected=true]").inner_text() == "Reverse process"
        search = other.evaluate("() => location.search")
        assert "steps=10" in search and "seed=7" in search, search


def test_a_bad_link_gives_a_note_and_the_defaults(page, pages):
    base = page.url.split("?")[0]
    with app_page(pages, base + "?lab=kl&view=nowhere&mu_q=99&sigma_p=abc&volume=11&mu_p=1.5") as other:
        note = other.locator("#ge-link-note")
        note.wait_for(state="visible", timeout=30_000)
        text = note.inner_text()
        assert "view=nowhere" in text and "mu_q=99" in text and "sigma_p=abc" in text and "volume" in text
        assert other.locator("#kl-mu-q input[type=number]").input_value() == "1"  # the default
        assert other.locator("#kl-mu-p input[type=number]").input_value() == "1.5"  # the rest is restored
        assert other.locator("#labs [role=tab][aria-selected=true]").first.inner_text() == "KL divergence"
        other.wait_for_function("() => JSON.parse(document.querySelector('#kl-plot .ge-page-plot').dataset.server"
                                " || '[]')[0] === 1.5", timeout=30_000)


def test_copy_link_gives_the_link(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open(page, "Diffusion")
    page.locator("#tab-diffusion .ge-links-copy").click()
    root = page.locator("#tab-diffusion .ge-links")
    page.wait_for_function("() => document.querySelector('#tab-diffusion .ge-links').dataset.link")
    assert json.dumps(root.get_attribute("data-link")).count("lab=diffusion") == 1
    assert "copied" in root.inner_text() or "lab=diffusion" in root.inner_text()


def test_a_step_sets_the_controls_and_shows_its_view(page):
    """A lab's numbered "try this" steps (Links.path): the button sets the controls and the view, the answer to its
    prediction stays hidden until asked for, and the URL follows."""
    _open(page, "KL divergence")
    page.locator("#kl-path .label-wrap").click()  # "Start here" is one closed line until opened
    step = page.locator("#kl-step-3")
    assert step.inner_text() == "3 · Not symmetric"
    answer = page.locator("#tab-kl .ge-reveal").nth(1)
    assert "6.11" not in answer.inner_text()  # behind its disclosure until asked for
    answer.locator("summary").click()
    assert "6.11 nats" in answer.inner_text()
    step.click()
    page.wait_for_function("() => document.querySelector('#kl-pq').innerText.startsWith('6.11')", timeout=30_000)
    assert [page.locator(f"#kl-{k} input[type=number]").input_value() for k in ("mu-p", "sigma-p", "mu-q", "sigma-q")
            ] == ["0", "2", "0", "0.5"]
    page.wait_for_function("() => location.search.includes('sigma_q=0.5')")
    _open(page, "VAE")
    page.locator("#vae-path .label-wrap").click()
    page.locator("#vae-step-4").click()
    page.wait_for_function("() => document.querySelector('#vae-enc-images')?.innerText.includes('#7')",
                           timeout=60_000)
    assert page.locator("#vae-views [role=tab][aria-selected=true]").inner_text() == "Encode"
    assert page.locator("#vae-index input[type=number]").input_value() == "7"

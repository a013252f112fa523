"""The VAE decoder computed in the page: the same numbers as torch, and dragging without a server."""

import contextlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.browser.test_labs import SHOWN
from tests.conftest import CHECKPOINTS, ROOT, launch_app, opened, settled, start_app, wait_until_up
from train.checkpoint import load_checkpoint

pytestmark = pytest.mark.browser

DECODE = """async ([model, z]) => {
  const root = document.querySelector('#vae-decoded .ge-dec');
  const key = JSON.stringify([model, 0, z]);
  root.dispatchEvent(new CustomEvent('ge-decode', {detail: {model, seed: 0, z}}));
  for (let i = 0; i < 200 && root.dataset.drawn !== key; i++) await new Promise(r => setTimeout(r, 25));
  return root.dataset.drawn === key ? Array.from(root.geProbs) : null;
}"""


@pytest.fixture(scope="module", autouse=True)
def vae_app(synthetic_data, vae_checkpoints):
    """The restart test's own app (VAE and KL labs only), launched as this module starts so that it is up by the
    time that test comes (a start costs ~10 s of CPU)."""
    server = launch_app(synthetic_data, vae_checkpoints)
    yield server
    if server.alive():
        server.proc.kill()
        server.proc.wait()


@pytest.mark.parametrize(("name", "file"), [("2-D latent", "vae_2d"), ("32-D latent", "vae_32d")])
def test_the_page_decodes_as_torch_does(page, name, file):
    vae = load_checkpoint(CHECKPOINTS / f"{file}.safetensors")
    D = vae.latent_dim
    g = torch.Generator().manual_seed(0)
    zs = [*(torch.rand(D, generator=g) * 8 - 4 for _ in range(6)), torch.full((D,), 4.0), torch.full((D,), -4.0),
          torch.tensor([(-4.0) ** (d + 1) / 4 ** d for d in range(D)])]  # random z and corners of the range
    for z in zs:
        probs = page.evaluate(DECODE, [name, [round(float(v), 4) for v in z]])
        assert probs is not None, "the page did not decode"
        with torch.no_grad():
            want = vae.decode_probs(torch.tensor([round(float(v), 4) for v in z])[None])[0].double().numpy()
        assert np.abs(np.asarray(probs) - want).max() < 1e-5


def _press_and_drag(pg, slider: str, to: float, steps: int) -> None:
    """Press the mouse on the middle of `slider`'s track and drag to the fraction `to` of it (still held)."""
    track = pg.locator(f"{slider} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * to, y, steps=steps)


def _server_replaces_and_agrees(pg, slider: str, to: float) -> None:
    """Drag `slider` to `to`, release, and check that the server's answer replaces the page's drawing and shows
    the same image (up to rounding) for the same z."""
    _press_and_drag(pg, slider, to, 6)
    pg.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=10_000)
    pg.mouse.up()
    # after the drag settles the server answers for the same z, and its images replace the page's
    pg.wait_for_function("() => document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=10_000)
    drawn = json.loads(pg.evaluate("() => document.querySelector('#vae-decoded .ge-dec').dataset.drawn"))
    k = int(slider.removeprefix("#vae-z")) - 1
    z = float(pg.locator(f"{slider} input[type=number]").input_value())
    assert drawn[0] == "2-D latent" and drawn[2][k] == pytest.approx(z, abs=1e-9)  # the page drew the final z
    page_png = pg.evaluate("() => document.querySelector('#vae-decoded .ge-dec-mean').toDataURL()")  # its last
    pixels = pg.evaluate("""async (src) => {
      const read = async s => { const im = new Image(); im.src = s; await im.decode();
        const c = document.createElement('canvas'); c.width = c.height = 28; const x = c.getContext('2d');
        x.drawImage(im, 0, 0, 28, 28);
        return Array.from(x.getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 == 0); };
      return [await read(src), await read(document.querySelector('#vae-decoded .ge-dec-server img').src)];
    }""", page_png)
    assert np.abs(np.asarray(pixels[0]) - np.asarray(pixels[1])).max() <= 1  # the same image, up to rounding


def test_the_servers_answer_replaces_the_pages_and_agrees(page):
    _server_replaces_and_agrees(page, "#vae-z1", 0.7)


ASK = """([model, z]) => document.querySelector('#vae-decoded .ge-dec')
  .dispatchEvent(new CustomEvent('ge-decode', {detail: {model, seed: 0, z}}))"""


def _pause(request) -> bool:
    """The page's settle for z = (1.2345, 0)."""
    return (json.loads(request.post_data or "{}").get("event_data") or {}).get("z") == [1.2345, 0]


@contextlib.contextmanager
def _first_pause_held(page):
    """The page pauses a drag at z = (1.2345, 0) and sends the server a settle, whose answer is held back, as a busy
    server would; yields the held route (`.continue_()` lets the answer come). The route is removed on leaving."""
    held = []

    def hold_the_first_pause(route):
        if _pause(route.request) and not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/gradio_api/queue/join*", hold_the_first_pause)
    try:
        page.evaluate(ASK, ["2-D latent", [1.2345, 0]])  # the hand pauses here (the page sends a settle)
        page.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=5_000)
        if not held:  # the request, then its route handler (Playwright runs handlers while it waits on the page)
            page.wait_for_event("request", lambda r: "queue/join" in r.url and _pause(r), timeout=5_000)
        for _ in range(100):
            if held:
                break
            page.evaluate("0")
        assert held, "the page sent no settle for the pause"
        yield held[0]
    finally:
        page.unroute("**/gradio_api/queue/join*")


def test_a_late_answer_to_a_pause_within_the_drag_is_not_shown(page):
    """A pause within a drag sends the server a settle; on a busy server its answer can come after the hand has
    stopped elsewhere. It must not replace the page's drawing (the view would jump back to where the hand paused
    until the next answer came): only the answer for where the hand stopped does. (The first answer is held back
    here, as a busy server would.)"""
    with _first_pause_held(page) as held:
        page.evaluate(ASK, ["2-D latent", [-1.5, 0.5]])  # … and stops here
        # the hand has stopped: the page takes an answer for another z only once it is still (lib/settle.js)
        page.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec').geMoving()", timeout=5_000)
        page.evaluate("""() => { window.geShown = [];
          const box = document.querySelector('#vae-decoded .ge-dec-page');
          new MutationObserver(() => { if (box.hidden) window.geShown.push(
            document.querySelector('#vae-decoded .ge-dec-server img').alt); }).observe(box, {attributes: true}); }""")
        held.continue_()
        page.wait_for_function("() => window.geShown.length > 0", timeout=15_000)
        settled(page)  # every answer that was coming has come
        shown = page.evaluate("window.geShown")
        assert all("-1.5" in alt for alt in shown), shown  # never the pause's answer, z = (1.2345, 0)


def test_a_seed_typed_while_a_drags_answer_is_out_is_not_undone_by_it(page):
    """A seed typed while the server still works on a drag's question (asked with the old seed): the answer for
    the old seed, coming last, must not replace the new seed's (the seed had a server event of its own, and
    whichever answer came last was shown; CI saw it). The drag's answer is held back here, as a busy server would."""
    with _first_pause_held(page) as held:
        box = page.locator("#vae-seed input[type=number]")
        box.fill("3")
        box.press("Enter")
        page.wait_for_function("() => document.querySelector('#vae-decoded .ge-dec-seed').textContent === '3'",
                               timeout=5_000)  # the page draws the new seed at once
        # the hand is still when the old answer comes (as on a busy server): the page must not take its seed
        page.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec').geMoving()", timeout=5_000)
        held.continue_()
        settled(page)
        page.wait_for_function("() => { const r = document.querySelector('#vae-decoded');"
                               " return r.querySelector('.ge-dec-page').hidden &&"
                               " r.querySelector('.ge-dec-server').innerHTML.includes('seed 3'); }", timeout=15_000)
        settled(page)  # every answer that was coming has come: the last one shown is still seed 3's
        html = page.inner_html("#vae-decoded .ge-dec-server")
        assert "seed 3" in html and "z = (0.00, 0.00)" in html, html  # the sliders' z (ASK moves none), seed 3


def test_dragging_needs_no_server_and_the_restarted_server_agrees(browser, synthetic_data, vae_checkpoints, vae_app):
    """The page really computes: once it has loaded, dragging a VAE latent slider and the KL lab's μ_q still redraws
    with the server stopped; after a restart on the same port, the server's settled answers replace the page's with
    the same image and the same numbers. (One app without the diffusion lab, stopped once, for both labs.)"""
    server = wait_until_up(vae_app)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(server.url)
        pg.wait_for_function("() => (document.querySelector('#vae-decoded .ge-dec')?.dataset.loaded || '')"
                             ".includes('2-D latent')", timeout=60_000)  # the weights came with the page
        opened(pg)
        _tab(pg, "KL divergence")
        pg.wait_for_selector("#kl-plot .js-plotly-plot", timeout=60_000)
        _tab(pg, "VAE")
        folder = Path(re.search(r"files for the page \(removed at exit\): (\S+)", server.log.read_text())[1])
        assert folder.is_dir()
        server.proc.terminate()  # SIGTERM, as a service manager stops it: the app's files go, as on Ctrl-C
        assert server.proc.wait(30) == 0 and not folder.exists()  # (seconds under load: 2 cores, a browser, the tests)
        before = pg.evaluate(SHOWN)
        _press_and_drag(pg, "#vae-z2", 0.9, 8)
        pg.wait_for_function(f"b => ({SHOWN})() !== b", arg=before, timeout=10_000)
        pg.mouse.up()
        _tab(pg, "KL divergence")
        before = pg.inner_text("#kl-pq")
        pg.locator("#kl-mu-q input[type=range]").focus()
        for _ in range(10):
            pg.keyboard.press("ArrowRight")
        pg.wait_for_function("b => document.querySelector('#kl-pq').innerText !== b", arg=before, timeout=5_000)
        # the page draws once per animation frame: the tenth key's frame may come after the first changed number
        drawn = "() => JSON.parse(document.querySelector('#kl-plot .ge-page-plot').dataset.drawn)"
        pg.wait_for_function(f"() => Math.abs(({drawn})()[2] - 1.1) < 1e-9", timeout=5_000)
        assert pg.evaluate(drawn) == [0, 1, pytest.approx(1.1), 0.8, "KL(p‖q)"]
        # Gradio reloads the page once its server is back (a "load": the address's own updates, which are
        # navigations within the page, do not count)
        with pg.expect_event("load", timeout=60_000):
            server = start_app(synthetic_data, vae_checkpoints, port=port)
        opened(pg)  # the reloaded page's address kept the view (static/links.js): μ_q as it was dragged
        assert pg.locator("#kl-mu-q input[type=number]").input_value() == "1.1"
        pg.wait_for_selector("#kl-plot .js-plotly-plot", timeout=60_000)
        pg.locator("#kl-mu-q input[type=range]").focus()
        for _ in range(7):
            pg.keyboard.press("ArrowRight")
        pg.wait_for_function("() => JSON.parse(document.querySelector('#kl-plot .ge-page-plot').dataset.drawn)[2]"
                             " > 1.165", timeout=5_000)
        page_html = pg.inner_html("#kl-numbers")  # the page's own numbers, drawn at the last key press
        pg.wait_for_function("() => { const r = document.querySelector('#kl-plot .ge-page-plot'); "
                             "return r.dataset.server === r.dataset.drawn; }", timeout=15_000)
        assert pg.inner_html("#kl-numbers") == page_html  # the server's numbers replace them, and are the same
        assert json.loads(pg.evaluate("() => document.querySelector('#kl-plot .ge-page-plot').dataset.server")) == \
            [0, 1, pytest.approx(1.17), 0.8, "KL(p‖q)"]
        _tab(pg, "VAE")
        _server_replaces_and_agrees(pg, "#vae-z2", 0.8)
        pg.close()
    finally:
        if server.alive():
            server.proc.kill()


def _tab(pg, name: str) -> None:
    pg.get_by_role("tab", name=name, exact=True).click()


def test_root_is_the_repository():
    assert (ROOT / "explorer" / "static" / "decoder.js").exists()


def _drawn(page):
    d = page.evaluate("() => document.querySelector('#vae-decoded .ge-dec').dataset.drawn")
    return json.loads(d) if d else None


def test_hovering_the_map_and_the_manifold_decodes_the_point_under_the_pointer(page):
    vae = load_checkpoint(CHECKPOINTS / "vae_2d.safetensors")
    page.get_by_role("tab", name="Latent map").click()
    page.wait_for_function("() => (document.querySelector('#vae-map .ge-live-plot').data || []).length > 10",
                           timeout=30_000)  # the test digits' points are drawn: the plot has its final size
    page.locator("#vae-map").scroll_into_view_if_needed()
    settled(page)
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('#vae-map .ge-live-plot'), L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        return [r.left + L._size.l + L.xaxis.d2p(1.0), r.top + L._size.t + L.yaxis.d2p(-0.5)];
    }""")
    page.mouse.move(x, y)
    page.wait_for_function("() => !document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=5_000)
    model, _seed, z = _drawn(page)
    assert model == "2-D latent" and abs(z[0] - 1.0) < 0.05 and abs(z[1] + 0.5) < 0.05  # the point under the pointer
    probs = page.evaluate("() => Array.from(document.querySelector('#vae-decoded .ge-dec').geProbs)")
    with torch.no_grad():
        want = vae.decode_probs(torch.tensor([z]))[0].double().numpy()
    assert np.abs(np.asarray(probs) - want).max() < 1e-5
    assert float(page.locator("#vae-z1 input[type=number]").input_value()) == 0  # a preview: the sliders stay
    # at most one draw per frame: a pointer move is drawn at once, in its frame; twenty more in that frame wait for
    # the next, which draws the last of them
    draws, last = page.evaluate("""async ([x, y]) => {
      const root = document.querySelector('#vae-decoded .ge-dec'), n = root.geCosts.length;
      const target = document.querySelector('#vae-map .ge-live-plot .nsewdrag');
      await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));  // a frame that has not drawn yet
      for (let i = 0; i <= 20; i++)
        target.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: x + 2 * i, clientY: y}));
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      return [root.geCosts.length - n, JSON.parse(root.dataset.drawn)[2]];
    }""", [x, y])
    assert 1 <= draws <= 2 and last[0] == pytest.approx(page.evaluate("""x => {
        const gd = document.querySelector('#vae-map .ge-live-plot'), L = gd._fullLayout;
        return L.xaxis.p2d(x - gd.getBoundingClientRect().left - L._size.l); }""", x + 40), abs=0.03)  # ~1 px

    grid = page.locator("#vae-manifold img").bounding_box()
    page.mouse.move(grid["x"] + grid["width"] / 30, grid["y"] + grid["height"] / 30)  # the top-left cell
    page.wait_for_function("() => { const d = document.querySelector('#vae-decoded .ge-dec').dataset.drawn;"
                           " return d && JSON.parse(d)[2][0] < -1.5; }", timeout=5_000)
    _, _, z = _drawn(page)
    assert z[0] == pytest.approx(-1.6449, abs=1e-3) and z[1] == pytest.approx(1.6449, abs=1e-3)  # 5% / 95% quantiles
    page.mouse.move(5, 5)  # away: the view shows the sliders' z again
    page.wait_for_function("() => document.querySelector('#vae-decoded .ge-dec-page').hidden", timeout=5_000)

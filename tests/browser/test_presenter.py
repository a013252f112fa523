"""Presenter mode: large type for a projector, three saved views stepped through with → like slides, and a QR code
that decodes (jsQR, vendored for the tests only) to the link of the view on screen."""

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import opened

pytestmark = pytest.mark.browser

JSQR = Path(__file__).resolve().parent / "vendor" / "jsqr" / "jsQR.js"
DECODE = """() => {
  const img = document.querySelector('.ge-present-qr');
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const x = c.getContext('2d'); x.drawImage(img, 0, 0);
  const found = jsQR(x.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
  return found && found.data;
}"""


def _view(url: str) -> tuple:
    """A link's page and its query without presenter mode."""
    u = urlsplit(url)
    return u.netloc, u.path, sorted(kv for kv in parse_qsl(u.query) if kv[0] != "present")


def test_the_presenter_steps_through_saved_views_and_shows_their_qr_code(browser, app_server):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        views = ["lab=kl&mu_q=2", "lab=vae&view=map", "lab=diffusion&view=forward&t=300"]
        for q in views:
            page.goto(f"{app_server.url}/?{q}&present=1")
            opened(page)
            assert page.evaluate("document.documentElement.classList.contains('ge-presenting')")
            assert not page.locator("#ge-link-note").is_visible()  # present=1 is the page's, no lab's setting
            page.click(".ge-present-add")
        slides = page.evaluate("JSON.parse(localStorage.getItem('ge-slides'))")
        assert len(slides) == 3 and all("present=1" in s for s in slides)
        assert [re.search(r"lab=(\w+)", s).group(1) for s in slides] == ["kl", "vae", "diffusion"]
        assert "slide 3 of 3" in page.inner_text(".ge-present-where")
        # large type, and no prose: the title line and the labs' theory are hidden
        assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('gradio-app'))"
                             ".getPropertyValue('--text-md'))") >= 20
        assert not page.locator("#tab-diffusion .block.ge-about").is_visible()
        assert not page.locator(".ge-head").is_visible()
        # → from the last slide wraps to the first
        page.evaluate("document.activeElement && document.activeElement.blur()")  # keys to the page, not a control
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"lab=kl"), timeout=30_000)
        opened(page)
        assert "slide 1 of 3" in page.inner_text(".ge-present-where")
        # the QR code is the link of the view on screen (without presenter mode)
        page.locator(".ge-present-qr-box summary").click()
        page.add_script_tag(path=str(JSQR))
        page.wait_for_function("() => { const i = document.querySelector('.ge-present-qr'); "
                               "return i.complete && i.naturalWidth > 0; }")  # (its library loads on demand)
        link = page.evaluate("window.geLinks.link()")
        decoded = page.evaluate(DECODE)
        assert "present" not in decoded and _view(decoded) == _view(link)
        # leaving presenter mode: the normal layout, and the link without present=1
        page.click(".ge-present-toggle")
        assert not page.evaluate("document.documentElement.classList.contains('ge-presenting')")
        assert "present=1" not in page.url
    finally:
        page.close()

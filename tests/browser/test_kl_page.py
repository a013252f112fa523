"""The KL lab's panels computed in the page: the same numbers as torch.distributions, the same text as
the server, one redraw per animation frame, and dragging without a server."""

import json
import math
import random

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from explorer import kl_maths as km
from explorer.labs.kl import common, panel, two_d

pytestmark = pytest.mark.browser

DT = torch.float64
GEKL = "document.querySelector('#kl-plot .ge-page-plot').geKl"


@pytest.fixture
def page(shared_page):
    """The module's tests share one opened page, in file order (tests/conftest.py): each sets the values it reads
    (`_set`, a preset, a slider moved from where it is)."""
    return shared_page


ONE_D = "Monte Carlo vs closed form"  # the sub-tab that holds the 1-D panel


def _open(pg, *tabs: str) -> None:
    for name in tabs:
        pg.get_by_role("tab", name=name, exact=True).click()


def _torch_1d(mp, sp, mq, sq) -> tuple[float, float]:
    p, q = Normal(torch.tensor(mp, dtype=DT), torch.tensor(sp, dtype=DT)), Normal(
        torch.tensor(mq, dtype=DT), torch.tensor(sq, dtype=DT))
    return float(kl_divergence(p, q)), float(kl_divergence(q, p))


def _mvn(m1, m2, s1, s2, rho) -> MultivariateNormal:
    cov = torch.tensor([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]], dtype=DT)
    return MultivariateNormal(torch.tensor([m1, m2], dtype=DT), covariance_matrix=cov)


def _close(page_value: float, want: float) -> bool:
    """Within 1e-9 relative. Equal infinities are equal; an exactly-zero KL (p = q) may come out as rounding
    residue of either sign, below 1e-13 nats, in torch's Cholesky path (2-D)."""
    if math.isinf(want):
        return page_value == want
    return abs(page_value - want) <= 1e-9 * abs(want) + 1e-13


def _params_1d(rng: random.Random, n: int) -> list[list[float]]:
    lo, hi = common.SIGMA_MIN, common.SIGMA_MAX
    out = [[rng.uniform(-10, 10), math.exp(rng.uniform(math.log(lo), math.log(hi))),
            rng.uniform(-10, 10), math.exp(rng.uniform(math.log(lo), math.log(hi)))] for _ in range(n)]
    return [
        *out,
        [0.0, lo, 0.0, hi], [0.0, hi, 0.0, lo], [-10.0, lo, 10.0, lo], [10.0, hi, -10.0, lo],  # σ at its bounds
        [-4.0, 0.1, 4.0, 0.1], [-10.0, 0.001, 10.0, 0.001],  # far-apart spikes: 3200 and 2e8 nats
        [0.3, 1.7, 0.3, 1.7], [0.0, 1.0, 0.0, 1.0 + 1e-3],  # identical, and nearly so
    ]


def _set(pg, plot: str, values: list) -> dict:
    """Have the panel `plot` draw `values` (its 'ge-set' event) and return what the page computed."""
    return pg.evaluate("""async ([plot, values]) => {
      const root = document.querySelector(`#${plot} .ge-page-plot`), n = (root.geCosts || []).length;
      root.dispatchEvent(new CustomEvent('ge-set', {detail: values}));
      const want = JSON.stringify(values), done = () => root.dataset.drawn === want && root.geCosts?.length > n;
      for (let i = 0; i < 200 && !done(); i++) await new Promise(r => setTimeout(r, 10));
      return {drawn: root.dataset.drawn, html: root.querySelector('.ge-live-html').innerHTML, ...root.gePage,
              title: root.querySelector('.ge-live-plot .gtitle').textContent};  // as drawn, moved or by Plotly
    }""", [plot, values])


def test_the_1d_panel_draws_what_the_server_would(page):
    _open(page, "KL divergence", ONE_D)
    page.wait_for_selector("#kl-plot .js-plotly-plot")
    rng = random.Random(2)
    for params in [*_params_1d(rng, 4)[:4], [-10.0, 0.001, 10.0, 0.001]]:
        for direction in ("KL(p‖q)", "KL(q‖p)"):
            values = [round(v, 3) for v in params] + [direction]
            got = _set(page, "kl-plot", values)
            assert json.loads(got["drawn"]) == values
            server = json.loads(panel.kl_1d(*values))
            assert got["html"] == server["html"].replace("'", '"')  # the browser writes attributes in "…"
            assert got["title"] == server["figure"]["layout"]["title"]["text"]
            for axis, key in (("xaxis", "x"), ("yaxis", "y"), ("yaxis2", "y2")):  # steady; both zeros at one height
                assert got["ranges"][key] == pytest.approx(server["figure"]["layout"][axis]["range"], rel=1e-9)
            p, q = km.normal(*values[:2]), km.normal(*values[2:4])
            x = torch.tensor(got["traces"][1]["x"], dtype=DT)
            assert torch.allclose(torch.tensor(got["traces"][1]["y"], dtype=DT), p.log_prob(x).exp(), rtol=1e-12)
            assert torch.allclose(torch.tensor(got["traces"][2]["y"], dtype=DT), q.log_prob(x).exp(), rtol=1e-12)
            a, b = (p, q) if direction == "KL(p‖q)" else (q, p)
            f = torch.tensor(got["traces"][0]["y"], dtype=DT)
            assert torch.allclose(f, km.integrand(a, b, x), rtol=1e-9, atol=1e-300)
            grid = km.grid_for(*values[:4])  # the server's grid; torch.linspace's rounding differs by an ulp at places
            assert x.shape == grid.shape and torch.allclose(x, grid, rtol=1e-14, atol=1e-14)


def test_the_2d_panel_draws_what_the_server_would(page):
    _open(page, "KL divergence", "Two 2-D Gaussians")
    page.wait_for_selector("#kl2-plot .js-plotly-plot")
    for values in ([-1.0, 0.0, 1.0, 0.6, 0.5, 1.0, 0.5, 0.8, 1.2, -0.3], [-5, 5, 0.05, 5, 0.99, 5, -5, 5, 0.05, -0.99]):
        got = _set(page, "kl2-plot", values)
        server = json.loads(two_d.live_2d(*values))
        assert got["html"] == server["html"].replace("'", '"')
        for mine, theirs in zip(got["traces"], server["figure"]["data"], strict=True):
            sx = theirs["x"] if isinstance(theirs["x"], list) else None
            if sx is not None:  # the means travel as lists; the ellipses as typed arrays (checked below)
                assert mine["x"] == pytest.approx(sx, rel=1e-12) and mine["y"] == pytest.approx(theirs["y"], rel=1e-12)
        for axis, key in (("xaxis", "x"), ("yaxis", "y")):  # steady ranges, to the bit
            assert got["ranges"][key] == server["figure"]["layout"][axis]["range"]
        for k, (who, params) in enumerate((("p", values[:5]), ("q", values[5:]))):
            for j, sigmas in enumerate((1, 2)):
                e = km.ellipse(km.mvn(*params), sigmas).numpy()
                trace = got["traces"][3 * k + j]
                assert trace["x"] == pytest.approx(list(e[:, 0]), abs=1e-12), who
                assert trace["y"] == pytest.approx(list(e[:, 1]), abs=1e-12), who


# Ten frames of a drag of slider `i`, one per animation frame; then the figure as drawn (its SVG), and as Plotly draws
# the same curves on the same axes; as images drawn from their SVG in the page, compared there.
DRAG_AND_DRAW = """async ([plot, values, i]) => {
  const root = document.querySelector(`#${plot} .ge-page-plot`), gd = root.querySelector('.ge-live-plot');
  const n = {...root.geFrames}, frame = () => new Promise(r => requestAnimationFrame(r));
  const markup = () => [...gd.querySelectorAll('svg.main-svg')].map(s => s.outerHTML).join('');
  const w = gd._fullLayout.width, h = gd._fullLayout.height;
  const raster = async layers => {
    const img = new Image();
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${layers}</svg>`);
    await img.decode();
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const x = c.getContext('2d'); x.fillStyle = '#fff'; x.fillRect(0, 0, w, h); x.drawImage(img, 0, 0);
    return x.getImageData(0, 0, w, h).data;
  };
  const before = markup();
  let last = 0;
  for (let k = 1; k <= 10; k++) {
    const v = [...values]; v[i] = Math.round((v[i] + k * 0.03) * 100) / 100;
    last = root.geFrames.moved;
    root.dispatchEvent(new CustomEvent('ge-set', {detail: v}));
    await frame();
  }
  await frame();
  last = root.geFrames.moved - last;  // 1 if the last frame was moved
  const moved = markup(), page = root.gePage;  // the pause (150 ms) is still to come: nothing has redrawn it
  const data = gd.data.map((t, j) => ({...t, x: page.traces[j].x, y: page.traces[j].y}));
  const layout = page.title ? {...gd.layout, title: {...gd.layout.title, text: page.title}} : gd.layout;
  await (gd.gePlotly || window.Plotly).react(gd, data, layout, gd._context);
  // the share of pixels whose colour differs by more than 60 in some channel
  const differ = (a, b) => {
    let n = 0;
    for (let i = 0; i < a.length; i += 4) {
      if (Math.abs(a[i] - b[i]) > 60 || Math.abs(a[i + 1] - b[i + 1]) > 60 || Math.abs(a[i + 2] - b[i + 2]) > 60) n++;
    }
    return n / (a.length / 4);
  };
  const [b, d, r] = [await raster(before), await raster(moved), await raster(markup())];
  return {moved: root.geFrames.moved - n.moved, last, plotly: root.geFrames.plotly - n.plotly,
          drawn: root.dataset.drawn, moving: differ(b, d), off: differ(d, r)};
}"""


@pytest.mark.parametrize("plot, values, moving", [
    ("kl-plot", [0.0, 1.0, 1.0, 0.8, "KL(p‖q)"], 2),  # μ_q, under the shaded integrand and both KLs
    ("kl2-plot", [-1.0, 0.0, 1.0, 0.6, 0.5, 1.0, 0.5, 0.8, 1.2, -0.3], 5),  # μ_q,1: an ellipse pair and its mean
])
def test_dragged_frames_move_plotlys_curves_as_plotly_would_draw_them(page, plot, values, moving):
    """While a frame fits the axes drawn, the page moves the curves inside Plotly's drawing (plot_frames.js) instead of
    redrawing the figure: what it draws is what Plotly draws for the same curves on the same axes, to the pixel but
    for antialiasing. Once the hand pauses the figure has the server's ranges and values."""
    _open(page, "KL divergence", "Two 2-D Gaussians" if plot == "kl2-plot" else ONE_D)
    page.wait_for_selector(f"#{plot} .js-plotly-plot")
    _set(page, plot, values)
    settled = f"() => {{ const r = document.querySelector('#{plot} .ge-page-plot'); " \
              "return r.dataset.server === r.dataset.drawn; }"
    page.wait_for_function(settled, timeout=10_000)
    got = page.evaluate(DRAG_AND_DRAW, [plot, values, moving])
    # the axes held for most of the drag (Plotly drew a frame that outgrew them, on roomier axes), and the last
    # frame, the one compared, was moved
    assert got["moved"] >= 7 and got["moved"] + got["plotly"] == 10 and got["last"] == 1, got
    assert got["off"] < 0.002, "the moved curves are not where Plotly draws them"
    assert got["moving"] > 0.005  # the drag moved the curves visibly (the comparison can fail)
    page.wait_for_function(settled, timeout=10_000)  # the server's figure for the dragged values, on its own ranges
    assert json.loads(got["drawn"])[moving] == pytest.approx(values[moving] + 0.3)
    drawn = page.evaluate(f"() => document.querySelector('#{plot} .ge-page-plot').geDrawn.ranges")
    server = json.loads(panel.kl_1d(*json.loads(got["drawn"]))) if plot == "kl-plot" else \
        json.loads(two_d.live_2d(*json.loads(got["drawn"])))
    for axis, key in (("xaxis", "x"), ("yaxis", "y")):  # the ranges Plotly was given (2-D: it widens one to scale)
        assert drawn[key] == server["figure"]["layout"][axis]["range"]


def test_input_events_coalesce_to_one_draw_per_frame(page):
    _open(page, "KL divergence", ONE_D)
    page.wait_for_selector("#kl-plot .js-plotly-plot")
    _set(page, "kl-plot", [0.0, 1.0, 1.0, 0.8, "KL(p‖q)"])
    draws = page.evaluate("""async () => {
      const root = document.querySelector('#kl-plot .ge-page-plot'), before = root.geCosts.length;
      for (let i = 1; i <= 20; i++)  // twenty moves within one task, as a fast pointer can make
        root.dispatchEvent(new CustomEvent('ge-set', {detail: [0, 1, 1 + i / 100, 0.8, 'KL(p‖q)']}));
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      return [root.geCosts.length - before, root.dataset.drawn];
    }""")
    assert draws[0] == 1 and json.loads(draws[1]) == [0, 1, 1.2, 0.8, "KL(p‖q)"]  # one draw: the last


def test_a_dragged_frame_measures_no_element(page):
    """Each frame of a drag redraws a panel with Plotly; the panels' template (kl/common.py, drag_template) keeps
    Plotly from measuring its tick labels then (getBoundingClientRect: a forced layout of the whole page, which
    cost a quarter of each frame). Counted in the page over frames that change the axes' ranges."""
    _open(page, "KL divergence", ONE_D)
    page.wait_for_selector("#kl-plot .js-plotly-plot")
    _open(page, "Two 2-D Gaussians")
    page.wait_for_selector("#kl2-plot .js-plotly-plot")
    page.evaluate("""() => {
      window.geMeasured = 0;
      window.geUnpatch = [];
      for (const cls of [Element, Range]) {
        const own = cls.prototype.getBoundingClientRect;
        window.geUnpatch.push(() => { cls.prototype.getBoundingClientRect = own; });
        cls.prototype.getBoundingClientRect = function () {
          const node = this.startContainer || this;  // a Range measures its text
          if (!node.closest?.('#kl-plot, #kl2-plot') && !node.parentElement?.closest('#kl-plot, #kl2-plot')) {
            return own.call(this);  // another view's drawing
          }
          window.geMeasured++;
          (window.geStacks ||= []).push(new Error().stack.split(String.fromCharCode(10)).slice(1, 5).join(' | '));
          return own.call(this);
        };
      }
    }""")
    for i in range(3):
        _set(page, "kl2-plot", [-1.0 + i, 0.0, 1.0 + i, 0.6, 0.5, 1.0, 0.5, 0.8, 1.2 + 2 * i, -0.3])
    _open(page, "KL divergence", ONE_D)  # back to the 1-D panel, the first view's
    for i in range(3):
        _set(page, "kl-plot", [0.0, 1.0 + i, 2.0 * i, 0.8, "KL(p‖q)" if i % 2 else "KL(q‖p)"])
    measured = page.evaluate("() => { window.geUnpatch.forEach(f => f()); return window.geMeasured; }")
    assert measured == 0, "\n".join(page.evaluate("window.geStacks")[:3])  # who measured


def test_presets_and_the_direction_are_drawn_in_the_page(page):
    _open(page, "KL divergence", ONE_D)
    page.wait_for_selector("#kl-plot .js-plotly-plot")
    page.get_by_role("button", name="same mean, different widths").click()
    page.wait_for_function("() => document.querySelector('#kl-plot .ge-page-plot').dataset.drawn === "
                           "'[0,1,0,3,\"KL(p‖q)\"]'", timeout=5_000)
    assert float(page.locator("#kl-sigma-q input[type=number]").input_value()) == 3.0
    page.get_by_role("button", name="swap p and q").click()
    page.wait_for_function("() => document.querySelector('#kl-plot .ge-page-plot').dataset.drawn === "
                           "'[0,3,0,1,\"KL(p‖q)\"]'", timeout=5_000)
    assert "swapped" in page.inner_text("#kl-caption")
    page.get_by_text("KL(q‖p)", exact=True).click()
    page.wait_for_function("() => document.querySelector('#kl-plot .gtitle').textContent.startsWith("
                           "'shaded area = KL(q‖p)')", timeout=5_000)
    # the server confirms once the hand pauses: the same values, the same text
    page.wait_for_function("() => { const r = document.querySelector('#kl-plot .ge-page-plot'); "
                           "return r.dataset.server === r.dataset.drawn; }", timeout=10_000)
    assert page.inner_text("#kl-pq") == page.evaluate(f"() => {GEKL}.fmtNats({GEKL}.kl1d(0, 3, 0, 1)[0])") + \
        " nats\n" + km.fmt_nats(_torch_1d(0, 3, 0, 1)[0] / math.log(2)) + " bits"


def test_2d_sliders_and_presets_update_the_numbers(page):
    _open(page, "KL divergence", "Two 2-D Gaussians")
    page.wait_for_selector("#kl2-plot .js-plotly-plot")
    before = page.inner_text("#kl2-pq")
    page.locator("#kl2-mu-q1 input[type=range]").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("b => document.querySelector('#kl2-pq').innerText !== b", arg=before, timeout=5_000)
    # the only one shown: the 1-D panel's button of the same name is in the first sub-tab, hidden
    page.get_by_role("button", name="two spikes far apart").click()
    page.wait_for_function("() => document.querySelector('#kl2-pq').innerText.startsWith('1800')", timeout=5_000)


def test_sigma_sliders_have_a_log_track(page):
    """σ's track is logarithmic (static/page.js): a quarter of the way along is σ = 10⁻², not 2.5, so the narrow
    regime can be dragged to; the value, its box and the KL stay in σ."""
    _open(page, "KL divergence", ONE_D)
    page.wait_for_function("() => document.querySelector('#kl-sigma-q input[type=range]')?.geLog === true")
    native = ("() => Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')"
              ".get.call(document.querySelector('#kl-sigma-q input[type=range]'))")
    mu_p, sigma_p, mu_q, sigma_q = (float(page.locator(f"#kl-{c} input[type=number]").input_value())
                                    for c in ("mu-p", "sigma-p", "mu-q", "sigma-q"))  # as earlier tests left them
    assert float(page.evaluate(native)) == pytest.approx(math.log10(sigma_q), abs=0.006)  # σ_q on a log track
    track = page.locator("#kl-sigma-q input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.wait_for_function("() => Number(document.querySelector('#kl-sigma-q input[type=number]').value) < 0.05",
                           timeout=5_000)
    sigma = float(page.locator("#kl-sigma-q input[type=number]").input_value())
    assert 0.005 < sigma < 0.02
    want = km.kl_1d(mu_p, sigma_p, mu_q, sigma)[0]
    page.wait_for_function("w => document.querySelector('#kl-pq').innerText.startsWith(w)", arg=km.fmt_nats(want),
                           timeout=10_000)


def test_show_this_dimension_opens_the_panels_view_with_the_prior_and_the_posterior(page):
    """The 1-D panel is the first view's: "Show this dimension" in the VAE's-KL-term view switches there and draws
    p = the prior N(0, 1) and q = the shown digit's posterior in that dimension, shading KL(q‖p)."""
    _open(page, "KL divergence", "The VAE's KL term")
    page.wait_for_function("() => document.querySelector('#kl-vae-md').innerText.includes('test digit')",
                           timeout=30_000)
    page.locator("#kl-vae-show").click()
    page.wait_for_function("() => document.querySelector('#kl-views [role=tab][aria-selected=true]').innerText"
                           " === 'Monte Carlo vs closed form'", timeout=10_000)
    drawn = "() => JSON.parse(document.querySelector('#kl-plot .ge-page-plot').dataset.drawn)"
    page.wait_for_function(f"() => {{ const d = ({drawn})(); return d[0] === 0 && d[1] === 1 && d[4] === 'KL(q‖p)'; }}",
                           timeout=10_000)
    mu_q = float(page.locator("#kl-mu-q input[type=number]").input_value())
    assert page.evaluate(drawn)[2] == pytest.approx(mu_q)
    assert page.locator("#kl-plot").is_visible()

"""WCAG 2.1 AA: axe-core's automated checks on each lab, with the lab's tab open.

axe-core is vendored (tests/browser/vendor/, see its README) so the test runs offline. It checks what is
rendered: each run sees the open lab's first sub-tab, the header and the footer.
"""

import re
from pathlib import Path

import pytest

from tests.conftest import settled

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.0 and 2.1, levels A and AA
BLOCKING = ("serious", "critical")
LABS = {"VAE": "#vae-decoded", "KL divergence": "#kl-plot", "Diffusion": "#diff-t"}  # tab: an element it shows

# each target: axe's selector, then the nearest ancestor with an id (an elem_id), to find the component in explorer/
RUN_AXE = """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
                                elementRef: true})
  .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, n: v.nodes.length,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' in #' + (n.element?.closest('[id]')?.id ?? '?'))})))"""


@pytest.fixture
def page(shared_page):
    """The module's tests share one opened page (tests/conftest.py): they open tabs and read what the defaults
    show, and change nothing another reads."""
    return shared_page


def describe(violations: list[dict]) -> str:
    return "\n".join(f"- {v['id']} ({v['impact']}, {v['n']} element(s)): {v['help']}; e.g. "
                     + " | ".join(v["targets"]) for v in violations)


@pytest.mark.parametrize("tab", list(LABS))
def test_lab_has_no_serious_wcag_violations(page, tab):
    page.get_by_role("tab", name=tab, exact=True).click()
    page.locator(LABS[tab]).wait_for(state="visible", timeout=30_000)
    settled(page)  # KaTeX and the plots have rendered what axe should see
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(RUN_AXE, WCAG_AA)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"the {tab} lab has {len(blocking)} serious or critical WCAG 2.1 AA violation(s):\n" \
                         + describe(blocking)


def test_labs_have_headings_and_sliders_say_their_value(page):
    """Headings per lab and sub-lab for a screen reader's outline, and sliders that say what they are: 'σ_p 1',
    not a bare '1' (aria-valuetext)."""
    names = set()
    for tab in LABS:  # a lab's contents are on the page once its tab has been opened
        page.get_by_role("tab", name=tab, exact=True).click()
        page.locator(LABS[tab]).wait_for(state="visible", timeout=30_000)
        names |= set(page.evaluate("() => [...document.querySelectorAll('h2.ge-sr-only, h3.ge-sr-only')]"
                                   ".map(h => h.textContent)"))
    assert {"The VAE lab", "The KL divergence lab", "The diffusion lab"} <= names
    assert {"Ancestral sampling", "Monte Carlo vs closed form", "Forward process"} <= names
    page.get_by_role("tab", name="KL divergence", exact=True).click()
    page.wait_for_function("() => document.querySelector('#kl-sigma-p input[type=range]')"
                           "?.getAttribute('aria-valuetext') === 'σ_p 1'", timeout=5_000)


def test_generated_digits_say_what_the_classifier_reads(page):
    """A screen reader hears what a generated digit shows: its alt text carries the shipped classifier's reading
    (explorer/reading.py), on the decoded digit, the ancestral sample's grids, the forward process's z_t and the
    reverse viewer's sample frame (its other frames say which step and t they show)."""
    reads = "s => [...document.querySelectorAll(s)].map(i => i.alt)"
    decoded = page.evaluate(reads, "#vae-decoded .ge-dec-server img")
    assert len(decoded) == 2 and all(re.search("; the classifier (reads|is unsure)", a) for a in decoded), decoded
    grids = page.evaluate(reads, "#vae-sample-grid img")
    assert grids and all("; the classifier reads " in a for a in grids), grids
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    page.wait_for_selector("#diff-forward img", timeout=30_000)
    assert "; the classifier reads " in page.evaluate(reads, "#diff-forward img")[-1]
    page.get_by_role("tab", name="Reverse process", exact=True).click()
    page.wait_for_selector("#diff-frame .ge-film-img:not([hidden])", timeout=30_000)
    last = page.evaluate(reads, "#diff-frame .ge-film-img")[0]
    assert last.startswith("the 4 samples z_0 (the left block), DDIM"), last
    assert "; the classifier reads, in order: " in last, last
    # the run's other frames come from a file after its last one (filmstrip.publish): the slider waits for them
    page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled", timeout=30_000)
    page.locator("#diff-frame .ge-film-range").focus()
    page.keyboard.press("Home")  # the first frame: z_T, the input of step 1
    page.wait_for_function("() => document.querySelector('#diff-frame .ge-film-img').alt.startsWith('frame 1 of ')",
                           timeout=5_000)

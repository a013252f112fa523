"""Links that restore a view (explorer/links.py): what a query sets, what it refuses and says, and the cache of
first views."""

import json

import gradio as gr
import pytest

from explorer import checks, memo, url_state
from explorer.app import build_demo
from explorer.gradio_compat import Number, Radio, Slider
from explorer.links import Links
from explorer.models import load_models
from tests.conftest import CHECKPOINTS


@pytest.fixture
def registry():
    lk = Links()
    with gr.Blocks():
        lk.note = gr.Markdown(visible=False)
        with gr.Tabs(elem_id="labs") as lk.top:
            with gr.Tab("A", id="a"):
                lk.lab("a", "A")
                with gr.Tabs(elem_id="a-views") as views:
                    with gr.Tab("One", id="one"):
                        s = Slider(-4, 4, value=0.0, step=0.01, label="z1", elem_id="a-z1")
                        n = Number(0, label="seed", minimum=0, step=1, elem_id="a-seed")
                    with gr.Tab("Two", id="two"):
                        r = Radio(["DDIM", "DDPM"], value="DDIM", label="sampler", elem_id="a-sampler")
                        c = gr.Checkbox(False, label="also DDPM", elem_id="a-ddpm")
                lk.sub_tabs("a", views, {"one": "One", "two": "Two"})
            with gr.Tab("B", id="b"):
                lk.lab("b", "B")
                m = Number(3, label="digit", minimum=0, step=1, elem_id="b-digit")
    lk.param("a", "z1", s)
    lk.param("a", "seed", n)
    lk.param("a", "sampler", r)
    lk.param("a", "ddpm", c)
    lk.param("b", "digit", m, hi=9)
    return lk, dict(s=s, n=n, r=r, c=c, m=m, views=views)


def test_a_link_sets_its_lab_view_and_controls(registry):
    lk, c = registry
    out, notes = lk.restore({"lab": "a", "view": "two", "z1": "-1.5", "seed": "7", "sampler": "DDPM", "ddpm": "1"})
    assert notes == []
    assert out[c["s"]] == -1.5 and out[c["n"]] == 7 and isinstance(out[c["n"]], int)
    assert out[c["r"]] == "DDPM" and out[c["c"]] is True
    assert out[lk.top]["selected"] == "a" and out[c["views"]]["selected"] == "two"


def test_a_bad_link_names_each_refused_item_and_keeps_the_rest(registry):
    lk, c = registry
    out, notes = lk.restore({"lab": "a", "view": "three", "z1": "9", "seed": "1.5", "sampler": "PLMS", "ddpm": "yes",
                             "digit": "2", "junk": "1"})
    assert lk.top in out and c["views"] not in out
    assert not any(c[k] in out for k in "snrc")  # every refused control keeps its default
    text = "\n".join(notes)
    assert "`view=three` is not a view of the A lab; choose one of one, two." in text
    assert "`z1=9`: z1 = 9 is outside the allowed range [-4, 4]. Its default is shown." in text
    assert "`seed=1.5`: seed = 1.5 must be a whole number" in text
    assert "`sampler=PLMS`: sampler must be one of DDIM, DDPM" in text
    assert "`ddpm=yes`: also DDPM must be 1 or 0" in text
    assert "`digit` is not a setting of the A lab." in text  # B's control, in a link to A
    assert "`junk` is not a setting of the A lab." in text
    note = url_state.note_text(notes)
    assert note["visible"] is True and note["value"].count("\n- ") == len(notes)


def test_the_keys_the_page_keeps_are_no_lab_setting(registry):
    """Presenter mode and Gradio's theme live in the link for the page alone: no note says they are unknown."""
    lk, c = registry
    out, notes = lk.restore({"lab": "a", "present": "1", "__theme": "dark", "z1": "2"})
    assert notes == [] and out[c["s"]] == 2.0


def test_a_link_without_a_lab_opens_the_first_and_an_unknown_lab_is_named(registry):
    lk, c = registry
    out, notes = lk.restore({"z1": "2"})
    assert out == {c["s"]: 2.0} and notes == []
    out, notes = lk.restore({"lab": "c", "digit": "2"})
    assert notes[0] == "`lab=c` is not a lab here; choose one of a, b."
    assert url_state.note_text([]) == gr.update(value="", visible=False)
    out, notes = lk.restore({"lab": "b", "digit": "12"})
    assert "digit = 12 is outside the allowed range [0, 9]" in notes[0]


def test_two_controls_of_one_lab_cannot_share_a_name_and_need_an_elem_id(registry):
    lk, c = registry
    with pytest.raises(ValueError, match="linked as 'z1'"):
        lk.param("a", "z1", c["n"])
    lk.param("b", "z1", c["s"])  # another lab's name space
    with gr.Blocks():
        bare = gr.Number(0)
    with pytest.raises(ValueError, match="needs an elem_id"):
        lk.param("a", "x", bare)


def test_a_later_view_comes_in_the_second_answer_from_what_the_first_made(registry):
    """A `later` opening is not computed for the page's first answer; the second answer holds it alone, computed
    from what earlier openings made (here a value made from a value that an opening made), and no other opening runs
    again. A later view whose result is cached comes in the first answer, and there is no second. A later view that
    cannot be drawn is named in the second answer's note, beside what the first answer named."""
    lk, c = registry
    with gr.Blocks():
        lk.note = gr.Markdown(visible=False)
        made, shown, other, late = gr.Number(elem_id="made"), gr.Markdown(), gr.Markdown(), gr.Markdown()
    calls = {"made": 0, "other": 0, "late": []}

    def make(z1):
        calls["made"] += 1
        return 10 * z1

    def draw_other(seed):
        calls["other"] += 1
        return f"seed {seed}"

    def draw_late(m, seed):
        calls["late"].append((m, seed))
        if seed == 13:
            raise checks.InputError("Seed 13 cannot be drawn here.")
        return f"made {m}, seed {seed}"

    lk.opening(lambda: 0.5, [], [c["s"]])  # the slider as an opening sets it: `make` reads it from here
    lk.opening(make, [c["s"]], [made], then=[(lambda m: f"shown {m}", [made], [shown])])
    lk.opening(draw_other, [c["n"]], [other])
    lk.opening(draw_late, [made, c["n"]], [late], later=True)
    values, _ = lk.restore({"lab": "a", "z1": "2", "seed": "4"})
    answers = lk.answers(values, [])
    first = next(answers)
    assert first[made] == 5.0 and first[shown] == "shown 5.0" and first[other] == "seed 4" and late not in first
    assert first[c["n"]] == 4 and first[lk.note]["visible"] is False
    assert calls == {"made": 1, "other": 1, "late": []}
    second = next(answers)  # (with the first's values: Gradio sends only what changed)
    assert second[late] == "made 5.0, seed 4" and set(second) == {*first, late}
    assert second[lk.note] == first[lk.note]  # no failure: the first answer's note stands
    assert calls == {"made": 1, "other": 1, "late": [(5.0, 4)]} and next(answers, None) is None

    # once it is in the cache (a default view, once the app is warm), the first answer sends it and there is no second
    (only,) = list(lk.answers(values, []))
    assert only[late] == "made 5.0, seed 4" and len(calls["late"]) == 1
    other_seed, _ = lk.restore({"lab": "a", "z1": "2", "seed": "5"})
    assert len(list(lk.answers(other_seed, []))) == 2

    values, notes = lk.restore({"lab": "a", "seed": "13", "nowhere": "1"})
    first, second = lk.answers(values, notes)
    assert "nowhere" in first[lk.note]["value"]
    assert late not in second and second[lk.note]["visible"]
    assert "Seed 13 cannot be drawn here." in second[lk.note]["value"] and "nowhere" in second[lk.note]["value"]


def test_a_view_cannot_be_both_early_and_later(registry):
    lk, c = registry
    with gr.Blocks():
        out = gr.Markdown(label="shared view")
    lk.opening(lambda z: str(z), [c["s"]], [out])
    lk.opening(lambda z: str(z), [c["s"]], [out], later=True)
    with pytest.raises(ValueError, match="shared view"):
        lk.outputs()


@pytest.fixture(scope="module")
def app(synthetic_data) -> tuple[Links, gr.Blocks]:
    """The app on the shipped checkpoints and its registry, built once (a second or so) for the tests that read its
    wiring or ask it for answers; the registry is filled while the app is built and only read after."""
    lk = Links()
    demo = build_demo(load_models(CHECKPOINTS, synthetic_data, download=False), links=lk)
    return lk, demo


def test_a_page_load_is_one_generator_then_the_page_marks_itself_opened(app):
    """The app's own wiring: one load event, a generator, answers with the controls and the quick views, then with
    the slow ones (the likelihood, the exact-log-p(x) gallery's digit, the reverse run, the comparison, the diffusion
    ELBO, the particles), then the page marks itself opened; a linked digit's likelihood is not computed for the
    first answer. No hidden component takes part."""
    from explorer.labs.vae import likelihood

    lk, demo = app
    later = {c.elem_id for o in lk.openings if o.later for c in o.outputs}
    assert {"vae-lik-plot", "diff-frame", "diff-compare", "diff-elbo-plot", "plane-particles"} <= later
    # (the gallery's view, "vae-fail-plot", is later too: it exists with MNIST's test digits, not these)
    later_ids = {c._id for o in lk.openings if o.later for c in o.all_outputs()}
    deps = demo.config["dependencies"]
    (load,) = [d for d in deps if any(t[1] == "load" for t in d["targets"]) and d["backend_fn"]]
    assert load["types"]["generator"] and later_ids <= set(load["outputs"])
    assert set(load["show_progress_on"]) == later_ids
    (mark,) = [d for d in deps if d.get("trigger_after") == load["id"]]
    assert not mark["backend_fn"] and "geRestored" in mark["js"]
    hidden = [c for c in demo.config["components"] if c.get("props", {}).get("visible") == "hidden"]
    assert not hidden, hidden
    # a step's click cancels the page's load and the other steps of its lab
    for lab, _, b in lk.steps:
        if not b.visible:
            continue
        others = {d["id"] for d in deps for lab2, _, b2 in lk.steps
                  if lab2 == lab and b2 is not b and any(t[0] == b2._id for t in d["targets"]) and d["backend_fn"]}
        on_b = [d for d in deps if any(t[0] == b._id for t in d["targets"])]
        (cancel,) = [d for d in on_b if d["cancels"]]
        assert set(cancel["cancels"]) == {load["id"]} | others
        assert any("geRestored" in (d["js"] or "") for d in on_b)
        (shown,) = [d for d in on_b if d["backend_fn"]]
        assert shown["types"]["generator"]

    asked = []
    real = likelihood.likelihood
    likelihood.likelihood = lambda *a, **kw: asked.append(a) or real(*a, **kw)
    try:
        values, _ = lk.restore({"lab": "vae", "view": "encode", "digit": "3", "k": "100"})
        answers = lk.answers(values, [], lab="vae")
        first = next(answers)
        assert not asked and not {c._id for c in first} & later_ids
        second = next(answers)
        vae_later = {c._id for o in lk.openings if o.later and o.lab == "vae" for c in o.all_outputs()}
        assert len(asked) == 1 and {c._id for c in second} - {c._id for c in first} == vae_later
    finally:
        likelihood.likelihood = real


def test_memo_keeps_plain_calls_and_recomputes_state():
    calls = []

    @memo.memo
    def f(*args):
        calls.append(args)
        return len(calls)

    assert not f.ready(1, "a")
    assert f(1, "a") == f(1, "a") == f(1.0, "a") == 1  # 1 and 1.0: one request
    assert f.ready(1.0, "a") and not f.ready(True, "a")
    assert f(True, "a") == 2  # a checkbox is not a number
    state = [1, 2]
    assert f(state) == 3 and f(state) == 4  # a session's state is never served from the cache
    for i in range(memo.CACHE_SIZE + 1):
        f(i, "b")
    n = len(calls)
    f(1, "a")  # pushed out by CACHE_SIZE newer calls
    assert len(calls) == n + 1


def test_every_linked_default_parses_and_every_view_has_a_first_picture(app):
    """The app's own registry: every linked control has its elem_id on the page and reads back its default as the
    page writes it, each lab has its views, and the views that start empty have a first picture."""
    lk, demo = app
    assert set(lk.labs) == set(lk.views) == {"vae", "kl", "diffusion", "plane"}
    names = {(p.lab, p.name) for p in lk.params}
    for want in [("vae", "z1"), ("vae", "z32"), ("vae", "model"), ("vae", "digit"), ("kl", "mu_q"), ("kl", "q_mu1"),
                 ("kl", "dir"), ("diffusion", "sampler"), ("diffusion", "steps"), ("diffusion", "class"),
                 ("diffusion", "seed"), ("diffusion", "eta"), ("diffusion", "guidance"), ("diffusion", "digit"),
                 ("plane", "data"), ("plane", "t"), ("plane", "show"), ("plane", "steps"), ("plane", "eta"),
                 ("plane", "n"), ("plane", "seed")]:
        assert want in names
    on_page = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    for p in lk.params:
        assert p.component.elem_id in on_page
        text = ("1" if p.default else "0") if p.kind == "check" else str(p.default)
        assert p.parse(text) == p.default, p.name
    shown = {id(o) for op in lk.openings for o in [*op.outputs, *(c for _, _, outs in op.then for c in outs)]}
    for elem_id in ("vae-stage-z", "vae-stages", "vae-sample-grid", "vae-enc-images", "vae-enc-q", "vae-enc-kl",
                    "vae-lik-plot", "vae-interp", "kl-mc-plot", "kl-fit-plot", "kl-vae-plot", "diff-frame",
                    "diff-compare", "diff-elbo-plot", "plane-field", "plane-particles"):
        (c,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
        assert id(c) in shown, elem_id
    config = json.loads(lk.page_config())
    assert config["top"] == "labs" and config["views"]["kl"]["ids"]["two-d"] == "Two 2-D Gaussians"


def test_a_link_to_a_long_run_does_not_start_it(synthetic_data):
    """Every page that opens a link runs its first views: a link to DDPM's T steps (or a long DDIM) waits for the
    button instead of costing the server minutes per page."""
    from explorer.labs.diffusion import compare, reverse

    models = load_models(CHECKPOINTS, synthetic_data, download=False)
    if models.ddpm is None:
        pytest.skip("no diffusion checkpoint")
    _view, status, run = reverse.finished(models, "DDPM", 50, 0.0, 0, 4, "none (unconditional)", 0.0)
    assert run is None and "does not start by itself" in status and "Run the reverse process" in status
    assert "Press <b>Compare</b>" not in compare.first_comparison(models, 3, 2, 0.0, 0, 1, "none (unconditional)", 0)
    assert "press <b>Compare</b>" in compare.first_comparison(models, 500, 10, 0.0, 0, 4, "none (unconditional)", 0)


def test_each_lab_offers_its_steps_and_a_step_shows_its_lab_only(app):
    """The "try this" steps (Links.path): every one is offered when all checkpoints load, a step sets its lab's
    controls (the ones it does not name back to their defaults) and draws that lab's views, and leaves the other labs
    alone; the numbers its answer states are the closed form's."""
    from explorer import kl_maths as km

    lk, _ = app
    assert {lab for lab, _, _ in lk.steps} == {"vae", "kl", "diffusion", "plane"}
    assert all(b.visible for _, _, b in lk.steps)
    assert len({b.elem_id for _, _, b in lk.steps}) == len(lk.steps)
    kl = {s.label: s for lab, s, _ in lk.steps if lab == "kl"}
    ctl = {p.name: p.component for p in lk.params if p.lab == "kl"}
    out = {}
    for answer in lk.step_answers("kl", kl["Not symmetric"]):
        out.update(answer)
    assert (out[ctl["sigma_p"]], out[ctl["mu_q"]], out[ctl["sigma_q"]]) == (2, 0, 0.5)
    assert out[ctl["mu_p"]] == 0.0 and out[ctl["q_rho"]] == -0.3  # not named: back to the default
    assert out[lk.note]["visible"] is False
    others = {p.component for p in lk.params if p.lab != "kl"}
    others |= {c for o in lk.openings if o.lab != "kl" for c in o.outputs}
    assert not others & set(out)
    kl_plot = next(c for o in lk.openings if o.lab == "kl" for c in o.outputs if c.elem_id == "kl-plot")
    assert kl_plot in out
    pq, qp = km.kl_1d(0.0, 2.0, 0.0, 0.5)
    assert f"KL(p‖q) = {pq:.2f} nats against KL(q‖p) = {qp:.2f}" in kl["Not symmetric"].answer
    assert f"{km.kl_1d(-4.0, 0.1, 4.0, 0.1)[0]:.0f} nats" in kl["Two far spikes"].answer


def test_a_step_that_cannot_be_shown_is_not_offered(tmp_path, synthetic_data):
    """Without the 32-D checkpoint the VAE step that needs it is hidden, and the others stay."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in CHECKPOINTS.glob("*"):
        if not f.name.startswith("vae_32d"):
            (ckpt / f.name).symlink_to(f.resolve())
    lk = Links()
    build_demo(load_models(ckpt, synthetic_data, download=False), links=lk)
    hidden = [s.label for lab, s, b in lk.steps if not b.visible]
    assert hidden == ["Why log p(x) is hard"]

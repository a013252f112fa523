"""The VAE lab's "Exact log p(x)" view: the card's exact figure beside each bound, named as the bound it
is; the gallery of the digits where importance sampling fails; each digit recomputed live."""

import copy

import pytest
import torch

from explorer import checks
from explorer.labs.vae import is_failures
from tests.conftest import CHECKPOINTS
from train.data import digits_sha256
from train.exact_likelihood import BernoulliVAE, effective_sample_size, exact_log_px

MEASURED = 8  # the digits the test card is measured on: the gallery shows the 6 worst of them


@pytest.fixture(scope="module")
def models(synthetic_data):
    from explorer.models import load_models

    m = load_models(CHECKPOINTS, synthetic_data)
    # the card as `python -m train evaluate-vae` writes it, measured on the digits the tests load (synthetic ones)
    vae, x = m.vae(is_failures.MODEL), m.test_digits().x[:MEASURED]
    exact = exact_log_px(BernoulliVAE(vae), x).log_px
    with torch.no_grad():
        log_w = vae.log_weights(x, 1000, "posterior", torch.Generator().manual_seed(0)).double()
    est = torch.logsumexp(log_w, 1) - torch.log(torch.tensor(1000.0, dtype=torch.float64))
    gap = est - exact
    order = torch.argsort(gap)[:6]
    m.vae_cards = copy.deepcopy(m.vae_cards)
    m.vae_cards[is_failures.MODEL]["likelihood"] = {
        "test_images": MEASURED, "test_set_sha256": digits_sha256(m.test_digits().x),
        "exact": {"nll_nats": float(-exact.mean()), "stderr_over_images": 1.0, "tol_nats": 0.01},
        "iwae": {"1": {"nll_nats": 140.0, "stderr_over_images": 1.0}, "1000": {"nll_nats": 133.0,
                                                                            "stderr_over_images": 1.0}},
        "worst": {"k": 1000, "images": [{"index": int(i), "exact_log_px": float(exact[i]), "iwae_log_px": float(est[i]),
                                         "gap": float(gap[i]), "ess": float(effective_sample_size(log_w[i]))}
                                        for i in order] + [{"index": 10_000, "gap": -1.0}]},  # not in the loaded set
    }
    m.vae_cards["32-D latent"]["likelihood"] = {"test_images": MEASURED, "exact": None,
                                                "iwae": {"1000": {"nll_nats": 90.0, "stderr_over_images": 0.5}}}
    return m


def test_the_table_names_each_figure_for_the_bound_it_is(models):
    text = is_failures.table(models)
    assert "| 2-D latent | **" in text and "exact (quadrature; each image within 0.01 nats)" in text
    assert "| 2-D latent | 140.00 ± 1.00 | the ELBO (k = 1): an upper bound on −log p(x) in expectation |" in text
    assert "importance-weighted, k = 1,000: an upper bound on −log p(x) in expectation" in text
    assert "| 32-D latent | 90.00 ± 0.50 | importance-weighted, k = 1,000" in text
    assert "the 32-D model has no exact value, only bounds" in text


def test_the_gallery_holds_the_measured_digits_the_loaded_test_set_has(models):
    rows = is_failures.worst(models)
    assert len(rows) == 6 and all(r["index"] < MEASURED for r in rows)  # #10000 is not among the loaded digits
    assert [r["gap"] for r in rows] == sorted(r["gap"] for r in rows)  # worst first
    assert len(is_failures.gallery(models)) == 6


def test_a_chosen_digit_is_recomputed_and_agrees_with_the_card(models):
    row = is_failures.worst(models)[0]
    fig, post, md = is_failures.inspect(models, 0, 2000, 0)
    exact = row["exact_log_px"]  # the fixture's own quadrature of this digit, done apart from `inspect`
    assert f"exact log p(x) = **{exact:.2f}** nats" in md and f"test digit #{row['index']}" in md
    assert fig.layout.shapes[0].y0 == pytest.approx(exact)  # the exact line
    assert len(fig.data) == is_failures.REPEATS and fig.data[0].x[-1] == 2000
    assert all(y <= exact + 1.0 for trace in fig.data for y in trace.y[-1:])  # runs end near or below it
    assert f"The card's k = 1,000 estimate was {row['iwae_log_px']:.2f}" in md  # same digit: the card's figure
    assert "effective sample sizes" in md and post.data[0].type == "heatmap"


def test_no_gallery_for_other_digits_than_those_measured(models, monkeypatch):
    card = copy.deepcopy(models.vae_cards)
    card[is_failures.MODEL]["likelihood"]["test_set_sha256"] = "0" * 64  # measured on MNIST's; synthetic ones here
    monkeypatch.setattr(models, "vae_cards", card)
    assert is_failures.worst(models) == [] and is_failures.gallery(models) == []
    with pytest.raises(checks.InputError, match="No measured digits"):
        is_failures.inspect(models, 0, 2000, 0)


def test_bad_choices_are_refused(models):
    with pytest.raises(checks.InputError, match="Digit"):
        is_failures.inspect(models, 6, 2000, 0)
    # the pick reaches the handler unchecked (gradio_compat.Number), which names each bad kind
    for bad, says in (("abc", "not the text 'abc'"), (float("nan"), "outside"), ([1], "must be a number"),
                      ({}, "must be a number"), ("x" * 1_000_000, "not the text"), (0.5, "must be a whole number"),
                      (True, "not True"), (-1, "outside the allowed range")):
        with pytest.raises(checks.InputError, match="Digit") as e:
            is_failures.inspect(models, bad, 2000, 0)
        assert says in e.value.message and len(e.value.message) < 200, e.value.message
    from explorer import gradio_compat

    assert is_failures.build.__globals__["Number"] is gradio_compat.Number  # not Gradio's own, which refused first
    with pytest.raises(checks.InputError, match="K"):
        is_failures.inspect(models, 0, 10**6, 0)

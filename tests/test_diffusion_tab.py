"""The diffusion tab's handlers called directly, on small models of any T (the app tests use the shipped one)."""

import itertools

import pytest
import torch

from explorer.models import Models
from explorer.tabs import diffusion
from train.models.ddpm import DDPM, DDPMConfig


@pytest.fixture(scope="module", params=[20, 50])
def models(request) -> Models:
    cfg = DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=14, timesteps=request.param)
    return Models(ddpm=DDPM(cfg).eval())


def test_snapshots_span_zero_to_T(models):
    T = models.ddpm.diffusion.T
    html = diffusion.snapshots(models, torch.zeros(1, 1, 28, 28), 0)
    captions = [int(c.split("<")[0]) for c in html.split("<figcaption>t = ")[1:]]
    assert captions[0] == 0 and captions[-1] == T and captions == sorted(set(captions))


def test_elbo_table_partitions_every_timestep(models):
    T = models.ddpm.diffusion.T
    _, md = diffusion.elbo_chart(models, torch.zeros(1, 1, 28, 28), 0)
    spans = [line.split("t = ")[1].split(" ")[0] for line in md.splitlines() if line.startswith("| denoising")]
    bounds = [tuple(map(int, s.split("–"))) for s in spans]
    assert bounds[0][0] == 2 and bounds[-1][1] == T  # t = 1 is the reconstruction term, t = 2…T denoising
    assert all(b[0] == a[1] + 1 and b[0] <= b[1] for a, b in itertools.pairwise(bounds))


def test_chosen_snapshot_ts(models):
    T = models.ddpm.diffusion.T
    html = diffusion.snapshots(models, torch.zeros(1, 1, 28, 28), 0, f"{T}; 3 1,1")
    assert [c.split("<")[0] for c in html.split("<figcaption>t = ")[1:]] == ["1", "3", str(T)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "give up to 12 whole numbers"),
    ("5, x", "'x' is not a whole number"),
    ("2.5", "'2.5' is not a whole number"),
    ("-1", "t = -1 is outside the allowed range"),
    ("100000", "t = 100000 is outside the allowed range"),
    (",".join(map(str, range(13))), "13 snapshot t values given; at most 12"),
])
def test_bad_snapshot_ts_are_named(models, text, message):
    import gradio as gr

    with pytest.raises(gr.Error, match=message):
        diffusion.snapshots(models, torch.zeros(1, 1, 28, 28), 0, text)


def test_guidance_text_states_the_label_dropout_from_the_card(models):
    models.ddpm_card = {"training": {"class_dropout": 0.1}}
    assert "10% of the images had their label replaced" in diffusion._guidance_text(models)
    models.ddpm_card = {}
    assert "some of the images" in diffusion._guidance_text(models)


def test_guidance_text_quotes_the_measured_trade_off_from_the_card(models, monkeypatch):
    row = {"kind": "ddpm", "sampler": "ddim50", "labels": "balanced", "n": 5000, "device": "cpu"}
    monkeypatch.setattr(models, "ddpm_card", {"sample_quality": {"rows": [
        {"kind": "real", "n": 5000, "inception_score": 9.574, "frechet_distance": 24.9},
        {**row, "guidance": 1.0, "inception_score": 9.0, "frechet_distance": 70.0},  # replaced by a newer row
        {**row, "guidance": 1.0, "inception_score": 9.966, "frechet_distance": 63.98},
        {**row, "guidance": 2.0, "n": 1000, "inception_score": 9.99, "frechet_distance": 90.0},  # a smaller N
        {**row, "guidance": 3.0, "device": "cuda-NVIDIA-H200", "inception_score": 9.99, "frechet_distance": 99.0},
        {**row, "guidance": 0.0, "inception_score": 9.265, "frechet_distance": 20.68},
        {**row, "sampler": "ddim10", "guidance": 0.0, "inception_score": 9.3, "frechet_distance": 21.8},
        {**row, "labels": "none", "guidance": 0.0, "inception_score": 7.4, "frechet_distance": 81.5},
    ]}})
    text = diffusion._guidance_text(models)
    assert ("$w=0$: IS 9.27, FD 20.7; $w=1$: IS 9.97, FD 64.0 "
            "(real digits: IS 9.57; two sets of real digits are FD 24.9 apart)") in text
    assert "5,000 samples each, scored" in text and "w=2" not in text and "w=3" not in text
    assert "7.4" not in text and "21.8" not in text
    models.ddpm_card = {"sample_quality": {"rows": [{"source": "old row without fields", "n": 5000}]}}
    assert "Measured" not in diffusion._guidance_text(models)

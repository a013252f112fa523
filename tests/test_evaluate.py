"""The sample-quality command end to end on tiny models and tiny data."""

import pytest
import torch

from train import checkpoint as ckpt
from train.evaluate import EvaluateConfig, evaluate
from train.models.classifier import Classifier, ClassifierConfig
from train.models.ddpm import DDPM, DDPMConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, synthetic_data):
    d = tmp_path_factory.mktemp("eval")
    ddpm = ckpt.save_checkpoint(d / "ddpm.safetensors", DDPM(DDPMConfig(base_channels=8, channel_mults="1,2",
                                num_res_blocks=1, attention_at=14, timesteps=20)), "ddpm", {})
    clf = ckpt.save_checkpoint(d / "clf.safetensors", Classifier(ClassifierConfig(channels=8, features=16)),
                               "classifier", {})
    return ddpm, clf, synthetic_data


def test_evaluate_writes_a_row_per_source_into_the_card(tiny):
    ddpm, clf, data = tiny
    rows = evaluate(EvaluateConfig(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=20,
                                   samplers="ddim4,ddpm", batch=10), argv=["evaluate", "--n", "20"])
    assert [r["source"].split(",")[0] for r in rows] == [rows[0]["source"].split(",")[0], "DDIM", "DDPM"]
    assert all(1.0 - 1e-9 <= r["inception_score"] <= 10.0 for r in rows)
    assert all(r["frechet_distance"] >= -1e-6 and r["n"] == 20 for r in rows)
    card = ckpt.read_card(ddpm)
    assert card["sample_quality"]["command"] == "python -m train evaluate --n 20"
    assert len(card["sample_quality"]["rows"]) == 3


def test_evaluate_refuses_unknown_samplers(tiny):
    ddpm, clf, data = tiny
    with pytest.raises(ValueError, match="'euler' is not 'ddpm' or 'ddimK'"):
        evaluate(EvaluateConfig(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), samplers="euler"))


def test_diffusion_samples_are_images_in_unit_range(tiny):
    from train.evaluate import diffusion_samples

    model = ckpt.load_checkpoint(tiny[0])
    x = diffusion_samples(model, "ddim3", 5, 4, seed=0)
    assert x.shape == (5, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, diffusion_samples(model, "ddim3", 5, 4, seed=0))  # seeded

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
                                   samplers="ddim4,ddpm", batch=10, cache=""), argv=["evaluate", "--n", "20"])
    assert [r["source"].split(",")[0] for r in rows] == [rows[0]["source"].split(",")[0], "DDIM", "DDPM"]
    assert all(1.0 - 1e-9 <= r["inception_score"] <= 10.0 for r in rows)
    assert all(r["frechet_distance"] >= -1e-6 and r["n"] == 20 for r in rows)
    card = ckpt.read_card(ddpm)
    assert card["sample_quality"]["command"] == "python -m train evaluate --n 20"
    assert len(card["sample_quality"]["rows"]) == 3


def test_evaluate_refuses_unknown_samplers(tiny):
    ddpm, clf, data = tiny
    with pytest.raises(ValueError, match="'euler' is not 'ddpm' or 'ddimK'"):
        evaluate(EvaluateConfig(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), samplers="euler",
                                cache=""))


def test_diffusion_samples_are_images_in_unit_range(tiny):
    from train.evaluate import diffusion_samples

    model = ckpt.load_checkpoint(tiny[0])
    x, seconds = diffusion_samples(model, "ddim3", 5, 4, seed=0)
    assert x.shape == (5, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and seconds > 0
    assert torch.equal(x, diffusion_samples(model, "ddim3", 5, 4, seed=0)[0])  # seeded
    assert torch.equal(x[:4], diffusion_samples(model, "ddim3", 4, 4, seed=0)[0])  # each batch has its own generator
    assert not torch.equal(x, diffusion_samples(model, "ddim3", 5, 4, seed=1)[0])


def test_finished_batches_are_cached_per_checkpoint_and_resumed(tiny, tmp_path):
    from train.evaluate import diffusion_samples, file_digest

    ddpm, clf, data = tiny
    model = ckpt.load_checkpoint(ddpm)
    x, _ = diffusion_samples(model, "ddim3", 10, 4, seed=0, cache=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"ddim3_seed0_batch4_{b:04d}.safetensors" for b in range(3)]
    (tmp_path / files[1]).unlink()  # as if stopped during batch 1: batches 0 and 2 come from the cache
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # weights the cache cannot know about: only batch 1 is sampled again, with them
    y, seconds_again = diffusion_samples(model, "ddim3", 10, 4, seed=0, cache=tmp_path)
    assert torch.equal(y[:4], x[:4]) and torch.equal(y[8:], x[8:]) and not torch.equal(y[4:8], x[4:8])
    assert seconds_again > 0
    # evaluate() keys the cache by the checkpoint file's digest, so new weights never reuse old batches
    evaluate(EvaluateConfig(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=8, samplers="ddim2",
                            batch=4, cache=str(tmp_path / "c"), write_card=False))
    assert [p.name for p in (tmp_path / "c").iterdir()] == [file_digest(ddpm)]
    assert len(list((tmp_path / "c" / file_digest(ddpm)).iterdir())) == 2

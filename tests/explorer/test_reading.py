"""Alt text that says what digit a generated image shows (explorer/reading.py), on the shipped classifier."""

import html
import re

import pytest
import torch

from explorer import reading
from explorer.models import load_models
from tests.conftest import CHECKPOINTS
from train.checkpoint import load_checkpoint
from train.data import load_split


def onehot(*rows: tuple[int, float]) -> torch.Tensor:
    """Probabilities whose top class is d with probability p, the rest spread evenly."""
    out = torch.zeros(len(rows), 10, dtype=torch.float64)
    for i, (d, p) in enumerate(rows):
        out[i] = (1 - p) / 9
        out[i, d] = p
    return out


def test_one_many_and_unsure_readings_are_worded_as_they_are():
    assert reading.describe(onehot((7, 0.98))) == "the classifier reads 7 (98%)"
    two = torch.tensor([[0.0] * 3 + [0.4, 0.35] + [0.25 / 5] * 5], dtype=torch.float64)
    assert reading.describe(two) == "the classifier is unsure: 3 (40%) or 4 (35%)"
    assert reading.describe(onehot((1, 0.9), (2, 0.6))) == "the classifier reads, in order: 1 (90%); 2 (60%)"
    many = onehot(*[(3, 0.9)] * 9, *[(5, 0.8)] * 3, (0, 0.2))  # 13 images: counted per class
    assert reading.describe(many) == "the classifier reads 9× 3, 3× 5; unsure of 1"
    assert reading.describe(onehot(*[(0, 0.2)] * 12)) == "the classifier reads none of them with confidence"


@pytest.fixture(scope="module")
def classifier():
    return load_checkpoint(CHECKPOINTS / "classifier.safetensors")


def test_probabilities_sum_to_one_for_every_accepted_shape(classifier, synthetic_data):
    images = load_split("mnist", False, synthetic_data).images[:32]  # (32, 28, 28) in [0, 1]
    p = reading.probabilities(classifier, images)
    assert p.shape == (32, 10) and torch.allclose(p.sum(1), torch.ones(32), atol=1e-5)
    torch.testing.assert_close(reading.probabilities(classifier, images.reshape(32, 784)), p)
    torch.testing.assert_close(reading.probabilities(classifier, images[:, None]), p)


SHARED_MNIST = CHECKPOINTS.parent.parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST" / "raw").is_dir(), reason="the real MNIST test set is not beside "
                    "the repository (../shared/data)")
def test_the_reading_names_real_test_digits_as_their_labels(classifier):
    """What a screen reader hears is right as often as the classifier's card says (test accuracy 99.2%): checked on
    the first 500 real test digits, through the same words the alt text uses."""
    split = load_split("mnist", False, SHARED_MNIST)
    p = reading.probabilities(classifier, split.images[:500])
    said = [reading.describe(row[None]) for row in p]
    right = sum(s == f"the classifier reads {int(y)} ({float(row.max()):.0%})"
                for s, y, row in zip(said, split.labels[:500], p, strict=True))
    assert right >= 0.97 * 500, right


def test_generated_images_carry_the_reading_in_their_alt_text(synthetic_data):
    """The VAE's decoded digit and its samples, and an interpolation: each alt text names what the classifier
    reads, recomputed here from the same images."""
    from explorer.labs.vae import controls, sampling

    models = load_models(CHECKPOINTS, synthetic_data, download=False)
    assert models.classifier is not None
    vae = models.vae("2-D latent")
    out = controls.decode(models, "2-D latent", 0, 0.5, -1.0)
    alts = [html.unescape(a) for a in re.findall(r'alt="([^"]*)"', out)]
    probs = vae.decode_probs(torch.tensor([[0.5, -1.0]]))
    expected = reading.describe(reading.probabilities(models.classifier, probs))
    assert alts[0].endswith("; " + expected) and expected.startswith("the classifier reads ")
    _, stages, grids = sampling.ancestral(models, "2-D latent", 0, 16)
    grid_alts = [html.unescape(a) for a in re.findall(r'alt="([^"]*)"', grids)]
    s = vae.sample(16, torch.Generator().manual_seed(0))
    assert grid_alts[0] == ("16 decoded means f(z), 2-D latent VAE, seed 0; "
                            + reading.describe(reading.probabilities(models.classifier, s.probs)))
    assert re.search(r"the classifier reads (\d+× \d(, )?)+", grid_alts[1])  # 16 images: counted per class
    stage_alts = [html.unescape(a) for a in re.findall(r'alt="([^"]*)"', stages)]
    assert stage_alts[0].endswith(reading.describe(reading.probabilities(models.classifier, s.probs[:1])))
    assert "<" not in "".join(alts + grid_alts)  # plain text, no markup


def test_without_a_classifier_the_alt_text_just_omits_the_reading(tmp_path, synthetic_data):
    for f in CHECKPOINTS.glob("vae_*"):
        (tmp_path / f.name).symlink_to(f.resolve())
    models = load_models(tmp_path, synthetic_data, download=False)
    assert models.classifier is None and "classifier" in models.errors
    assert models.alt("a digit", torch.zeros(1, 784)) == "a digit"

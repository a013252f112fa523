"""Building the app in-process: missing or broken checkpoints give a message, never a traceback."""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.__main__ import parse_args
from explorer.app import build_demo
from explorer.labs.vae import page_decoder
from explorer.models import DEFAULT_CHECKPOINTS, load_models
from tests.conftest import CHECKPOINTS


def _texts(demo) -> str:
    return json.dumps([c.get("props", {}).get("value") for c in demo.config["components"]], ensure_ascii=False)


def _errors(demo) -> list[str]:
    """The values of the error boxes (Markdown with the class ge-error), in page order."""
    return [c["props"]["value"] for c in demo.config["components"]
            if "ge-error" in (c.get("props", {}).get("elem_classes") or [])]


def _value(demo, elem_id: str):
    (value,) = [c["props"]["value"] for c in demo.config["components"] if c.get("props", {}).get("elem_id") == elem_id]
    return value


def _elem_ids(demo) -> set[str]:
    return {c.get("props", {}).get("elem_id") for c in demo.config["components"]} - {None}


def test_missing_and_corrupt_checkpoints_are_named_with_their_command(tmp_path, synthetic_data):
    (tmp_path / "vae_2d.safetensors").write_bytes(b"not a checkpoint")
    models = load_models(tmp_path, synthetic_data, download=False)
    assert not models.vaes
    err2, err32 = models.errors["2-D latent"], models.errors["32-D latent"]
    assert "vae_2d.safetensors" in err2 and "python -m train vae --latent-dim 2" in err2
    assert "vae_32d.safetensors: no such checkpoint file" in err32 and "--latent-dim 32" in err32
    demo = build_demo(models)
    text = _texts(demo)
    assert "2-D latent model unavailable" in text and "vae_32d.safetensors" in text
    # the error boxes hold exactly load_models' messages (what failed, and the command), one per model, nothing else
    planes = "; ".join(models.errors[f"ddpm2d {n}"] for n in ("ring8", "uneven3", "moons", "spiral", "checkerboard"))
    assert _errors(demo) == [f"⚠️ **{name} model unavailable.** {models.errors[name]}"
                             for name in ("2-D latent", "32-D latent")] + [
        f"⚠️ **Diffusion model unavailable.** {models.errors['diffusion']}",
        f"⚠️ **2-D diffusion models unavailable.** {planes}"]
    assert "python -m train diffusion2d --data spiral" in planes
    assert "not a readable safetensors file" in err2  # the corrupt file is told apart from the missing one
    assert "vae-decoded" not in _elem_ids(demo)  # without a VAE the lab builds none of its views
    assert "Kullback–Leibler divergence" in text  # the KL lab needs no checkpoint and is built
    assert "Diffusion model unavailable" in text and "ddpm.safetensors: no such checkpoint file" in text
    assert "python -m train diffusion" in text


def test_one_missing_checkpoint_leaves_the_other_usable(tmp_path, synthetic_data):
    (tmp_path / "vae_2d.safetensors").symlink_to(CHECKPOINTS / "vae_2d.safetensors")
    models = load_models(tmp_path, synthetic_data, download=False)
    planes = {f"ddpm2d {n}" for n in ("ring8", "uneven3", "moons", "spiral", "checkerboard")}
    assert list(models.vaes) == ["2-D latent"]
    assert set(models.errors) == {"32-D latent", "diffusion", "classifier", "β grid"} | planes
    demo = build_demo(models)
    assert "32-D latent model unavailable" in _texts(demo)
    assert [e.split("**")[1] for e in _errors(demo)] == ["32-D latent model unavailable.",
                                                         "Diffusion model unavailable.",
                                                         "2-D diffusion models unavailable."]
    # the 2-D model's decoded view starts at z = 0: its decoder mean, and a Bernoulli sample of it with seed 0
    value = json.loads(_value(demo, "vae-decoded"))  # what the server decoded, and for which z
    assert (value["model"], value["seed"], value["z"], value["error"]) == ("2-D latent", 0, [0.0, 0.0], False)
    view = value["html"]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", view)
    assert captions == ["mean f<sub>θ</sub>(z)", "sample x ~ B(f<sub>θ</sub>(z)), seed 0"]
    pngs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', view)
    assert len(pngs) == 2 and view.count("<img") == 2
    with torch.inference_mode():
        probs = models.vaes["2-D latent"].decode_probs(torch.zeros(1, 2))[0].reshape(28, 28)
    sample = page_decoder.bernoulli_sample(probs.flatten(), 0).reshape(28, 28)  # the page's uniforms
    mean_px, sample_px = (np.asarray(Image.open(io.BytesIO(base64.b64decode(b))), np.int64) for b in pngs)
    assert np.abs(mean_px - np.round(probs.numpy() * 255)).max() <= 1 and 0 < probs.min() < probs.max() < 1
    assert np.array_equal(sample_px, sample.numpy().astype(np.int64) * 255)


def test_without_test_digits_the_app_still_builds(tmp_path):
    models = load_models(CHECKPOINTS, tmp_path / "nowhere", download=False)
    assert models.digits is None and "--data-dir" in models.digits_error
    assert "sketchpad still works" in _texts(build_demo(models))


def test_cli_defaults_and_port_range(capsys):
    a = parse_args([])
    assert (a.host, a.port, a.share, a.checkpoints) == ("127.0.0.1", 7860, False, DEFAULT_CHECKPOINTS)
    try:
        parse_args(["--port", "70000"])
    except SystemExit as e:
        assert e.code == 2
    assert "--port 70000 is outside [1, 65535]" in capsys.readouterr().err


# --- checkpoint faults: a bad file disables its model with a message, the rest of the app starts ---------

def _nan_copy(src, dst, kind: str) -> None:
    """`src`'s model saved to `dst` with one weight NaN (a diverged run)."""
    from train.checkpoint import load_checkpoint, save_checkpoint

    model = load_checkpoint(src)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    save_checkpoint(dst, model, kind, {})


def _tiny_ddpm(path, card: dict | None = None, nan: bool = False):
    from train.checkpoint import save_checkpoint
    from train.models.ddpm import DDPM, DDPMConfig

    tiny = DDPM(DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=14, timesteps=50))
    if nan:
        with torch.no_grad():
            next(tiny.parameters()).view(-1)[0] = float("nan")
    save_checkpoint(path, tiny, "ddpm", {})
    if card is not None:
        (path.parent / "ddpm.json").write_text(json.dumps(card))


def test_nan_weights_a_wrong_kind_and_a_bad_card_leave_the_rest_of_the_app_working(tmp_path, synthetic_data):
    """Each of these stopped the whole app from starting: NaN weights in a VAE, a classifier in the DDPM's place;
    an unreadable VAE card marked a working model unavailable."""
    _nan_copy(CHECKPOINTS / "vae_2d.safetensors", tmp_path / "vae_2d.safetensors", "vae")
    (tmp_path / "vae_32d.safetensors").symlink_to(CHECKPOINTS / "vae_32d.safetensors")
    (tmp_path / "vae_32d.json").write_text("{ not json")
    (tmp_path / "ddpm.safetensors").symlink_to(CHECKPOINTS / "classifier.safetensors")
    models = load_models(tmp_path, synthetic_data, download=False)
    assert "NaN or infinite" in models.errors["2-D latent"] and "--latent-dim 2" in models.errors["2-D latent"]
    assert list(models.vaes) == ["32-D latent"] and models.vae_cards["32-D latent"] == {}
    assert any("vae_32d.json" in w and "used without it" in w for w in models.warnings)
    assert "holds a Classifier model, not a diffusion model" in models.errors["diffusion"] and models.ddpm is None
    demo = build_demo(models)
    assert "2-D latent model unavailable" in _texts(demo) and "32-D latent model unavailable" not in _texts(demo)
    assert "vae-decoded" in _elem_ids(demo)  # the 32-D model's lab is built


def test_an_unavailable_model_is_named_with_its_reason_in_the_page_and_the_api(tmp_path, synthetic_data):
    """A NaN 2-D model was only a start-up warning: the page said nothing and a call for its data set was told the
    set did not exist; a call for a VAE that did not load was told the model name was not allowed."""
    from explorer import checks

    for f in CHECKPOINTS.glob("*.safetensors"):
        if f.name not in ("ddpm2d_ring8.safetensors", "vae_2d.safetensors"):
            (tmp_path / f.name).symlink_to(f)
    _nan_copy(CHECKPOINTS / "ddpm2d_ring8.safetensors", tmp_path / "ddpm2d_ring8.safetensors", "ddpm2d")
    (tmp_path / "vae_2d.safetensors").write_bytes(b"truncated")
    models = load_models(tmp_path, synthetic_data, download=False)
    assert "ring8" not in models.planes and "uneven3" in models.planes
    with pytest.raises(checks.InputError, match=r"The 2-D model of the ring8 data set is unavailable: .*NaN.*"
                                                r"python -m train diffusion2d --data ring8"):
        models.plane("ring8")
    with pytest.raises(checks.InputError, match=r"The 2-D latent model is unavailable: .*--latent-dim 2"):
        models.vae("2-D latent")
    with pytest.raises(checks.InputError, match="Data set must be one of"):
        models.plane("no such set")
    texts = _texts(build_demo(models))
    assert "The ring8 model is unavailable." in texts and "2-D latent model unavailable" in texts


def test_a_vae_in_the_wrong_slot_and_odd_ddpm_cards_are_caught(tmp_path, synthetic_data):
    """A 2-D VAE in the 32-D slot was offered as "32-D"; a DDPM card that is JSON but not an object, or an object with
    fields of the wrong type, stopped the app at start."""
    (tmp_path / "vae_32d.safetensors").symlink_to(CHECKPOINTS / "vae_2d.safetensors")
    for card in ([1, 2], {"training": 5, "sample_quality": {"rows": "x"}}):
        _tiny_ddpm(tmp_path / "ddpm.safetensors", card)
        models = load_models(tmp_path, synthetic_data, download=False)
        assert "a VAE with a 2-D latent, not the 32-D latent model" in models.errors["32-D latent"]
        assert models.ddpm is not None and "diffusion" not in models.errors
        assert (models.ddpm_card == {}) == isinstance(card, list)
        assert any("not an object" in w for w in models.warnings) == isinstance(card, list)
        build_demo(models)  # starts, with the card's text left out
    _tiny_ddpm(tmp_path / "ddpm.safetensors", nan=True)  # NaN weights: every run would draw NaN
    (tmp_path / "ddpm.json").unlink()
    assert "NaN or infinite" in load_models(tmp_path, synthetic_data, download=False).errors["diffusion"]
    (tmp_path / "ddpm.safetensors").unlink()
    (tmp_path / "ddpm.safetensors").symlink_to(CHECKPOINTS / "vae_32d.safetensors")
    assert "holds a VAE model, not a diffusion model" in load_models(tmp_path, synthetic_data,
                                                                      download=False).errors["diffusion"]

"""Building the app in-process: missing or broken checkpoints give a message, never a traceback."""

import json

from explorer.__main__ import parse_args
from explorer.app import build_demo
from explorer.models import DEFAULT_CHECKPOINTS, load_models
from tests.conftest import CHECKPOINTS


def _texts(demo) -> str:
    return json.dumps([c.get("props", {}).get("value") for c in demo.config["components"]], ensure_ascii=False)


def test_missing_and_corrupt_checkpoints_are_named_with_their_command(tmp_path, synthetic_data):
    (tmp_path / "vae_2d.safetensors").write_bytes(b"not a checkpoint")
    models = load_models(tmp_path, synthetic_data, download=False)
    assert not models.vaes
    err2, err32 = models.errors["2-D latent"], models.errors["32-D latent"]
    assert "vae_2d.safetensors" in err2 and "python -m train vae --latent-dim 2" in err2
    assert "vae_32d.safetensors: no such checkpoint file" in err32 and "--latent-dim 32" in err32
    text = _texts(build_demo(models))
    assert "2-D latent model unavailable" in text and "vae_32d.safetensors" in text
    assert "Traceback" not in text
    assert "Kullback–Leibler divergence" in text  # the KL lab needs no checkpoint and is built
    assert "Diffusion model unavailable" in text and "ddpm.safetensors: no such checkpoint file" in text
    assert "python -m train diffusion" in text


def test_one_missing_checkpoint_leaves_the_other_usable(tmp_path, synthetic_data):
    (tmp_path / "vae_2d.safetensors").symlink_to(CHECKPOINTS / "vae_2d.safetensors")
    models = load_models(tmp_path, synthetic_data, download=False)
    assert list(models.vaes) == ["2-D latent"] and set(models.errors) == {"32-D latent", "diffusion"}
    text = _texts(build_demo(models))
    assert "32-D latent model unavailable" in text


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

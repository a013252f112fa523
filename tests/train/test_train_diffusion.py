"""The diffusion and classifier trainers on tiny synthetic data: learning, sample grids, exact resume."""

from pathlib import Path

import pytest
import torch

from train import checkpoint as ckpt
from train.data import write_synthetic_mnist
from train.models.classifier import ClassifierConfig
from train.models.ddpm import DDPMConfig
from train.train_classifier import ClassifierTrainConfig
from train.train_classifier import train as train_classifier
from train.train_diffusion import DiffusionTrainConfig
from train.train_diffusion import train as train_diffusion

# no self-attention: the trainer is what these tests are about (attention is tested in tests/train/test_evaluate.py
# and the explorer's tests), and at 14×14 it was a third of every step here; T = 10: each epoch's sample grid and the
# final ELBO take T network calls per image
TINY = DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=0, timesteps=10)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """64 training and 16 test images: with batches of 16, four steps an epoch, as the suite's 256 images in batches
    of 64 gave, at a quarter of the computation (what these tests check is the trainer's bookkeeping, not the model)."""
    return write_synthetic_mnist(tmp_path_factory.mktemp("small-data"), n_train=64, n_test=16)


def _cfg(tmp, data, **kw) -> DiffusionTrainConfig:
    base = dict(
        out=str(tmp / "ddpm.safetensors"),
        run_dir=str(tmp / "run"),
        data_dir=str(data),
        epochs=2,
        batch_size=16,
        lr=2e-3,
        warmup_steps=1,
        eval_images=4,
        grid_per_class=1,  # ten samples a grid: the grids' plumbing, at a tenth of the cost
        seed=3,
    )
    return DiffusionTrainConfig(**{**base, **kw})


def _no_time(h):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in h]


def test_diffusion_training_learns_and_writes_grids_and_card(tmp_path, small_data):
    card = train_diffusion(TINY, _cfg(tmp_path, small_data))
    h = card["history"]
    assert len(h) == 2 and h[-1]["train_loss"] < h[0]["train_loss"]
    assert sorted(p.name for p in (tmp_path / "run").glob("samples_epoch*.png")) == [
        "samples_epoch001.png",
        "samples_epoch002.png",
    ]
    m = card["metrics"]
    assert m["elbo_images"] == 4 and m["test_nelbo_bpd"] > 0
    model = ckpt.load_checkpoint(tmp_path / "ddpm.safetensors")
    assert (
        model.config == TINY
        and "exponential moving average" in ckpt.read_card(tmp_path / "ddpm.safetensors")["weights"]
    )


def test_diffusion_resume_is_exact(tmp_path, small_data):
    # two epochs of 4 steps, stopped in the middle of the second: the data order, EMA and optimizer resume mid-epoch
    # (no sample grids: they draw from their own seed, and the other tests check them)
    kw = dict(epochs=2, eval_images=0, grid_per_class=0)
    straight = train_diffusion(TINY, _cfg(tmp_path / "a", small_data, **kw))
    stopped = train_diffusion(TINY, _cfg(tmp_path / "b", small_data, max_steps=6, **kw))
    assert stopped["stopped_at_step"] == 6
    resumed = train_diffusion(TINY, _cfg(tmp_path / "b", small_data, resume=True, **kw))
    assert _no_time(resumed["history"]) == _no_time(straight["history"]) and len(resumed["commands"]) == 2
    a, b = (ckpt.load_checkpoint(tmp_path / d / "ddpm.safetensors") for d in ("a", "b"))
    assert all((x == y).all() for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_classifier_training_and_resume(tmp_path, small_data):
    def cfg(d, **kw):
        return ClassifierTrainConfig(
            out=str(tmp_path / d / "c.safetensors"),
            run_dir=str(tmp_path / d / "run"),
            data_dir=str(small_data),
            epochs=3,
            batch_size=16,  # four steps an epoch: max_steps=6 stops in the middle of the second
            **kw,
        )

    small = ClassifierConfig(channels=8, features=16)
    straight = train_classifier(small, cfg("a"))
    assert straight["history"][-1]["train_loss"] < straight["history"][0]["train_loss"]
    train_classifier(small, cfg("b", max_steps=6))
    resumed = train_classifier(small, cfg("b", resume=True))
    assert _no_time(resumed["history"]) == _no_time(straight["history"])


def test_resume_refuses_another_diffusion_config(tmp_path, small_data):
    train_diffusion(TINY, _cfg(tmp_path, small_data, epochs=1, eval_images=0, grid_per_class=0))
    other = DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=14, timesteps=30)
    with pytest.raises(ValueError, match="was trained with"):
        train_diffusion(other, _cfg(tmp_path, small_data, resume=True))


def test_device_flag_names_bad_or_absent_devices():
    from train.run import torch_device

    assert torch_device("cpu").type == "cpu"
    for bad in ("banana", "mps:x"):
        with pytest.raises(ValueError, match="--device"):
            torch_device(bad)
    if torch.cuda.is_available():
        assert torch_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            torch_device("cuda")


def test_cli_refuses_an_unknown_device_with_a_sentence(capsys):
    from train.__main__ import main

    assert main(["diffusion", "--device", "banana", "--epochs", "0"]) == 2
    assert "--device 'banana'" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the device machine, not CI)")
def test_training_on_cuda_follows_the_cpu_run(tmp_path, synthetic_data):
    """Batches, times, noise and label dropout are drawn on the CPU, so without the network's own dropout
    (which draws on the device) a CUDA run's losses agree with the CPU run's up to floating-point differences;
    its checkpoint loads on the CPU."""
    import dataclasses

    cfg = dataclasses.replace(TINY, dropout=0.0)
    kw = dict(eval_images=0, epochs=2, batch_size=64)
    cpu = train_diffusion(cfg, _cfg(tmp_path / "cpu", synthetic_data, **kw))
    gpu = train_diffusion(cfg, _cfg(tmp_path / "gpu", synthetic_data, device="cuda", **kw))
    for a, b in zip(cpu["history"], gpu["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=2e-2)
        assert a["test_loss_ema"] == pytest.approx(b["test_loss_ema"], rel=2e-2)
    model = ckpt.load_checkpoint(tmp_path / "gpu" / "ddpm.safetensors")
    assert next(model.parameters()).device.type == "cpu"


def test_min_snr_weight_is_min_snr_gamma_over_snr():
    """Hang et al. 2023 for ε-prediction: w_t = min(SNR_t, γ) / SNR_t, SNR_t = ᾱ_t / (1 − ᾱ_t), from the schedule."""
    from train.diffusion import GaussianDiffusion, linear_betas

    d = GaussianDiffusion(1000, "linear")
    t = torch.arange(1000)
    ac = torch.cumprod(1 - linear_betas(1000), 0)  # float64, independent of the float32 buffers
    snr = ac / (1 - ac)
    w = d.loss_weight(t, "min_snr", 5.0).double()
    torch.testing.assert_close(w, snr.clamp(max=5.0) / snr, rtol=1e-5, atol=0)
    assert w[0] < 1e-3 and w[-1] == 1.0  # a nearly clean step weighs little, a noisy one fully
    assert (d.loss_weight(t, "uniform") == 1).all()
    with pytest.raises(ValueError, match="weighting"):
        d.loss_weight(t, "v")


def test_warm_start_loads_the_weights_and_keeps_the_chain_of_commands(tmp_path, small_data):
    first = train_diffusion(TINY, _cfg(tmp_path / "a", small_data, epochs=1, eval_images=0, grid_per_class=0))
    source = tmp_path / "a" / "ddpm.safetensors"
    cfg = _cfg(tmp_path / "c", small_data, epochs=1, eval_images=0, init_from=str(source), lr=0.0,
               class_dropout=0.5, loss_weighting="min_snr", grid_per_class=0)
    card = train_diffusion(TINY, cfg)  # lr 0: the weights stay those it started from
    warm = ckpt.load_checkpoint(cfg.out)
    cold = ckpt.load_checkpoint(source)
    for (k, a), b in zip(warm.state_dict().items(), cold.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
    assert card["commands"][: len(first["commands"])] == first["commands"]
    assert "initialize the run below" in card["commands"][len(first["commands"])]
    wide = DDPMConfig(**{**TINY.__dict__, "base_channels": 16})
    with pytest.raises(ValueError, match="differs from this run's"):
        train_diffusion(wide, _cfg(tmp_path / "d", small_data, epochs=1, init_from=str(source)))

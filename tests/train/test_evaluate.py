"""The sample-quality command end to end on tiny models and tiny data."""

from functools import partial

import pytest
import torch

from train import checkpoint as ckpt
from train.data import load_split
from train.evaluate import EvaluateConfig, evaluate
from train.models.classifier import Classifier, ClassifierConfig
from train.models.ddpm import DDPM, DDPMConfig
from train.sample_quality import classifier_outputs, frechet_distance, inception_score

Quiet = partial(EvaluateConfig, default_view=False)  # without the viewer's default run, which only one test reads


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, synthetic_data):
    d = tmp_path_factory.mktemp("eval")
    # self-attention at 14×14 is most of each step of this model: T = 10 keeps DDPM's T steps short (every other
    # sampler here takes 4 steps or fewer)
    ddpm = ckpt.save_checkpoint(d / "ddpm.safetensors", DDPM(DDPMConfig(base_channels=8, channel_mults="1,2",
                                num_res_blocks=1, attention_at=14, timesteps=10)), "ddpm", {})
    clf = ckpt.save_checkpoint(d / "clf.safetensors", Classifier(ClassifierConfig(channels=8, features=16)),
                               "classifier", {})
    return ddpm, clf, synthetic_data


def test_evaluate_writes_a_row_per_source_into_the_card(tiny, monkeypatch):
    import train.evaluate as ev

    ddpm, clf, data = tiny
    # its own test recomputes it: here only its row in the card is read
    monkeypatch.setattr(ev, "default_view", partial(ev.default_view, seeds=2, n=2, steps=2))
    rows = evaluate(EvaluateConfig(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=20,
                                   samplers="ddim4,ddpm,dpmpp2m3", batch=10, cache=""), argv=["evaluate", "--n", "20"])
    floor = "real digits"
    assert [r["source"].split(",")[0] for r in rows] == [floor, floor, "DDIM", "DDPM", "DPM-Solver++(2M)"]
    assert rows[4]["source"].startswith("DPM-Solver++(2M), 3 steps")
    # the floor rows, recomputed here: N random (then class-balanced) training digits against the whole test set,
    # and N random (class-balanced) test digits' own IS
    model = ckpt.load_checkpoint(clf)
    test, train = load_split("mnist", False, str(data)), load_split("mnist", True, str(data))
    test_feats = classifier_outputs(model, test.images)[1]
    assert len(test_feats) == 64 and all(r["reference"] == "all 64 MNIST test images" for r in rows)
    for row, balanced in zip(rows[:2], (False, True), strict=True):
        g = torch.Generator().manual_seed(0)
        if balanced:  # two of each class, drawn class by class, in the samples' label order 0–9, 0–9
            train_idx, test_idx = [], []
            for labels, idx in ((train.labels, train_idx), (test.labels, test_idx)):
                picks = [(labels == c).nonzero().squeeze(1)[torch.randperm(int((labels == c).sum()), generator=g)[:2]]
                         for c in range(10)]
                idx += [int(picks[c][k]) for k in range(2) for c in range(10)]
            assert test.labels[test_idx].tolist() == list(range(10)) * 2
        else:
            train_idx = torch.randperm(256, generator=g)[:20]
            test_idx = torch.randperm(64, generator=g)[:20]
        test_probs = classifier_outputs(model, test.images[test_idx])[0]
        train_feats = classifier_outputs(model, train.images[train_idx])[1]
        assert (row["inception_score"], row["inception_score_std"]) == pytest.approx(inception_score(test_probs))
        assert row["frechet_distance"] == pytest.approx(frechet_distance(train_feats, test_feats))
        assert row["labels"] == ("balanced" if balanced else "none")
    assert rows[0]["frechet_distance"] != pytest.approx(rows[1]["frechet_distance"])
    assert all(1.0 - 1e-9 <= r["inception_score"] <= 10.0 for r in rows)
    assert all(r["frechet_distance"] >= -1e-6 and r["n"] == 20 for r in rows)
    assert [r["kind"] for r in rows] == ["real", "real", "ddpm", "ddpm", "ddpm"]  # fields the app reads
    assert [(r["sampler"], r["labels"], r["guidance"], r["device"]) for r in rows[2:]] == [
        ("ddim4", "none", 0.0, "cpu"), ("ddpm", "none", 0.0, "cpu"), ("dpmpp2m3", "none", 0.0, "cpu")]
    card = ckpt.read_card(ddpm)
    assert [r["command"] for r in card["sample_quality"]["rows"]] == ["python -m train evaluate --n 20"] * 5
    view = card["default_view"]  # the viewer's first run (here seeds 0–1 of 2 samples), with its command
    assert view["samples"] == 4 and len(view["confident_per_seed"]) == 2 and 0 <= view["confident_share"] <= 1
    assert view["command"] == "python -m train evaluate --n 20"

    # another run merges into the table: same source and N replaced, new ones added, each with its command
    evaluate(Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=20, samplers="ddim4",
                            batch=10, cache="", labels="balanced", guidance=1.0), argv=["evaluate", "--labels", "b"])
    table = ckpt.read_card(ddpm)["sample_quality"]["rows"]
    assert [r["source"].split(",")[0] for r in table] == ["DDIM", "DDPM", "DPM-Solver++(2M)", floor, floor, "DDIM"]
    # the floor rows were replaced by the second run's (same source and N, same scores), the first run's DDPM rows kept
    assert [{k: t[k] for k in r} for t, r in zip(table[3:5], rows[:2], strict=True)] == rows[:2]
    assert [{k: t[k] for k in r} for t, r in zip(table[:3], rows[2:], strict=True)] == rows[2:]
    assert table[-1]["source"].endswith("class-conditional (labels 0–9 in turn), guidance w = 1")
    assert [r["command"].split()[-1] for r in table] == ["20", "20", "20", "b", "b", "b"]


def test_rows_of_another_reference_are_kept_apart_until_scored_again(tiny, tmp_path):
    """A card scored against the first N test images (before the whole test set was the reference): its rows move to
    "superseded" with their floor, and leave it as their sources are scored against the new one, at any N."""
    from train.evaluate import write_rows

    ddpm, *_ = tiny
    path = ckpt.save_checkpoint(tmp_path / "ddpm.safetensors", ckpt.load_checkpoint(ddpm), "ddpm", {})
    old = [{"source": s, "kind": k, "n": 20, "inception_score": 9.0, "frechet_distance": fd, "command": "old"}
           for s, k, fd in (("the old floor", "real", 24.9), ("DDIM, 4 steps, η = 0", "ddpm", 80.0),
                            ("DDPM, all 20 steps", "ddpm", 50.0))]
    card = ckpt.read_card(path)
    ckpt.write_json(ckpt.card_path(path), {**card, "sample_quality": {"classifier": "clf.safetensors", "rows": old}})
    new = {"n": 20, "kind": "ddpm", "inception_score": 9.5, "frechet_distance": 7.0, "reference": "all 64"}
    write_rows(path, [{**new, "source": "DDIM, 4 steps, η = 0"}], "clf.safetensors", "new")
    sq = ckpt.read_card(path)["sample_quality"]
    assert sq["reference"] == "all 64" and [r["frechet_distance"] for r in sq["rows"]] == [7.0]
    assert [(r["source"], r["reference"]) for r in sq["superseded"]] == [
        ("the old floor", "the first 20 MNIST test images"), ("DDPM, all 20 steps", "the first 20 MNIST test images")]
    write_rows(path, [{**new, "n": 8, "source": "DDPM, all 20 steps"}], "clf.safetensors", "new")
    assert "superseded" not in ckpt.read_card(path)["sample_quality"]  # a floor alone is no longer kept


def test_balanced_labels_cycle_through_the_classes():
    from train.evaluate import balanced_labels

    assert balanced_labels(0, 12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert balanced_labels(250, 3).tolist() == [0, 1, 2]  # batch b continues where batch b − 1 stopped


def test_class_conditional_samples_use_labels_and_guidance(tiny):
    from train.evaluate import diffusion_samples

    model = ckpt.load_checkpoint(tiny[0])
    with torch.no_grad():  # untrained, the UNet's zero-initialised output layer ignores its input, labels included
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    uncond, _ = diffusion_samples(model, "ddim3", 6, 4, seed=0)
    cond, _ = diffusion_samples(model, "ddim3", 6, 4, seed=0, labels="balanced")
    guided, _ = diffusion_samples(model, "ddim3", 6, 4, seed=0, labels="balanced", guidance=2.0)
    assert not torch.equal(uncond, cond) and not torch.equal(cond, guided)
    with pytest.raises(ValueError, match=r"guidance = 2\.0 needs class labels"):
        diffusion_samples(model, "ddim3", 6, 4, seed=0, guidance=2.0)
    with pytest.raises(ValueError, match="labels 'some' is not 'none' or 'balanced'"):
        diffusion_samples(model, "ddim3", 6, 4, seed=0, labels="some")


def test_evaluate_refuses_unknown_samplers(tiny):
    ddpm, clf, data = tiny
    with pytest.raises(ValueError, match="'euler' is not 'ddpm', 'ddimK' or 'dpmpp2mK'"):
        evaluate(Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), samplers="euler",
                                cache=""))


def test_diffusion_samples_are_images_in_unit_range(tiny):
    from train.evaluate import diffusion_samples

    model = ckpt.load_checkpoint(tiny[0])
    x, seconds = diffusion_samples(model, "ddim3", 10, 4, seed=0)
    assert x.shape == (10, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and seconds > 0
    assert torch.equal(x, diffusion_samples(model, "ddim3", 10, 4, seed=0)[0])  # seeded
    assert not torch.equal(x, diffusion_samples(model, "ddim3", 10, 4, seed=1)[0])
    assert not torch.equal(x[:4], x[4:8])  # batches differ
    # batch b has its own generator, seeded seed·100,000 + b, so it can be made alone
    g = torch.Generator().manual_seed(0 * 100_000 + 1)
    with torch.no_grad():
        b1 = model.diffusion.sample(model.eps_model(None), (4, 1, 28, 28), "ddim", 3, 0.0, g)
    assert torch.equal(x[4:8], ((b1 + 1) / 2).clamp(0, 1))


def test_finished_batches_are_cached_and_a_stopped_run_resumes(tiny, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from train.evaluate import diffusion_samples

    model = ckpt.load_checkpoint(tiny[0])
    x, _ = diffusion_samples(model, "ddim3", 10, 4, seed=0, cache=tmp_path)
    names = [f"ddim3_seed0_batch4_{b:04d}x{k}.safetensors" for b, k in ((0, 4), (1, 4), (2, 2))]
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # nothing else, no temporary files left
    recorded = 0.0
    for name in names:
        with safe_open(tmp_path / name, "pt") as f:
            recorded += float(f.metadata()["seconds"])
    y, seconds = diffusion_samples(model, "ddim3", 10, 4, seed=0, cache=tmp_path)
    assert torch.equal(y, x) and abs(seconds - recorded) < 1e-6  # all from the cache, with their recorded time

    save_file({"samples": torch.zeros(4, 1, 28, 28)}, str(tmp_path / names[0]), metadata={"seconds": "1.5"})
    (tmp_path / names[1]).unlink()  # as if stopped during batch 1
    (tmp_path / names[2]).write_bytes(b"not a safetensors file")  # damaged: made again
    y, seconds = diffusion_samples(model, "ddim3", 10, 4, seed=0, cache=tmp_path)
    assert torch.equal(y[:4], torch.zeros(4, 1, 28, 28))  # cached batches are used as stored
    assert torch.equal(y[4:], x[4:]) and seconds > 1.5  # the missing and damaged ones are made again, identically

    z, _ = diffusion_samples(model, "ddim3", 9, 4, seed=0, cache=tmp_path)  # another n: its last batch is new
    assert (tmp_path / "ddim3_seed0_batch4_0002x1.safetensors").exists() and (tmp_path / names[2]).exists()
    assert torch.equal(z[4:8], x[4:8])


def test_evaluate_keys_the_cache_by_checkpoint_and_code(tiny, tmp_path):
    from train.evaluate import cache_key, file_digest

    ddpm, clf, data = tiny
    cfg = Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=8, samplers="ddim2",
                         batch=4, cache=str(tmp_path), write_card=False)
    evaluate(cfg)
    assert [p.name for p in tmp_path.iterdir()] == [cache_key(ddpm)]
    assert cache_key(ddpm).startswith(file_digest(ddpm) + "-code")
    assert len(list((tmp_path / cache_key(ddpm)).iterdir())) == 2
    other = tmp_path / "other.safetensors"
    ckpt.save_checkpoint(other, DDPM(DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1,
                                                 attention_at=14, timesteps=10)), "ddpm", {})
    assert cache_key(other) != cache_key(ddpm)  # new weights never reuse old batches


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the device machine, not CI)")
def test_cuda_samples_are_cached_apart_and_named_in_the_row(tiny, tmp_path):
    ddpm, clf, data = tiny
    rows = evaluate(Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=8,
                                   samplers="ddim2", batch=4, cache=str(tmp_path), write_card=False, device="cuda"))
    from train.evaluate import cache_key, device_tag

    gpu = device_tag(torch.device("cuda"))
    assert gpu.startswith("cuda-") and " " not in gpu and rows[-1]["source"].endswith(f"sampled on {gpu}")
    names = sorted(p.name for p in (tmp_path / cache_key(ddpm)).iterdir())
    assert names == [f"ddim2_{gpu}_seed0_batch4_000{b}x4.safetensors" for b in (0, 1)]


def test_evaluate_refuses_an_absent_device(tiny):
    ddpm, clf, data = tiny
    cfg = Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=8, samplers="ddim2",
                         batch=4, cache="", write_card=False, device="cuda" if not torch.cuda.is_available() else "xla")
    with pytest.raises(ValueError, match="--device"):
        evaluate(cfg)


@pytest.mark.slow
def test_compiled_unet_samples_what_the_plain_one_does():
    """tests/train/compiled_check.py: about a minute of compiling, so in the slow tier."""
    from tests.train.compiled_check import check

    r = check()
    assert r["new_module"] and r["same_null_label"]  # what eps_model reads
    assert not r["plain_all_zero"] and r["shape"] == [4, 1, 28, 28]
    assert r["max_abs_diff"] <= 1e-4, r


def test_evaluate_compile_flag_samples_with_the_compiled_unet(tiny, monkeypatch):
    """--compile hands the UNet to fast_unet, and only then. fast_unet is recorded here, not run: that the compiled
    network samples what the plain one does is the test above (compiling costs ~30 s)."""
    import train.evaluate as ev

    ddpm, clf, data = tiny
    compiled = []

    def recording_fast_unet(unet):
        compiled.append(unet)
        return unet

    monkeypatch.setattr(ev, "fast_unet", recording_fast_unet)
    for flag in (False, True):
        evaluate(Quiet(ddpm=str(ddpm), vae="", classifier=str(clf), data_dir=str(data), n=4,
                                samplers="ddim2", batch=4, cache="", write_card=False, compile=flag))
        assert len(compiled) == int(flag)


def test_default_view_scores_the_viewers_first_run(tiny, tmp_path):
    """The share of the viewer's default samples that the classifier reads confidently, recomputed here from z_T
    drawn as the viewer draws it; and a trainer's state file scores its EMA weights."""
    from dataclasses import asdict

    from train.evaluate import default_view, load_ddpm

    ddpm_path, clf_path, _ = tiny
    model, clf = ckpt.load_checkpoint(ddpm_path), ckpt.load_checkpoint(clf_path)
    view = default_view(model, clf, seeds=2, n=3, steps=2, confidence=0.2)
    counts = []
    for seed in range(2):
        z_T = torch.randn((3, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
        *_, last = model.diffusion.ddim_sample_progressive(model.eps_model(None), (3, 1, 28, 28), 2, z_T=z_T)
        probs = classifier_outputs(clf, ((last.z_prev + 1) / 2).clamp(0, 1))[0]
        counts.append(int((probs.max(1).values >= 0.2).sum()))
    assert view["confident_per_seed"] == counts and view["confident_share"] == sum(counts) / 6
    state = tmp_path / "state.safetensors"
    ckpt.save_state(state, {"model_config": asdict(model.config), "ema": model.state_dict(), "step": 1})
    again = load_ddpm(state)
    for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)

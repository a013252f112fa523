"""Does the compiled UNet (train/evaluate.py's fast_unet: channels-last, torch.compile) sample what the plain one
does? tests/train/test_evaluate.py::test_compiled_unet_samples_what_the_plain_one_does (the `slow` tier: compiling
costs ~50 s of CPU on a cold cache, most of it g++ on Inductor's kernels) asserts on the answer. Run as a script, it
prints it as JSON:

    python -m tests.train.compiled_check
"""

from __future__ import annotations

import json
import sys

import torch


def check() -> dict:
    from train.evaluate import diffusion_samples, fast_unet
    from train.models.ddpm import DDPM, DDPMConfig

    torch.manual_seed(0)
    config = DDPMConfig(base_channels=8, channel_mults="1,2", num_res_blocks=1, attention_at=14, timesteps=20)
    model = DDPM(config).eval()  # as loaded for evaluation: no dropout
    with torch.no_grad():  # give the zero-initialised output layers something to say
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    plain, _ = diffusion_samples(model, "ddim3", 4, 4, seed=0, labels="balanced", guidance=1.0)
    unet = model.unet
    model.unet = fast_unet(model.unet)
    fast, _ = diffusion_samples(model, "ddim3", 4, 4, seed=0, labels="balanced", guidance=1.0)
    return {"new_module": model.unet is not unet, "same_null_label": model.unet.null_label == unet.null_label,
            "plain_all_zero": bool(torch.equal(plain, torch.zeros_like(plain))),
            "max_abs_diff": float((fast - plain).abs().max()), "shape": list(fast.shape)}


if __name__ == "__main__":
    json.dump(check(), sys.stdout)

"""The VAE decoder in the page: its weights, exported from the checkpoint by our own code, served once per model;
and the pixel uniforms that page and server share, so that the page's Bernoulli sample is the server's.

While a latent slider is dragged the page computes f_θ(z) itself (explorer/static/decoder.js): three dense
layers, 0.7 M multiply-adds, about a millisecond in JavaScript, so the picture follows within one display frame
and the server does no work per drag step. When the drag settles the page asks the server (`settle`), whose
answer replaces the page's: the server stays the source of truth.

Why a hand-written forward pass and not an inference runtime: the decoder is Linear → ELU → Linear → ELU →
Linear → sigmoid. A runtime (onnxruntime-web's WebAssembly is megabytes) would bring more code than the model
has layers; 40 lines of JavaScript, tested against torch in headless Chromium, do it exactly.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile

import numpy as np
import torch
from torch import nn

from explorer import served
from train.models.vae import VAE

M32 = 0xFFFFFFFF


@functools.lru_cache(maxsize=64)
def _uniforms(seed: int, n: int) -> tuple[float, ...]:
    a, out = seed & M32, []
    for _ in range(n):  # Mulberry32 (Tommy Ettinger), in uint32 arithmetic, as decoder.js's mulberry32
        a = (a + 0x6D2B79F5) & M32
        t = ((a ^ (a >> 15)) * (1 | a)) & M32
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & M32)) & M32) ^ t
        out.append(((t ^ (t >> 14)) & M32) / 4294967296.0)
    return tuple(out)


def pixel_uniforms(seed: int, n: int = 784) -> torch.Tensor:
    """n uniforms in [0, 1) for pixel seed `seed`: pixel m is on when u_m < f_θ(z)_m, a Bernoulli draw. (n,)"""
    return torch.tensor(_uniforms(int(seed), n), dtype=torch.float32)


def bernoulli_sample(probs: torch.Tensor, seed: int) -> torch.Tensor:
    """x ~ B(probs) with the page's uniforms: (784,) in {0, 1}."""
    return (pixel_uniforms(seed, probs.shape[-1]) < probs).float()


def decoder_layers(vae: VAE) -> list[nn.Linear]:
    """The decoder's dense layers; refuses any other architecture than the page implements."""
    mods = list(vae.decoder)
    linear = [m for m in mods if isinstance(m, nn.Linear)]
    expected = [nn.Linear, nn.ELU] * (len(linear) - 1) + [nn.Linear]
    if [type(m) for m in mods] != expected or any(m.alpha != 1.0 for m in mods if isinstance(m, nn.ELU)):
        raise ValueError(f"the page implements Linear/ELU(1) decoders only, not {[type(m).__name__ for m in mods]}")
    return linear


def weights_blob(vae: VAE) -> bytes:
    """Every layer's weight (out × in, row-major) then bias, float32 little-endian, in order."""
    parts = []
    for layer in decoder_layers(vae):
        parts += [layer.weight.detach().float().numpy(), layer.bias.detach().float().numpy()]
    return b"".join(np.ascontiguousarray(p, dtype="<f4").tobytes() for p in parts)


def publish(models, folder) -> dict:
    """Write each VAE's decoder weights to `folder` (once per process) and return what the page needs:
    {model name: {"url", "dims": [D, 512, 512, 784], "bytes"}}."""

    out = {}
    for name, vae in models.vaes.items():
        slug = "".join(c if c.isalnum() else "-" for c in name)
        path = folder / f"vae-decoder-{slug}.bin"
        blob = weights_blob(vae)
        if not path.exists() or path.stat().st_size != len(blob):
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".dec-", suffix=".tmp", delete=False) as f:
                f.write(blob)
            os.replace(f.name, path)  # atomic: a page never fetches half a file
        dims = [decoder_layers(vae)[0].in_features] + [layer.out_features for layer in decoder_layers(vae)]
        out[name] = {"url": served.served_url(path), "dims": dims, "bytes": len(blob)}
    return out


def attributes(decoders: dict) -> str:
    """The decoders' description as an HTML attribute value (JSON, escaped)."""
    import html

    return html.escape(json.dumps(decoders), quote=True)

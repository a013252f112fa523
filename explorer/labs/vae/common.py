"""What the VAE lab's sub-labs share: constants, the per-model caches, the typed controls, and checks."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from explorer import checks, render
from explorer.models import Models
from explorer.state import EncodedDigit
from explorer.vae_maths import LatentPlane, latent_plane, manifold, slider_plane
from train.models.vae import VAE

MAX_SLIDERS = 32  # one slider per latent dimension, for latents up to this size
Z_RANGE = 4.0  # sliders span [-4, 4]: 99.99% of N(0, 1) mass
MANIFOLD_SIDE = 15  # cells per side of the manifold grid
GRID_CELL_PX = 2  # manifold cells are drawn at 2× so clicks land precisely
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def latent(vae: VAE, values, exact: bool = False) -> torch.Tensor:
    """The first D slider values as a (D,) latent, each checked to lie in the sliders' range. `exact`: there must be
    D values, no more (an API client's z; the page sends all its sliders, of which a smaller model reads the first)."""
    D = vae.latent_dim
    if not isinstance(values, list | tuple) or len(values) < D or (exact and len(values) != D):
        got = f"{len(values)} values" if isinstance(values, list | tuple) else checks.shown(values)
        raise checks.InputError(f"z must hold {D} latent values for this model, not {got}.")
    return torch.tensor([checks.number(f"z{d + 1}", values[d], -Z_RANGE, Z_RANGE) for d in range(D)])


def require_encoded(state) -> torch.Tensor:
    if state is None:
        raise checks.InputError("Encode a digit first: pick a test digit or draw one in the Encode tab.")
    return state.x


def encode_digit(models: Models, name: str, x: torch.Tensor, label: str) -> EncodedDigit:
    """x: (784,) in {0, 1}, encoded once by model `name`: what every view of the encoded digit reads."""
    vae = models.vae(name)
    with torch.inference_mode():
        q = vae.encode(x[None])
    return EncodedDigit(x, name, q.base_dist.loc[0], q.base_dist.scale[0], label)


def encoded_for(models: Models, name: str, state) -> EncodedDigit:
    """The session's encoded digit as model `name` encodes it (re-encoded if another model encoded it)."""
    require_encoded(state)
    return state if state.model == name else encode_digit(models, name, state.x, state.label)


def sliders_from_z(z: torch.Tensor) -> list:
    vals = [round(float(v), 2) for v in z.clamp(-Z_RANGE, Z_RANGE)]
    return vals + [gr.update() for _ in range(MAX_SLIDERS - len(vals))]  # sliders beyond D stay as they are


PRINCIPAL = "pc"  # the latent map's default plane: the encoder means' two leading principal axes


def map_planes(D: int) -> list[tuple[str, str]]:
    """The latent map's planes for a D-dimensional latent, as (label, value) choices: the principal axes, then each
    slider's axis (D > 2 only: a 2-D model's map is its whole latent space)."""
    if D <= 2:
        return [("the latent space itself (z1, z2)", PRINCIPAL)]
    return [("the means' principal axes (PC1, PC2)", PRINCIPAL)] + [
        (f"z{k + 1} against the principal axis across it", f"z{k + 1}") for k in range(D)]


class Cache:
    """Test-set encodings of each model, and its latent map planes with their decoded manifolds: the principal
    plane computed at build time, a slider's plane the first time a page asks for it (then kept)."""

    def __init__(self, models: Models):
        self.models = models
        self.means: dict[str, torch.Tensor | None] = {}
        self.planes: dict[str, LatentPlane] = {}
        self.manifolds: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        self._views: dict[tuple[str, str], tuple[LatentPlane, tuple[np.ndarray, torch.Tensor]]] = {}
        self._lock = threading.Lock()
        with torch.inference_mode():
            for name, vae in models.vaes.items():
                mu = vae.encode(models.digits.x).base_dist.loc if models.digits is not None else None
                self.means[name] = mu
                self.planes[name] = latent_plane(vae, mu)
                self.manifolds[name] = self._manifold(vae, self.planes[name])

    @staticmethod
    def _manifold(vae: VAE, plane: LatentPlane) -> tuple[np.ndarray, torch.Tensor]:
        imgs, uv = manifold(vae, plane, MANIFOLD_SIDE)
        return render.upscale(render.grid(imgs, MANIFOLD_SIDE, pad=0), GRID_CELL_PX), uv

    def view(self, name: str, axis: str) -> tuple[LatentPlane, tuple[np.ndarray, torch.Tensor]]:
        """Model `name`'s map plane `axis` (PRINCIPAL or "z1" … "zD", checked) and its decoded manifold (the grid
        image, the cells' plane coordinates)."""
        vae = self.models.vae(name)
        axis = checks.choice("Map plane", axis, [v for _, v in map_planes(vae.latent_dim)])
        if axis == PRINCIPAL:
            return self.planes[name], self.manifolds[name]
        with self._lock:
            if (name, axis) not in self._views:
                with torch.inference_mode():
                    plane = slider_plane(vae, self.means[name], int(axis[1:]) - 1)
                    self._views[name, axis] = (plane, self._manifold(vae, plane))
            return self._views[name, axis]


@dataclass(frozen=True)
class VaeControls:
    """The components that the VAE lab's sub-labs share: the left column (model, decoded view, pixel seed, the
    latent sliders) and the session's state. Each sub-lab's build returns its own components; the lab's __init__
    wires events across sub-labs."""

    models: Models
    cache: Cache
    model: gr.Dropdown
    decoded: gr.HTML
    seed: gr.Number
    sliders: list[gr.Slider]
    more_dims: gr.Accordion
    zero: gr.Button
    rand: gr.Button
    encoded: gr.State  # this session's EncodedDigit (None: nothing encoded yet)

    @property
    def first(self) -> str:
        return next(iter(self.models.vaes))

"""Training a small 2-D VAE in the explorer's session, and the three numbers it shows after every epoch. Torch only
(no data loading, no run folders, no processes), so the app can import it; `python -m train vae` is the full trainer
and uses the same objective (train/train_vae.py: negative_elbo).

After each epoch, on one fixed batch of binarized test digits (means over the batch, nats per digit):
- the ELBO, E_q[log p(x|z)] − KL(q(z|x) || p(z)), by Monte Carlo with `elbo_samples` draws per digit;
- the IWAE-K bound (Burda et al. 2015), a lower bound on log p(x) in expectation that tightens as K grows;
- log p(x) itself, by quadrature over the latent plane (train/exact_likelihood.py): no bound.
So log p(x) − ELBO, the gap, can be watched as it opens and closes while the encoder and decoder learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from train.exact_likelihood import BernoulliVAE, exact_log_px
from train.models.vae import VAE


class Scores(NamedTuple):
    """Means over the fixed batch, nats per digit."""

    elbo: float
    iwae: float
    exact: float
    k: int  # the IWAE bound's K


def lr_at(lr: float, step: int, total: int) -> float:
    """Cosine from lr down to lr/100, as `python -m train vae` does."""
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0))))


def fit(model: VAE, images: torch.Tensor, epochs: int, beta: float = 1.0, batch_size: int = 128, lr: float = 2e-3,
        seed: int = 0) -> Iterator[tuple[int, int, float, bool]]:
    """Train `model` on `images` ((N, 784) grey levels in [0, 1], binarized afresh every time a digit is seen) for
    `epochs` passes, minimizing −(E_q[log p(x|z)] − β·KL); yields (epoch, step, the batch's ELBO, whether the step
    ended the epoch) after every step, so that a caller can stop between steps. Adam with a cosine step size over the
    `epochs` asked for."""
    if not 0 <= beta <= 100:
        raise ValueError(f"β = {beta} is outside [0, 100]")
    with torch.inference_mode(False), torch.enable_grad():  # (a caller's thread may hold either off: a server's)
        yield from _fit(model, images, epochs, beta, batch_size, lr, seed)


def _fit(model, images, epochs, beta, batch_size, lr, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = math.ceil(len(images) / batch_size)
    total, step = epochs * per_epoch, 0
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(images), generator=g)
            for s in range(0, len(images), batch_size):
                x = torch.bernoulli(images[order[s : s + batch_size]].float(), generator=g)
                eps = torch.randn((1, len(x), model.latent_dim), generator=g)
                for group in opt.param_groups:
                    group["lr"] = lr_at(lr, step, total)
                terms = model.elbo(x, eps=eps)
                loss = -(terms.reconstruction - beta * terms.kl).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                yield epoch, step, float(terms.elbo.detach().mean()), s + batch_size >= len(images)
    finally:
        model.eval()


@torch.no_grad()
def scores(model: VAE, x: torch.Tensor, k: int = 100, elbo_samples: int = 100, seed: int = 0) -> Scores:
    """The ELBO, the IWAE-k bound and the exact log p(x) of the binarized digits x: (B, 784), means over B."""
    g = torch.Generator().manual_seed(seed)
    logw = model.log_weights(x, max(k, elbo_samples), "posterior", g)  # (B, max(k, S)), z ~ q(z|x)
    elbo = logw[:, :elbo_samples].mean(1)  # E_q[log w] = ELBO, unbiased
    iwae = torch.logsumexp(logw[:, :k], 1) - math.log(k)
    # a coarser search grid than the cards' (65 nodes a side, not 129): a model early in training has posteriors as
    # wide as the prior, whose region would span ~9,000 of the finer cells; the refinement to `tol` keeps it exact
    exact = exact_log_px(BernoulliVAE(model), x, coarse=65).log_px
    return Scores(float(elbo.mean()), float(iwae.mean()), float(exact.mean()), k)

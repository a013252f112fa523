"""python -m train cards: docs/checkpoints.md, the shipped checkpoints' tables, written from their JSON cards.

Nothing in that file is typed by hand: every number is a card's, so a re-trained or re-scored checkpoint changes the
page when this command is run again, and tests/test_docs.py fails while the page is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from train.evaluate import parse_sampler

HEADER = """# The shipped checkpoints

Written by `python -m train cards` from the JSON cards in `checkpoints/` (do not edit by hand: the tests compare this
page with the cards). Each card also holds the model's config, the data set, every command that shaped the weights,
the commit and the training history. How they were trained and why: [training.md](training.md).
"""


def _steps(card: dict) -> str:
    steps = card.get("training", {}).get("steps")
    return f"{steps:,}" if isinstance(steps, int) else "?"


def _device(card: dict) -> str:
    dev = card.get("training", {}).get("device", "cpu")
    return "GPU" if str(dev).startswith("cuda") else "CPU"


def overview(cards: dict[str, dict]) -> list[str]:
    """One row per checkpoint: what it is, its size, how long it trained and its headline figure."""
    out = ["## Every checkpoint", "",
           "| file | kind | parameters | steps | trained on | headline figure (test set) | command |",
           "|---|---|---|---|---|---|---|"]
    for name, card in sorted(cards.items()):
        m = card.get("metrics", {})
        kind = card.get("kind", "?")
        if kind == "vae":
            exact = ((card.get("likelihood") or {}).get("exact") or {}).get("nll_nats")
            fig = (f"−log p(x) exact {exact:.2f} nats (quadrature); " if exact is not None else "") + (
                f"IWAE k = {m.get('eval_k', '?')}: {m['test_nll_nats']:.2f} (an upper bound on −log p(x) in "
                f"expectation); −ELBO {-m['test_elbo_nats']:.2f}" if "test_nll_nats" in m else "")
        elif kind == "ddpm":
            fig = (f"−ELBO {m['test_nelbo_bpd']:.3f} ± {m['test_nelbo_bpd_stderr']:.3f} bits/dim "
                   f"({m.get('elbo_images', '?')} images)") if "test_nelbo_bpd" in m else ""
        elif kind == "ddpm2d":
            nelbo = m.get("test_nelbo", {})
            fig = f"−ELBO {nelbo['nats_per_point']:.3f} nats/point" if "nats_per_point" in nelbo else ""
        elif kind == "classifier":
            fig = f"accuracy {100 * m['test_accuracy']:.2f}%" if "test_accuracy" in m else ""
        else:
            fig = ""
        out.append(f"| `{name}.safetensors` | {kind} | {card.get('parameters', 0):,} | {_steps(card)} | "
                   f"{_device(card)} | {fig} | `{card.get('command', '')}` |")
    return out


def sample_quality(card: dict) -> list[str]:
    """The DDPM's sample-quality rows (train/evaluate.py), each FD over the floor of its own N and labels."""
    sq = card.get("sample_quality", {})
    rows = [r for r in sq.get("rows", []) if r.get("device", "cpu") == "cpu"]
    if not rows:
        return []
    floor = {(r["labels"], r["n"]): r["frechet_distance"] for r in rows if r.get("kind") == "real"}
    out = ["## The diffusion model's samples", "",
           f"Scored by `python -m train evaluate` with the project's MNIST classifier ({sq.get('classifier', '?')}): "
           f"the Inception Score, and the Fréchet distance of the classifier's features to {sq.get('reference')}. "
           "Each row is compared with the floor of its own N: as many real training digits, drawn at random "
           "(class-balanced for class-conditional rows), scored the same way.", "",
           "<!-- sample-quality-table -->",
           "| source | N | Inception Score | Fréchet distance | FD / its floor |", "|---|---|---|---|---|"]
    def order(r: dict) -> tuple:
        kind, steps = parse_sampler(r["sampler"]) if r.get("sampler") else ("", 0)
        return (r.get("kind") != "real", r.get("kind") == "ddpm", r.get("labels", ""), r.get("guidance", 0.0), kind,
                steps, r["n"])

    for r in sorted(rows, key=order):
        own = floor.get(("balanced" if r.get("labels") == "balanced" else "none", r["n"]))
        ratio = "the floor" if r.get("kind") == "real" else (f"{r['frechet_distance'] / own:.2f}×" if own else "—")
        out.append(f"| {r['source']} | {r['n']:,} | {r['inception_score']:.3f} ± {r['inception_score_std']:.3f} | "
                   f"{r['frechet_distance']:.2f} | {ratio} |")
    view = card.get("default_view")
    if view:
        out += ["", f"**The reverse viewer's default run** ({view['source']}): "
                    f"{100 * view['confident_share']:.1f}% of the {view['samples']} samples are read by the classifier "
                    f"with probability ≥ {view['confidence']:g} (per seed: {view['confident_per_seed']})."]
    return out


def beta_grid(folder: Path) -> list[str]:
    """The β grid (`python -m train vae-grid`): one row per model, the β = 1 ELBO, the IWAE bound and (2-D) the exact
    log p(x) on the same test digits, with the rate, the distortion and the active units (train/vae_metrics.py)."""
    rows = []
    for path in sorted(folder.glob("vae_*d_beta*.json")):
        card = json.loads(path.read_text())
        lik = next((v for k, v in card.items() if k.startswith("likelihood")), None)
        rd = card.get("metrics", {}).get("rate_distortion")
        if lik is None or rd is None:
            continue
        d, beta = card["config"]["latent_dim"], card["training"]["beta"]
        iwae = lik["iwae"][max(lik["iwae"], key=int)]["nll_nats"]
        exact = f"{-lik['exact']['nll_nats']:.2f}" if lik.get("exact") else "—"
        rows.append(((d, beta), f"| {d} | {beta:g} | {-lik['elbo']['nll_nats']:.2f} | {-iwae:.2f} | {exact} | "
                                f"{rd['rate_nats']:.2f} | {rd['distortion_nats']:.2f} | {rd['active_units']} of {d} |"))
    if not rows:
        return []
    n = {json.loads(p.read_text()).get("metrics", {}).get("rate_distortion", {}).get("images")
         for p in folder.glob("vae_*d_beta*.json")}
    return ["## The β grid", "",
            f"VAEs trained on E_q[log p(x|z)] − β·KL (`python -m train vae-grid`: {BETA_WIDTH}), each scored on the "
            f"first {', '.join(f'{v:,}' for v in sorted(x for x in n if x))} test digits: the ELBO (the β = 1 "
            "objective, whatever β trained the model), the importance-weighted bound IWAE-1000 (a lower bound on "
            "log p(x) in expectation), the exact log p(x) by quadrature (2-D only), all in nats per digit; the rate "
            "R = E KL(q(z|x) ‖ p(z)) and distortion D = −E log p(x|z) (ELBO = −(R + D)); the active units, whose "
            "encoder mean varies over the digits by more than 0.01.", "",
            "<!-- beta-grid-table -->",
            "| D | β | ELBO | IWAE-1000 | exact log p(x) | rate R | distortion D | active units |",
            "|---|---|---|---|---|---|---|---|", *(r for _, r in sorted(rows))]


BETA_WIDTH = "256 units × 2 layers in the encoder and the decoder, 40 epochs"


def page(checkpoints: Path) -> str:
    cards = {p.stem: json.loads(p.read_text()) for p in sorted(checkpoints.glob("*.json"))}
    lines = [HEADER, *overview(cards)]
    grid = beta_grid(checkpoints / "beta")
    lines += ["", *grid] if grid else []
    if "ddpm" in cards:
        quality = sample_quality(cards["ddpm"])
        lines += ["", *quality] if quality else []
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- beta-grid-table -->", "<!-- /beta-grid-table -->"


def readme_with_grid(readme: str, checkpoints: Path) -> str:
    """The README with its β grid table (between README_START and README_END) written from the cards."""
    grid = beta_grid(checkpoints / "beta")
    table = grid[grid.index(README_START) + 1:] if grid else ["(no β grid: `python -m train vae-grid`)"]
    head, rest = readme.split(README_START, 1)
    return head + README_START + "\n" + "\n".join(table) + "\n" + README_END + rest.split(README_END, 1)[1]


def main(checkpoints: str = "checkpoints", out: str = "docs/checkpoints.md", readme: str = "README.md") -> int:
    text = page(Path(checkpoints))
    Path(out).write_text(text)
    print(f"wrote {out} ({len(text.splitlines())} lines) from {checkpoints}/*.json")
    if Path(readme).exists() and README_START in Path(readme).read_text():
        Path(readme).write_text(readme_with_grid(Path(readme).read_text(), Path(checkpoints)))
        print(f"wrote the β grid table of {readme}")
    return 0

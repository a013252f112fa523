"""The reverse process's prose on class and guidance, with what the DDPM's card says: the share of labels dropped in
training and the measured sample quality at each guidance scale (train/evaluate.py)."""

from explorer.models import Models

GUIDANCE_TEXT = r"""
**Class and guidance.** One network is both models: in training, DROPOUT of the images had their label replaced by
"none", so $\varepsilon_\theta(z_t,t,y)$ is the conditional model and $\varepsilon_\theta(z_t,t,\varnothing)$ the
unconditional one, which learned from that share of the images only and draws less tidy digits. Classifier-free guidance
(Ho & Salimans 2022) samples with
$\hat\varepsilon=(1+w)\,\varepsilon_\theta(z_t,t,y)-w\,\varepsilon_\theta(z_t,t,\varnothing)$:
$w=0$ is the plain conditional model, larger $w$ pushes samples towards what makes $y$ likely, trading
variety for clearer digits.
"""


def guidance_text(models: Models) -> str:
    """The guidance prose, with the card's label dropout and measured scores; without them where the card lacks
    them or holds them in another shape (a card only informs the text)."""
    try:
        share = models.ddpm_card.get("training", {}).get("class_dropout")
        dropout = f"{share:.0%}" if share is not None else "some"
    except (AttributeError, TypeError, ValueError):
        dropout = "some"
    try:
        measured = measured_guidance(models.ddpm_card)
    except (AttributeError, TypeError, ValueError, KeyError):
        measured = ""
    return GUIDANCE_TEXT.replace("DROPOUT", dropout) + measured


def measured_guidance(card: dict) -> str:
    """What the card's sample-quality table (train/evaluate.py) measured of class-conditional DDIM-50 at each
    guidance scale, as a sentence; '' if it holds no such rows."""
    rows = card.get("sample_quality", {}).get("rows", [])
    ddim = [r for r in rows if (r.get("kind"), r.get("sampler"), r.get("labels")) == ("ddpm", "ddim50", "balanced")]
    if not ddim:
        return ""
    n = max(r["n"] for r in ddim)  # the largest evaluation, on one device (the CPU if it has rows)
    device = "cpu" if any(r.get("device") == "cpu" for r in ddim) else ddim[-1].get("device")
    by_w = {float(r["guidance"]): r for r in ddim if r["n"] == n and r.get("device") == device}  # newest wins
    scores = "; ".join(f"$w={w:g}$: IS {r['inception_score']:.2f}, FD {r['frechet_distance']:.1f}"
                       for w, r in sorted(by_w.items()))
    # the like-for-like floor: as many class-balanced real digits, against the same reference
    real = next((r for r in rows if (r.get("kind"), r.get("labels"), r["n"]) == ("real", "balanced", n)), None)
    floor = (f" (real digits, class-balanced like the samples: IS {real['inception_score']:.2f}; {n:,} training "
             f"digits are FD {real['frechet_distance']:.1f} from the test set)" if real else "")
    where = "" if device == "cpu" else f", sampled on {device}"
    reference = card["sample_quality"].get("reference") or f"the first {n:,} MNIST test images"
    return (f"\n\n**Measured on this model** with DDIM-50, {n:,} samples each{where}, scored by our MNIST classifier "
            f"(`python -m train evaluate`), the Fréchet distance (FD) to {reference}: {scores}{floor}. A higher "
            "Inception Score (IS) means each sample is more confidently one digit; a higher FD means the samples as a "
            "whole sit further from real digits, in their variety as much as in their shapes.\n")

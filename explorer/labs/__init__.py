"""One package per lab: vae, kl, diffusion. Each __init__.build(models) lays out its lab inside a gr.Tab."""

"""A small UNet that predicts the noise ε in z_t, for 28×28 single-channel images.

The architecture follows Ho et al. (2020) and Nichol & Dhariwal (2021) at a small scale: residual blocks
with GroupNorm and SiLU, a sinusoidal timestep embedding added inside every block, self-attention at the
lowest resolution. An optional class label (with an extra "no label" index for classifier-free guidance,
Ho & Salimans 2022) is embedded and added to the timestep embedding. Imports only torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class UNetConfig:
    image_size: int = field(default=28, metadata={"help": "height and width of the images"})
    channels: int = field(default=1, metadata={"help": "image channels"})
    base_channels: int = field(default=32, metadata={"help": "channels at full resolution"})
    channel_mults: str = field(default="1,2,2", metadata={"help": "channel multiplier per resolution, comma-separated"})
    num_res_blocks: int = field(default=2, metadata={"help": "residual blocks per resolution"})
    attention_at: int = field(default=7, metadata={"help": "self-attention at this feature-map size (0: none)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout inside residual blocks"})
    num_classes: int = field(default=10, metadata={"help": "class labels (0: unconditional); index C means none"})

    def mults(self) -> list[int]:
        return [int(m) for m in self.channel_mults.split(",")]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017 §3.5). t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, c: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(h.transpose(-1, -2).reshape(B, C, H, W))  # (B, C, H, W)


class UNet(nn.Module):
    """ε_θ(z_t, t, y). x: (B, C, H, W), t: (B,) integer steps, y: (B,) labels or None -> (B, C, H, W)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        ch, mults = config.base_channels, config.mults()
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(config.num_classes + 1, emb_dim) if config.num_classes else None
        self.inp = nn.Conv2d(config.channels, ch, 3, padding=1)

        self.down = nn.ModuleList()
        chans, c, size = [ch], ch, config.image_size
        for level, m in enumerate(mults):
            for _ in range(config.num_res_blocks):
                blocks = [ResBlock(c, ch * m, emb_dim, config.dropout)]
                c = ch * m
                if size == config.attention_at:
                    blocks.append(Attention(c))
                self.down.append(nn.ModuleList(blocks))
                chans.append(c)
            if level < len(mults) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                chans.append(c)
                size //= 2
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim, config.dropout), Attention(c),
                                  ResBlock(c, c, emb_dim, config.dropout)])
        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(mults))):
            for _ in range(config.num_res_blocks + 1):
                blocks = [ResBlock(c + chans.pop(), ch * m, emb_dim, config.dropout)]
                c = ch * m
                if size == config.attention_at:
                    blocks.append(Attention(c))
                self.up.append(nn.ModuleList(blocks))
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(c, c, 3, padding=1)]))
                size *= 2
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, config.channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def null_label(self) -> int:
        """The label index that means "no class": the unconditional model of classifier-free guidance."""
        return self.config.num_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        assert x.shape[1:] == (self.config.channels, self.config.image_size, self.config.image_size), x.shape
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))  # (B, E)
        if self.label_emb is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.null_label, device=x.device, dtype=torch.long)
            emb = emb + self.label_emb(y)
        h = self.inp(x)
        skips = [h]
        for blocks in self.down:
            for b in blocks:
                h = b(h, emb) if isinstance(b, ResBlock) else b(h)
            skips.append(h)
        for b in self.mid:
            h = b(h, emb) if isinstance(b, ResBlock) else b(h)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            for b in blocks:
                h = b(h, emb) if isinstance(b, ResBlock) else b(h)
        return self.out(h)

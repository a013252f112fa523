"""What the app was started with that the labs read (`python -m explorer`'s options), passed down from build_demo."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppConfig:
    train_steps: int = 4000  # the 2-D lab's drawing trains for at most this many steps of 256 points (`--train-steps`)

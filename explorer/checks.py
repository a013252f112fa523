"""Input checks shared by every tab: short errors that name the value and the allowed range."""

from __future__ import annotations

import math

import gradio as gr

MAX_SEED = 2**31 - 1


def number(name: str, value, lo: float, hi: float, integer: bool = False) -> float:
    """`value` as a float (or int) in [lo, hi]; NaN, ±inf, non-numbers and fractions of integers are refused."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise gr.Error(f"{name} = {value} is outside the allowed range [{lo:g}, {hi:g}].")
    if integer and v != int(v):
        raise gr.Error(f"{name} = {value} must be a whole number in [{lo:g}, {hi:g}].")
    return int(v) if integer else v


def seed(value, name: str = "Seed") -> int:
    return number(name, value, 0, MAX_SEED, integer=True)

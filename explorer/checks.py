"""Input checks shared by every lab: short errors that name the value and the allowed range.

A bad input is the user's, not the server's: `InputError` shows its message to the user (a toast for
queued events; views updated while dragging show it in place, see `error_note`), writes one INFO line to
the log, and prints no traceback.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import threading

import gradio as gr
import numpy as np

MAX_SEED = 2**31 - 1
SHOWN_CHARS = 60  # an error quotes at most this much of a bad value
log = logging.getLogger("explorer")


class InputError(gr.Error):
    """A user's bad input: shown to them, logged as one INFO line, no traceback in the server's log."""

    def __init__(self, message: str):
        super().__init__(message, print_exception=False)
        if not getattr(_trying, "on", False):
            log.info("bad input: %s", message)


_trying = threading.local()  # set while `refusal` tries values: its failed trials are not the user's errors


def shown(value) -> str:
    """A bad value as an error quotes it: its repr, cut to SHOWN_CHARS characters."""
    r = repr(value)
    return r if len(r) <= SHOWN_CHARS else r[: SHOWN_CHARS - 1] + "…"


def sentence(text: str) -> str:
    """`text` ending in exactly one full stop (messages are built from other messages)."""
    return text.rstrip().rstrip(".") + "."


def fmt(v: float) -> str:
    """A bound as a person reads it: 2147483647, not 2.14748e+09; −4, not -4.0."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:g}"


def number(name: str, value, lo: float, hi: float, integer: bool = False) -> float:
    """`value` as a float (or int) in [lo, hi]; empty boxes, NaN, ±inf, non-numbers, booleans, text and fractions of
    integers are refused with a message that names `name` and the range. One rule for every endpoint: JSON true is
    not a number, and neither is the text "5" (a link's text goes through `number_text`)."""
    allowed = f"[{fmt(lo)}, {fmt(hi)}]"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{name} is empty: enter a {'whole ' if integer else ''}number in {allowed}.")
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number in {allowed}, not {value}.")
    if isinstance(value, str):
        raise InputError(f"{name} must be a number in {allowed}, not the text {shown(value)}.")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a number in {allowed}, not {shown(value)}.") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{name} = {shown(value) if isinstance(value, str) else fmt(v)} is outside the allowed "
                         f"range {allowed}.")
    if integer and v != int(v):
        raise InputError(f"{name} = {fmt(v)} must be a whole number in {allowed}.")
    return int(v) if integer else v


def number_text(name: str, text: str, lo: float, hi: float, integer: bool = False) -> float:
    """A number written as text (a link's query value): decimal notation only ("5", "-0.25", "1e-3"; not "1_000",
    "0x10" or "nan"), then checked as `number` checks it."""
    import re

    if text is None or not str(text).strip():
        return number(name, None, lo, hi, integer)
    if not re.fullmatch(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*", str(text)):
        raise InputError(f"{name} must be a number in [{fmt(lo)}, {fmt(hi)}], not {shown(text)}.")
    return number(name, float(text), lo, hi, integer)


def seed(value, name: str = "Seed") -> int:
    return number(name, value, 0, MAX_SEED, integer=True)


def choice(name: str, value, allowed) -> str:
    """`value` if it is one of `allowed` (strings), else an error listing them."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {shown(value)}.")
    return value


def error_note(message: str) -> str:
    """An error shown inside a view that updates while dragging (queue=False events show no toast)."""
    return f"<p class='ge-error' role='alert'>⚠️ {html.escape(str(message))}</p>"


# The largest image decoded: a digit needs a few hundred pixels a side. A small file can declare a huge image (a
# 194 kB PNG of 13000 × 13000 took 29 s and 4.7 GB to decode); Pillow reads the size from the header and, past
# MAX_IMAGE_PIXELS, raises before decoding (`limit_images`, called as the app starts).
MAX_IMAGE_SIDE = 4096
TOO_LARGE = (f"The image is larger than {MAX_IMAGE_SIDE} × {MAX_IMAGE_SIDE} pixels: draw the digit, or upload a "
             "smaller picture of it.")


def limit_images() -> None:
    """Make Pillow refuse, before decoding, any image of more than MAX_IMAGE_SIDE² pixels, in this process (Gradio's
    own preprocessing decodes the sketchpads' images with it too)."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE**2
    warnings.simplefilter("error", Image.DecompressionBombWarning)  # past MAX_IMAGE_PIXELS, not only past twice it


def image_array(value) -> np.ndarray:
    """An ImageEditor/Sketchpad value, an image file path, or an array -> a numpy image; errors are InputError."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, dict):
        value = value.get("composite")
    if value is None:
        raise InputError("No image: draw a digit on the sketchpad or upload an image first.")
    if isinstance(value, str):
        try:
            with Image.open(value) as im:
                if im.width * im.height > MAX_IMAGE_SIDE**2:
                    raise InputError(TOO_LARGE)
                return np.asarray(im.convert("RGBA"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(TOO_LARGE) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise InputError("That file is not an image Pillow can read (PNG, JPEG, …).") from None
    return np.asarray(value)



def pre_queue(check):
    """A Gradio `validator=` for a long run's event: `check(*values)` (the handler's own parsing, which raises
    InputError) runs when the call arrives, before it waits in the queue for a run slot, so a bad value is named at
    once instead of after minutes behind other runs. Gradio answers a refused call with HTTP 422, which
    gradio_client shows as "1 parameter(s) failed validation: - steps: …" and the page beside the control
    (gradio_compat.Blocks.process_api finds the parameter, `refusal`)."""
    def validator(*values):
        check(*values)
        return [gr.validate(True, "") for _ in values]

    return validator


def refusal(check, components: list, values: list, message: str) -> list[dict] | dict:
    """A validator's answer refusing a call whose `values` made `check` raise `message`: the parameter at fault is the
    one whose value, put back to its control's default, makes `check` pass; it is marked with the message and the rest
    valid. A message that no one value answers (a wrong number of values, two bad values) refuses the call whole."""
    _trying.on = True
    try:
        for i, component in enumerate(components):
            trial = [*values[:i], getattr(component, "value", None), *values[i + 1:]]
            try:
                check(*trial)
            except Exception:  # any failure means this value alone is not the fault
                continue
            return [gr.validate(j != i, message if j == i else "") for j in range(len(values))]
    finally:
        _trying.on = False
    return {"__type__": "validate", "is_valid": False, "message": message, "parameter_name": "values"}


def live(fn):
    """`fn`, whose one output is a view updated while dragging (a queue=False event, which shows no toast),
    with a bad input answered in place: the view shows its message (`error_note`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            return error_note(e.message)

    return wrapper

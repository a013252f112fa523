"""Every place where the explorer changes how Gradio itself behaves, in one module.

Gradio is pinned below its next major version (pyproject.toml), and tests/explorer/test_gradio_compat.py holds one
test per override that fails if Gradio's behaviour under it changes (a method renamed, its arguments reordered, or the
behaviour it works around gone):

- `Slider`, `Number`, `Radio`, `Dropdown`: hand the value to the handler unchecked, which names the control and its
  range (explorer/checks.py); Gradio's own checks raise before the handler with messages that name neither.
- `Sketchpad`: an image past the pixel limit or unreadable, sent as a sketch, is the user's mistake, not a traceback.
- `Plot`: plotly's configuration for an offline app (no plotly.com logo, no camera button).
- `Blocks`: a wrong number of values named with the endpoint and its parameters; a refused pre-queue validation
  naming its parameter; a value that is not a file where a file goes named as the user's mistake.
- `event_payload`: the data of a custom event that the page sends with Gradio's `trigger`.
- `outermost`: the guard put outside Gradio's CORS middleware, which otherwise answers preflights first.

Gradio writes a type stub (explorer/gradio_compat.pyi, ignored by git) beside a module that subclasses a component.
"""

from __future__ import annotations

import inspect
import json

import gradio as gr

from explorer import checks

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["toImage"]}


def outermost(app, middleware) -> None:
    """Put `middleware` (a starlette Middleware) around everything else of Gradio's app, once it is launched. Gradio
    adds its CORS middleware after the app is made, outside the middleware passed at launch, so it answered other
    sites' CORS preflights itself (echoing their origin) before explorer/guard.py could refuse them. Starlette builds
    its middleware stack on the first request; it is built again here."""
    app.user_middleware.insert(0, middleware)
    app.middleware_stack = app.build_middleware_stack()


def event_payload(evt: gr.EventData) -> dict:
    """The data a page's `trigger(name, data)` sent with a custom event, as a dict ({} if it sent none). Gradio keeps
    it in the event's `_data`, which its documentation of custom events reads."""
    data = getattr(evt, "_data", None)
    return data if isinstance(data, dict) else {}


class Slider(gr.Slider):
    """gr.Slider whose value reaches the handler as it was typed or dragged, unchecked.

    Gradio's own check of a slider's range raises before the handler runs, with a message that names
    neither the slider nor, for a typed letter, anything a person can act on ("Could not preprocess
    input component at index 3 … TypeError"); on a queue=False event it is not shown at all. Every
    handler checks its inputs with `checks.number`, which names the slider and its range."""

    is_template = True  # drawn by Gradio's own slider in the page

    def preprocess(self, payload):
        return payload


class Number(gr.Number):
    """gr.Number whose value reaches the handler unchecked, like `Slider`."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Radio(gr.Radio):
    """gr.Radio whose value reaches the handler unchecked, like `Slider` (handlers check it with `checks.choice`)."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Dropdown(gr.Dropdown):
    """gr.Dropdown whose value reaches the handler unchecked, like `Slider` (handlers check it with `checks.choice`)."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose decoding errors are the user's: an image past checks.MAX_IMAGE_SIDE² pixels
    (`checks.limit_images`) or one Pillow cannot read, sent through the API as the sketch, gets a message instead of a
    stack trace."""

    is_template = True

    def get_block_name(self) -> str:
        return "imageeditor"  # gr.Sketchpad is itself a template of gr.ImageEditor: the page draws that

    def preprocess(self, payload):
        from PIL import Image, UnidentifiedImageError

        try:
            return super().preprocess(payload)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise checks.InputError(checks.TOO_LARGE) from None
        except (UnidentifiedImageError, OSError, SyntaxError):
            raise checks.InputError("The sketch is not an image Pillow can read (PNG, JPEG, …).") from None


class Plot(gr.Plot):
    """gr.Plot with plotly's configuration for an offline app: no plotly.com logo link, and no camera button, since
    every figure has its own downloads (static/page.js), named and captioned by `exportable`."""

    def postprocess(self, value):
        out = super().postprocess(value)
        if out is None or out.type != "plotly":
            return out
        d = json.loads(out.plot)
        d["config"] = PLOTLY_CONFIG
        return type(out)(type=out.type, plot=json.dumps(d))


class Blocks(gr.Blocks):
    """gr.Blocks that refuses a call with the wrong number of values, naming the endpoint and its parameters. Gradio's
    own check answers too few with a paragraph about JavaScript functions that lists every value received (a 1 MB
    string included), and ignores too many."""

    def validate_inputs(self, block_fn, inputs: list) -> None:
        # Clients may send a placeholder (null) for each gr.State input (gradio_client does) or leave them out
        # (Gradio's REST route then adds nulls): either way the count reaching here is that of all inputs. A value
        # where a placeholder goes is one value too many: Gradio would drop it silently for the session's own.
        if len(inputs) == len(block_fn.inputs) and all(
                value is None for value, b in zip(inputs, block_fn.inputs, strict=True) if isinstance(b, gr.State)):
            return
        try:  # the API's parameter names are the handler's (as `view_api` shows them), else the controls' labels
            sig = [p.name for p in inspect.signature(block_fn.fn).parameters.values()
                   if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            sig = []
        if len(sig) < len(block_fn.inputs):  # (the inputs fill the first parameters; a gr.Progress may follow)
            sig = [getattr(b, "label", None) or type(b).__name__ for b in block_fn.inputs]
        params = [n for n, b in zip(sig, block_fn.inputs, strict=False) if not isinstance(b, gr.State)]
        name = f"/{block_fn.api_name}" if block_fn.api_name else "This event"
        sent = len(inputs) - sum(v is None for v, b in zip(inputs, block_fn.inputs, strict=False)
                                 if isinstance(b, gr.State)) if len(inputs) == len(block_fn.inputs) else len(inputs)
        listed = f"({', '.join(params)})" if params else "(none)"
        raise checks.InputError(f"{name} takes {len(params)} value{'s' * (len(params) != 1)} {listed}, not {sent}.")

    async def process_api(self, block_fn, inputs: list, *args, **kwargs) -> dict:
        """Gradio's, with a bad value met by a `checks.pre_queue` validator (or by the checks below, which run in it
        too) answered as a refused validation, which Gradio sends before queueing as HTTP 422 naming the parameter;
        any other error there would reach an API client as a bare "400 Bad Request"."""
        if not getattr(block_fn, "is_validator_function", False):
            return await super().process_api(block_fn, inputs, *args, **kwargs)
        try:
            # the count named with the endpoint's own name and parameters, not the validator's (which has neither)
            self.validate_inputs(next(f for f in self.fns.values() if f.validator is block_fn.fn), inputs)
            return await super().process_api(block_fn, inputs, *args, **kwargs)
        except checks.InputError as e:
            return {"data": checks.refusal(block_fn.fn, block_fn.inputs, inputs, e.message)}

    async def preprocess_data(self, block_fn, inputs: list, state, explicit_call: bool = False):
        """Gradio's, with a value that is not a file where a file goes (an upload, a sketch) named as the user's
        mistake: Gradio's own check of its shape raises before any handler, with a stack trace in the log."""
        import pydantic

        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except pydantic.ValidationError:
            for block, value in zip(block_fn.inputs, inputs, strict=False):
                model = getattr(block, "data_model", None)
                try:
                    if model is not None and value is not None:
                        model.model_validate(value, context={"validate_meta": True})
                except pydantic.ValidationError:
                    what = ("a sketch: {background, layers, composite}, each a file as gradio_client's handle_file() "
                            "sends it" if isinstance(block, gr.ImageEditor) else
                            "a file, as gradio_client's handle_file(path) sends it")
                    control = getattr(block, "label", None) or type(block).__name__
                    raise checks.InputError(f"The value for '{control}' must be {what}; got {checks.shown(value)}.") \
                        from None
            raise

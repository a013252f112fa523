"""One test per override in explorer/gradio_compat.py: each checks the Gradio behaviour that the override works
around (so it fails when a Gradio release changes it, and the override may be dropped or must be redone), the
signature the override relies on, and what the override does instead."""

import inspect

import gradio as gr
import pytest

from explorer import checks, gradio_compat


@pytest.mark.parametrize(("ours", "theirs", "bad"), [
    (gradio_compat.Slider(minimum=0, maximum=1), gr.Slider(minimum=0, maximum=1), 5),
    (gradio_compat.Number(minimum=0, maximum=1), gr.Number(minimum=0, maximum=1), "abc"),
    (gradio_compat.Radio(["a", "b"]), gr.Radio(["a", "b"]), "c"),
    (gradio_compat.Dropdown(["a", "b"]), gr.Dropdown(["a", "b"]), "c"),
])
def test_controls_hand_the_raw_value_to_the_handler(ours, theirs, bad):
    """Gradio's own preprocessing raises before the handler, naming neither the control nor its range (a TypeError
    for a letter in a number box); ours passes the value on for checks.number / checks.choice to name."""
    with pytest.raises(Exception):  # noqa: B017 - which exception Gradio raises is what may change
        theirs.preprocess(bad)
    assert ours.preprocess(bad) == bad
    assert type(ours).__mro__[1] is type(theirs) and ours.get_block_name() == theirs.get_block_name()


def test_the_sketchpad_names_an_oversized_image_as_the_users_mistake(tmp_path):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (checks.MAX_IMAGE_SIDE + 1, checks.MAX_IMAGE_SIDE + 1)).save(path)
    checks.limit_images()
    ours = gradio_compat.Sketchpad(type="numpy")
    payload = ours.data_model.model_validate({"background": None, "layers": [],
                                              "composite": {"path": str(path), "meta": {"_type": "gradio.FileData"}}})
    assert ours.get_block_name() == "imageeditor"  # the page draws Gradio's image editor for it
    with pytest.raises(Exception) as theirs:
        gr.Sketchpad(type="numpy").preprocess(payload)
    assert not isinstance(theirs.value, checks.InputError)
    with pytest.raises(checks.InputError, match="larger than"):
        ours.preprocess(payload)


def test_plots_leave_out_plotlys_logo_and_camera():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    theirs = gr.Plot().postprocess(fig)
    assert '"displaylogo": false' not in theirs.plot.replace(" ", "").replace(":", ": ")
    assert '"config": {"displaylogo": false, "modeBarButtonsToRemove": ["toImage"]}' in \
        gradio_compat.Plot().postprocess(fig).plot


def test_blocks_overrides_keep_gradios_signatures_and_count_the_values():
    """The three methods exist in Gradio with the arguments the overrides pass on; Gradio's own check lets one value
    too many through (ours names the endpoint and its parameters)."""
    assert list(inspect.signature(gr.Blocks.validate_inputs).parameters) == ["self", "block_fn", "inputs"]
    assert list(inspect.signature(gr.Blocks.process_api).parameters)[:3] == ["self", "block_fn", "inputs"]
    assert list(inspect.signature(gr.Blocks.preprocess_data).parameters) == ["self", "block_fn", "inputs", "state",
                                                                            "explicit_call"]

    def handler(a, b):
        return a

    with gradio_compat.Blocks() as demo:
        x, y, out = gr.Number(), gr.Number(), gr.Number()
        gr.Button().click(handler, [x, y], out, api_name="two")
    fn = next(f for f in demo.fns.values() if f.api_name == "two")
    gr.Blocks.validate_inputs(demo, fn, [1, 2, 3])  # Gradio: too many is fine
    with pytest.raises(checks.InputError, match=r"/two takes 2 values \(a, b\), not 3\."):
        demo.validate_inputs(fn, [1, 2, 3])
    demo.validate_inputs(fn, [1, 2])


def test_an_events_payload_is_read_where_gradio_keeps_it():
    evt = gr.EventData(None, {"z": [0.5]})
    assert gradio_compat.event_payload(evt) == {"z": [0.5]}
    assert gradio_compat.event_payload(gr.EventData(None, None)) == {}
    assert "_data" in inspect.signature(gr.EventData.__init__).parameters


def test_the_guard_can_be_put_outside_gradios_cors_middleware():
    """Gradio adds its CORS middleware to the app after the launch's own middleware, so outside it; `outermost` puts
    ours first and rebuilds the stack."""
    from gradio.route_utils import CustomCORSMiddleware
    from gradio.routes import App
    from starlette.middleware import Middleware

    class Mark:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            await self.app(scope, receive, send)

    with gr.Blocks() as demo:
        gr.Markdown("x")
    app = App.create_app(demo, app_kwargs={"middleware": [Middleware(Mark)]})
    classes = [m.cls for m in app.user_middleware]
    assert classes.index(CustomCORSMiddleware) < classes.index(Mark)  # Gradio's CORS is outside the launch's own
    gradio_compat.outermost(app, Middleware(Mark))
    assert app.user_middleware[0].cls is Mark and app.middleware_stack is not None

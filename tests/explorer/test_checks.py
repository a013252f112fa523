"""explorer/checks.py: every bad value gets a short message that names it and the allowed range."""

import logging

import pytest

from explorer import checks
from explorer.gradio_compat import Dropdown, Number, Radio, Slider


@pytest.mark.parametrize(("value", "message"), [
    (9, "z1 = 9 is outside the allowed range [-4, 4]."),
    ("9", "z1 must be a number in [-4, 4], not the text '9'."),  # one rule: text is not a number
    (None, "z1 is empty: enter a number in [-4, 4]."),
    ("", "z1 is empty: enter a number in [-4, 4]."),
    ("abc", "z1 must be a number in [-4, 4], not the text 'abc'."),
    (True, "z1 must be a number in [-4, 4], not True."),
    ([1, 2], "z1 must be a number in [-4, 4], not [1, 2]."),
    (float("nan"), "z1 = nan is outside the allowed range [-4, 4]."),
    ("x" * 10_000, "z1 must be a number in [-4, 4], not the text 'xxxxxxxxx"),
])
def test_number_names_the_value_and_the_range(value, message):
    with pytest.raises(checks.InputError) as e:
        checks.number("z1", value, -4, 4)
    assert e.value.message.startswith(message) and len(e.value.message) < 120


@pytest.mark.parametrize(("text", "result"), [
    ("2", 2.0), ("-0.25", -0.25), ("1e-3", 0.001), (" 3 ", 3.0), (".5", 0.5),
    ("9", "z1 = 9 is outside the allowed range [-4, 4]."), ("1_000", "not '1_000'"), ("0x1", "not '0x1'"),
    ("nan", "not 'nan'"), ("", "z1 is empty"),
    ("٣", "not '٣'"), ("３", "not '３'"),  # digits of other scripts: decimal notation is ASCII
])
def test_a_links_text_is_read_in_decimal_notation_only(text, result):
    if isinstance(result, float):
        assert checks.number_text("z1", text, -4, 4) == result
    else:
        with pytest.raises(checks.InputError, match=result.replace("[", r"\[").replace("]", r"\]")):
            checks.number_text("z1", text, -4, 4)


def test_ranges_read_as_people_write_them():
    with pytest.raises(checks.InputError, match=r"\[0, 2147483647\]"):  # not [0, 2.14748e+09]
        checks.seed(-1)
    with pytest.raises(checks.InputError, match=r"must be a whole number in \[1, 10\]"):
        checks.number("Steps", 2.5, 1, 10, integer=True)
    assert checks.fmt(0.001) == "0.001" and checks.fmt(-4.0) == "-4" and checks.fmt(1e30) == "1e+30"
    assert checks.sentence("first.") == "first." and checks.sentence("Cannot read: first") == "Cannot read: first."


def test_bad_input_is_one_info_line_without_traceback(caplog):
    with caplog.at_level(logging.INFO, logger="explorer"), pytest.raises(checks.InputError) as e:
        checks.number("σ_p", 0, 0.001, 10)
    assert e.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == ["bad input: σ_p = 0 is outside the allowed range [0.001, 10]."]


def test_live_views_show_the_message_in_place():
    def view(v):
        return f"<p>{checks.number('t', v, 0, 1000, integer=True)}</p>"

    live = checks.live(view)
    assert live(5) == "<p>5</p>"
    note = live(1001)
    assert "t = 1001 is outside the allowed range [0, 1000]" in note and "role='alert'" in note


def test_components_hand_the_raw_value_to_the_handler():
    """Gradio's own range check raised before the handler, with "Could not preprocess input component at index
    3 … TypeError" for a typed letter, and nothing at all on a queue=False event."""
    s = Slider(-4, 4, value=0, label="z1")
    assert s.preprocess(9) == 9 and s.preprocess("abc") == "abc" and s.preprocess(None) is None
    assert s.get_block_name() == "slider"  # still Gradio's slider in the page
    assert Number(0).preprocess(-1) == -1 and Number(0).get_block_name() == "number"
    assert Radio(["a", "b"]).preprocess("c") == "c" and Dropdown(["a"]).preprocess(["a"]) == ["a"]


def test_a_refused_call_names_the_parameter_at_fault(caplog):
    """checks.pre_queue / refusal: the value that, put back to its control's default, lets the check pass is
    the one marked; two bad values, or a wrong count, refuse the call whole; the trials write nothing to the log."""
    import gradio as gr

    def check(steps, eta, run=None):
        checks.number("Steps", steps, 1, 1000, integer=True)
        checks.number("η", eta, 0, 1)

    controls = [Slider(1, 1000, value=50, label="steps"), Slider(0, 1, value=0.0, label="η"), gr.State()]
    validator = checks.pre_queue(check)
    assert all(v["is_valid"] for v in validator(10, 0.5, None))
    with caplog.at_level(logging.INFO, logger="explorer"):
        with pytest.raises(checks.InputError) as e:
            validator(10, 7, None)
        answer = checks.refusal(check, controls, [10, 7, None], e.value.message)
    assert [v["is_valid"] for v in answer] == [True, False, True] and answer[1]["message"].startswith("η = 7 is out")
    assert len(caplog.records) == 1  # the user's one mistake, not the trials
    whole = checks.refusal(check, controls, [0, 7, None], "Steps = 0 is outside the allowed range [1, 1000].")
    assert whole["is_valid"] is False and whole["parameter_name"] == "values"
    assert checks.refusal(check, controls, [10, 7, None, 1], "takes 3 values")["parameter_name"] == "values"

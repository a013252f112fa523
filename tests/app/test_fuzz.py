"""Every endpoint against bad input, through Gradio's REST API as any client could call it: each bad value
of each parameter, and a wrong number of values, gets a short message that says what is wrong, never a stack
trace, an internal index or the whole value back, and the server keeps answering. Property-based (hypothesis) over
the endpoints, their parameters and the kinds of bad value the app was probed with: strings, lists holding a valid
choice, objects, null, JSON true, NaN, a 1 MB string."""

import json

import pytest
from gradio_client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.app import raw_call

SKIP = {"/stop", "/export", "/plane_stop", "/vae_train_stop", "/spectrum_generated"}  # no parameters
# where view_api's example is not a valid call, or names a file on the internet
BASE = {"/decode": ["2-D latent", 0, [0.0, 0.0]], "/encode_drawing": ["2-D latent", None, None, 0]}
BAD = {"a word": "abc", "a list holding a valid choice": ["2-D latent"], "an object": {"a": 1}, "null": None,
       "true": True, "NaN": float("nan"), "1 MB": "x" * 1_000_000}
INTERNAL = ("Traceback", "at index", "preprocess", "Exception", "Error:", "component", "event handler", "Javascript")


@pytest.fixture(scope="module")
def endpoints(app_server) -> dict[str, tuple[list, list]]:
    """Each endpoint with parameters: (its parameters' names and components, a valid call's values)."""
    api = Client(app_server.url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    return {name: ([(p["parameter_name"], p["component"]) for p in ep["parameters"]],
                   BASE.get(name, [p.get("example_input") for p in ep["parameters"]]))
            for name, ep in api.items() if name not in SKIP}


def _refused(url: str, api: str, data: list) -> str:
    """The message of a call that must fail; fails the test if it ran, or if the message is not one for a person."""
    event, text = raw_call(url, api, data)
    assert event == "error", (api, data if len(str(data)) < 200 else "…", text[:300])
    message = json.loads(text)["error"]
    assert message and len(message) <= 300, message[:400]  # a bad value is quoted, at most 60 characters of it
    assert not any(w in message for w in INTERNAL), message
    return message


def test_every_endpoint_refuses_the_wrong_number_of_values(app_server, endpoints):
    tracebacks = app_server.log.read_text().count("Traceback")
    assert len(endpoints) >= 19
    for api, (params, base) in endpoints.items():
        # (one more value than the parameters is a legitimate call where the endpoint keeps a session's state: a
        # client may send a placeholder for it, as gradio_client does; three more is not, for any endpoint here)
        for data in (base[:-1], [*base, 0, 0, 0]):
            message = _refused(app_server.url, api, data)
            assert message.startswith(f"{api} takes {len(params)} value") and f"not {len(data)}" in message, message
            assert all(name in message for name, _ in params) or len(params) > 6, message  # it names them
    assert app_server.log.read_text().count("Traceback") == tracebacks  # a user's mistake is one line in the log


STATEFUL = ("/reparameterize", "/reverse", "/elbo_terms", "/plane_field", "/plane_particles")  # keep a gr.State


def test_a_value_where_a_sessions_state_goes_is_one_too_many(app_server, endpoints):
    """A client may send null for an endpoint's kept state (gradio_client does); any other value there is one value
    too many, refused with the count, not dropped in silence."""
    for api in STATEFUL:
        params, base = endpoints[api]
        message = _refused(app_server.url, api, [*base, 0])
        assert message.startswith(f"{api} takes {len(params)} value") and f"not {len(base) + 1}" in message, message
    message = _refused(app_server.url, "/stop", [7])
    assert message == "/stop takes 0 values (none), not 1.", message
    event, _ = raw_call(app_server.url, "/stop", [None])  # the placeholder gradio_client sends
    assert event == "complete"


@settings(max_examples=32, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_every_parameter_refuses_bad_values_with_a_clear_message(app_server, endpoints, data):
    api = data.draw(st.sampled_from(sorted(endpoints)), label="endpoint")
    params, base = endpoints[api]
    i = data.draw(st.integers(0, len(params) - 1), label="parameter")
    _, component = params[i]
    kinds = [k for k in BAD if not (component == "Checkbox" and k == "true")  # true is a checkbox's value
             and not (component in ("File", "Sketchpad") and k == "null")]  # no upload (or no sketch) is allowed
    kind = data.draw(st.sampled_from(kinds), label="bad value")
    values = list(base)
    values[i] = BAD[kind]
    tracebacks = app_server.log.read_text().count("Traceback")
    _refused(app_server.url, api, values)
    assert app_server.log.read_text().count("Traceback") == tracebacks  # one INFO line, no stack trace
    event, _ = raw_call(app_server.url, "/kl_1d", [0, 1, 1, 0.8, "KL(p‖q)"])  # the server still answers
    assert event == "complete"


def test_a_value_that_is_not_a_file_where_a_file_goes_is_named(app_server):
    """Gradio checks an upload's or a sketch's shape before any handler, and raised with a stack trace."""
    tracebacks = app_server.log.read_text().count("Traceback")
    for data in (["2-D latent", None, "abc", 0], ["2-D latent", float("nan"), None, 0],
                 ["2-D latent", {"composite": 5}, None, 0]):
        message = _refused(app_server.url, "/encode_drawing", data)
        assert "must be a file" in message or "must be a sketch" in message, message
        assert message.startswith("The value for '"), message  # the control's label is quoted, not run into the text
    assert app_server.log.read_text().count("Traceback") == tracebacks

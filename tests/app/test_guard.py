"""Who may talk to the app (explorer/guard.py): foreign Host names and cross-site requests are refused,
the queue cannot be skipped, uploads are capped. Raw HTTP against the running app."""

import http.client
import json
import re
import sys
import urllib.parse

import pytest

from explorer.guard import GuardMiddleware, host_name
from tests.conftest import CHECKPOINTS


def _request(url: str, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _upload(url: str, headers: dict, size: int = 64) -> tuple[int, bytes]:
    boundary = "ge-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    return _request(url, "POST", "/gradio_api/upload",
                    {"Content-Type": f"multipart/form-data; boundary={boundary}", **headers}, body)


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:7860", True), ("localhost:7860", True), ("[::1]:7860", True), ("10.1.2.3", True),
    ("app.localhost:80", True), ("LOCALHOST", True), ("attacker.example:7860", False), ("127.0.0.1.nip.io", False),
    ("", False), ("localhost.attacker.example", False),
])
def test_only_ip_addresses_localhost_and_named_hosts_are_served(host, ok):
    guard = GuardMiddleware(None, allowed_hosts=["lab.school.example"])
    assert guard.host_allowed(host) is ok
    assert guard.host_allowed("lab.school.example:7860") and host_name("[::1]:7860") == "::1"
    assert GuardMiddleware(None, any_host=True).host_allowed("abc.gradio.live")  # --share


def test_a_foreign_host_name_is_refused(app_server):
    """DNS rebinding: a page whose own name now points at 127.0.0.1 sends its name as Host."""
    port = urllib.parse.urlsplit(app_server.url).port
    status, body = _request(app_server.url, "GET", "/config", {"Host": f"attacker.example:{port}"})
    assert status == 403 and "--allowed-host" in json.loads(body)["error"]
    assert _request(app_server.url, "GET", "/config", {"Host": f"localhost:{port}"})[0] == 200


def test_a_cross_site_upload_is_refused_and_a_same_site_one_is_not(app_server):
    port = urllib.parse.urlsplit(app_server.url).port
    own = {"Host": f"127.0.0.1:{port}"}
    for origin in ("http://evil.example", f"http://localhost:{port + 1}", "null", f"https://127.0.0.1:{port}x"):
        status, body = _upload(app_server.url, {**own, "Origin": origin})
        assert status == 403 and "other sites" in json.loads(body)["error"], origin
    status, body = _upload(app_server.url, {**own, "Origin": f"http://127.0.0.1:{port}"})  # the app's own page
    assert status == 200 and json.loads(body)[0].endswith("x.png")
    assert _upload(app_server.url, own)[0] == 200  # no Origin: not a browser (gradio_client, curl)


def test_uploads_over_5_mb_are_refused(app_server):
    status, body = _upload(app_server.url, {}, size=6 * 2**20)
    assert status == 413 and b"5" in body


def test_the_queue_cannot_be_skipped(app_server):
    """POST /gradio_api/run/<name> would run a queued function at once, past every concurrency limit."""
    status, body = _request(app_server.url, "POST", "/gradio_api/run/sample",
                            {"Content-Type": "application/json"}, json.dumps({"data": ["2-D latent", 0, 4]}).encode())
    assert status == 404 and b"queue" in body


def _post_json(url: str, path: str, body: dict) -> tuple[int, dict]:
    status, text = _request(url, "POST", path, {"Content-Type": "application/json"}, json.dumps(body).encode())
    return status, json.loads(text) if text.startswith(b"{") else {"raw": text.decode()[:200]}


def test_unknown_endpoints_and_events_get_one_line_not_a_500(app_server):
    """Unknown names, private events (they need the page: a click's data) and events that run in the page only were
    each a 500 with a 4.7 kB traceback in the log."""
    tracebacks = app_server.log.read_text().count("Traceback")
    config = json.loads(_request(app_server.url, "GET", "/config", {})[1])
    page_only = next(i for i, d in enumerate(config["dependencies"]) if not d.get("backend_fn", True))
    private = next(d["api_name"] for d in config["dependencies"] if d.get("api_visibility") == "private"
                   and d.get("backend_fn") and d.get("api_name"))
    for path, body, status, says in (
            ("/gradio_api/call/no_such_thing", {"data": []}, 404, "There is no endpoint /no_such_thing"),
            (f"/gradio_api/call/{private}", {"data": []}, 404, f"There is no endpoint /{private}"),
            ("/gradio_api/call/v2/no_such_thing", {"data": []}, 404, "There is no endpoint"),
            ("/gradio_api/run/no_such_thing", {"data": []}, 404, "There is no endpoint"),
            ("/gradio_api/api/no_such_thing", {"data": []}, 404, "There is no endpoint"),
            ("/gradio_api/queue/join", {"data": [], "fn_index": 99_999, "session_hash": "x"}, 404, "no event 99999"),
            ("/gradio_api/queue/join", {"data": [], "fn_index": page_only, "session_hash": "x"}, 404,
             "runs in the page only"),
            ("/gradio_api/run/predict", {"data": [], "fn_index": 99_999, "session_hash": "x"}, 404, "no event 99999")):
        got, answer = _post_json(app_server.url, path, body)
        assert got == status and says in answer.get("error", ""), (path, got, answer)
    assert _post_json(app_server.url, "/gradio_api/call/kl_1d", {"data": [0, 1, 1, 0.8, "KL(p‖q)"]})[0] == 200
    # the page's own events outside the queue (a drag's view) still reach Gradio by index
    forward = next(i for i, d in enumerate(config["dependencies"]) if d.get("queue") is False and d.get("backend_fn"))
    assert _post_json(app_server.url, "/gradio_api/run/predict",
                      {"data": [None] * 8, "fn_index": forward, "session_hash": "x"})[0] != 404
    assert app_server.log.read_text().count("Traceback") == tracebacks


def test_every_public_endpoint_belongs_to_a_lab(app_server):
    """explorer/guard.py's LAB_OF_ENDPOINT names the lab of each public endpoint, so that a call to a lab whose model
    did not load is told why; a new endpoint must be listed there."""
    from explorer.guard import LAB_OF_ENDPOINT

    config = json.loads(_request(app_server.url, "GET", "/config", {})[1])
    public = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility") == "public"
              and d.get("api_name")}
    assert public and public <= set(LAB_OF_ENDPOINT), public - set(LAB_OF_ENDPOINT)


def test_a_lab_whose_model_did_not_load_says_so(tmp_path, synthetic_data):
    from explorer.app import build_demo
    from explorer.guard import EndpointMiddleware
    from explorer.models import load_models
    from tests.conftest import CHECKPOINTS

    for f in CHECKPOINTS.glob("vae_*.safetensors"):
        (tmp_path / f.name).symlink_to(f)
    models = load_models(tmp_path, synthetic_data, download=False)
    guard = EndpointMiddleware(None, build_demo(models), models.errors)
    status, reason = guard._unknown("reverse")
    assert status == 503 and reason.startswith("/reverse is unavailable:") and "python -m train diffusion" in reason
    status, reason = guard._unknown("plane_field")
    assert status == 503 and "python -m train diffusion2d" in reason
    assert guard._unknown("nothing") == (404, "There is no endpoint /nothing: the page's footer, 'Use via API', "
                                              "lists them.")


def test_another_sites_preflight_is_refused_not_answered(app_server):
    """Gradio's CORS middleware sits outside the app's own and answered a preflight from another local port by
    echoing its origin (the real request was refused after); the guard now answers first."""
    port = urllib.parse.urlsplit(app_server.url).port
    own = {"Host": f"127.0.0.1:{port}", "Access-Control-Request-Method": "POST"}
    for origin in (f"http://127.0.0.1:{port + 1}", "http://localhost:3000", "null"):
        u = urllib.parse.urlsplit(app_server.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("OPTIONS", "/gradio_api/upload", headers={**own, "Origin": origin})
            r = conn.getresponse()
            status, allowed = r.status, r.getheader("access-control-allow-origin")
            r.read()
        finally:
            conn.close()
        assert status == 403 and allowed is None, (origin, status, allowed)


def test_the_config_names_no_server_path_and_served_files_are_fetched_by_name(app_server):
    """Gradio names a gallery's or an image's cache file, and a static file, by its place on the server; the app's
    pictures travel as data: URLs and its files as ge/<name> (explorer/served.py)."""
    text = _request(app_server.url, "GET", "/config", {})[1].decode()
    for server_path in ("/tmp/", str(CHECKPOINTS.parent), sys.prefix, "gradio_api/file="):
        assert server_path not in text, server_path
    urls = sorted(set(re.findall(r"(?<=[\"';])ge/[\w.\-%/]+\.(?:js|bin|json)", text)))
    assert "ge/plotly.min.js" in urls and any(u.endswith(".bin") for u in urls), urls
    for url in urls:
        assert _request(app_server.url, "GET", "/" + url, {})[0] == 200, url
    status, body = _request(app_server.url, "GET", "/ge/plotly.min.js", {})
    assert status == 200 and body.startswith(b"/**") and b"plotly" in body[:2000].lower()
    for bad in ("/ge/no-such-file.bin", "/ge/../../etc/passwd", "/ge/%2e%2e/%2e%2e/etc/passwd", "/ge/"):
        assert _request(app_server.url, "GET", bad, {})[0] == 404, bad

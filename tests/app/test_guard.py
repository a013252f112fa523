"""Who may talk to the app (explorer/guard.py): foreign Host names and cross-site requests are refused,
the queue cannot be skipped, uploads are capped. Raw HTTP against the running app."""

import http.client
import json
import urllib.parse

import pytest

from explorer.guard import GuardMiddleware, host_name


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

"""Who may talk to the app: requests under a foreign Host name or from a foreign page are refused.

Two attacks reach an app that listens on 127.0.0.1 through the user's own browser:
- **Cross-site requests.** Any page the user visits can POST to http://127.0.0.1:7860 (a multipart upload is a
  "simple" request: the browser sends it without asking), and Gradio answers any localhost origin's fetches with
  CORS headers. A browser names the page that makes a request in its `Origin` header; a request whose Origin is not
  the app's own is refused here, whatever its method. Clients that are not browsers (gradio_client, curl) send no
  Origin and are let through.
- **DNS rebinding.** A page at attacker.example can re-point its own name at 127.0.0.1 and then read the app as
  same-origin. Its requests carry `Host: attacker.example`: a request is served only under an IP address (which no
  DNS answer can re-point), `localhost`, or a name given with `--allowed-host`.

`GuardMiddleware` is a plain ASGI middleware, passed to Gradio's FastAPI app at launch (`app_kwargs`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

log = logging.getLogger("explorer")


def host_name(host: str) -> str:
    """The name in a Host header or an origin's authority, without port or IPv6 brackets, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:7860
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class GuardMiddleware:
    """Refuses, with 403 and a one-line reason, requests under a Host that is not an IP address, `localhost` or one of
    `allowed_hosts`, and requests whose Origin is not the address the request was sent to."""

    def __init__(self, app, allowed_hosts: Iterable[str] = (), any_host: bool = False):
        self.app = app
        self.hosts = {"localhost", *(host_name(h) for h in allowed_hosts)}
        self.any_host = any_host

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return self.any_host or is_ip(name) or name in self.hosts or name.endswith(".localhost")

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host, origin = headers.get("host", ""), headers.get("origin")
        if not self.host_allowed(host):
            return await self.refuse(scope, send, f"Host {host[:60]!r} is not served: open the app at its IP address "
                                                  "or localhost, or start it with --allowed-host NAME.")
        if origin is not None:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != host.strip().lower():
                return await self.refuse(scope, send, f"Requests from other sites ({origin[:60]!r}) are refused.")
        return await self.app(scope, receive, send)

    @staticmethod
    async def refuse(scope, send, reason: str) -> None:
        log.info("refused %s %s: %s", scope.get("method", "WEBSOCKET"), scope.get("path", ""), reason)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": reason}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# Which lab (and model) each public endpoint belongs to: a call to an endpoint whose lab is not built, because its
# model did not load, is told why (the lab's own message) instead of "no such endpoint". tests/app/test_guard.py checks
# that every public endpoint of the full app is listed here.
LAB_OF_ENDPOINT = {
    **dict.fromkeys(("decode", "sample", "map_click", "encode_index", "encode_drawing", "likelihood", "interpolate",
                     "reparameterize", "kl_vae_term", "two_gaps", "vae_train", "vae_train_more", "vae_train_stop"),
                    "VAE"),
    "beta_grid": "β grid",
    "is_failure": "2-D latent",
    **dict.fromkeys(("diffusion_digit", "forward", "snapshots", "reverse", "stop", "export", "two_samplers",
                     "elbo_terms", "uncond_vs_class", "spectrum", "spectrum_generated"), "diffusion"),
    **dict.fromkeys(("plane_field", "plane_particles", "plane_start_from", "plane_stop", "plane_train",
                     "plane_continue", "plane_guidance", "plane_arena"), "ddpm2d"),
    **dict.fromkeys(("kl_1d", "kl_2d", "kl_fit", "kl_monte_carlo", "preset"), "KL"),
}


class EndpointMiddleware:
    """Answers, with one line and no traceback in the log, the calls that Gradio would fail with a stack trace (HTTP
    500): a public call to a name that is not a public endpoint (404; a lab whose model did not load says so, 503),
    and a call by event index (queued, or the page's queue=False events) to an index that does not exist or that has
    no server function (the page's own browser events, 404). `errors`: models.errors, what did not load and why."""

    CALLS = ("/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/")
    JOIN = "/gradio_api/queue/join"  # queued events
    PREDICT = "/gradio_api/run/predict"  # events outside the queue (queue=False: the page's drags)

    def __init__(self, app, blocks, errors: dict[str, str] | None = None):
        self.app, self.blocks, self.errors = app, blocks, errors or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        prefix = next((c for c in self.CALLS if path.startswith(c)), None)
        by_index = path.rstrip("/") in (self.JOIN, self.PREDICT)  # the page's own calls name an event by its index
        if prefix is not None and not by_index:
            name = path[len(prefix):].removeprefix("v2/").strip("/")
            if "/" not in name and not self._public(name):
                status, reason = self._unknown(name)
                return await _answer(send, status, reason, scope)
        elif by_index:
            body, receive = await _read_body(receive)
            try:
                fn_index = json.loads(body or b"{}").get("fn_index")
            except (ValueError, AttributeError):
                fn_index = None  # Gradio answers a malformed body itself, in one line
            if fn_index is not None:
                fn = self.blocks.fns.get(fn_index) if isinstance(fn_index, int) else None
                if fn is None:
                    return await _answer(send, 404, f"There is no event {str(fn_index)[:20]}.", scope)
                if fn.fn is None:
                    return await _answer(send, 404, "That event runs in the page only: it has no server function.",
                                         scope)
        return await self.app(scope, receive, send)

    def _public(self, name: str) -> bool:
        return any(f.api_name == name and f.api_visibility != "private" and f.fn is not None
                   for f in self.blocks.fns.values())

    def _unknown(self, name: str) -> tuple[int, str]:
        lab = LAB_OF_ENDPOINT.get(name)
        reasons = [e for k, e in self.errors.items() if lab and (k == lab or k.startswith(lab) or
                                                                  (lab == "VAE" and k.endswith("latent")))]
        if reasons:
            return 503, f"/{name} is unavailable: {reasons[0]}"
        if lab == "2-D latent":
            return 503, ("/is_failure is unavailable: the 2-D model's card holds no measured digits for the test "
                         "digits loaded here (python -m train evaluate-vae --vae checkpoints/vae_2d.safetensors).")
        return 404, f"There is no endpoint /{name[:40]}: the page's footer, 'Use via API', lists them."


async def _read_body(receive):
    """The request's whole body, and a `receive` that hands it to the app again (then waits as the original does)."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _answer(send, status: int, reason: str, scope) -> None:
    log.info("refused %s %s: %s", scope.get("method"), scope.get("path", "")[:80], reason)
    body = json.dumps({"error": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

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

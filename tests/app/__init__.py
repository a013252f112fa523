"""The app through gradio_client and raw HTTP, as an API client sees it."""

import json
import re
import urllib.error
import urllib.request


def raw_call(url: str, api: str, data: list) -> tuple[str, str]:
    """POST through Gradio's REST API with Python's json (which writes NaN and Infinity, as a browser
    script could). Returns (event, data) of the streamed result; a call refused before queueing (HTTP 422 from a
    validator, explorer/checks.pre_queue) as ("error", {"error": its messages}), as the streamed error reads."""
    req = urllib.request.Request(f"{url}/gradio_api/call{api}", data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        event_id = json.load(urllib.request.urlopen(req, timeout=30))["event_id"]
    except urllib.error.HTTPError as e:
        if e.code != 422:
            raise
        detail = json.load(e)["detail"]
        detail = detail if isinstance(detail, list) else [detail]
        return "error", json.dumps({"error": " ".join(d["message"] for d in detail if d.get("is_valid") is False)},
                                   ensure_ascii=False)
    text = urllib.request.urlopen(f"{url}/gradio_api/call{api}/{event_id}", timeout=60).read().decode()
    event, data = re.findall(r"event: (\w+)\ndata: (.*)", text)[-1]
    return event, json.dumps(json.loads(data), ensure_ascii=False)  # unescape \u03bc and friends

"""The app through gradio_client and raw HTTP, as an API client sees it."""

import json
import re
import urllib.request


def raw_call(url: str, api: str, data: list) -> tuple[str, str]:
    """POST through Gradio's REST API with Python's json (which writes NaN and Infinity, as a browser
    script could). Returns (event, data) of the streamed result."""
    req = urllib.request.Request(f"{url}/gradio_api/call{api}", data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/json"})
    event_id = json.load(urllib.request.urlopen(req, timeout=30))["event_id"]
    text = urllib.request.urlopen(f"{url}/gradio_api/call{api}/{event_id}", timeout=60).read().decode()
    event, data = re.findall(r"event: (\w+)\ndata: (.*)", text)[-1]
    return event, json.dumps(json.loads(data), ensure_ascii=False)  # unescape \u03bc and friends

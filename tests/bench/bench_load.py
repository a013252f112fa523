"""A classroom against one app: N simulated users for a fixed time, each a gradio_client of its own, mixing
what students do (the drag's settled decode, the KL panel, sampling, encoding test digits and an uploaded drawing,
reverse-process runs, exports); then a session-churn arm (a new session every few milliseconds, each keeping state).
Prints per-endpoint latency and errors, and the app's resident memory, open files and disk over time.

    python -m tests.bench.bench_load --data-dir ../shared/data [--users 20] [--seconds 60] [--churn 2000]

Everything goes to 127.0.0.1 only, and every loop is bounded in count and time. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from tests.bench.common import ROOT, pct
from tests.conftest import CHECKPOINTS, start_app

M2 = "2-D latent"


def proc_stats(pid: int) -> tuple[float, int]:
    """(resident MiB, open file descriptors) of a process, from /proc."""
    rss = next(int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def du_mib(*folders: Path) -> float:
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass  # removed while walking (pruned)
    return total / 2**20


def user(url: str, k: int, until: float, drawing: str, times: dict, errors: collections.Counter) -> None:
    """One student: random actions until `until`, one at a time (as one browser tab would)."""
    from gradio_client import Client, handle_file

    c = Client(url, verbose=False, download_files=False)  # the app's files stay on the server
    rng = random.Random(k)
    actions = [
        ("/decode", lambda: c.predict(M2, 0, [rng.uniform(-3, 3), rng.uniform(-3, 3)], api_name="/decode")),
        ("/kl_1d", lambda: c.predict(0.0, 1.0, rng.uniform(-3, 3), rng.uniform(0.2, 3), "KL(p‖q)",
                                     api_name="/kl_1d")),
        ("/sample", lambda: c.predict(M2, rng.randrange(1000), 16, api_name="/sample")),
        ("/encode_index", lambda: c.predict(M2, rng.randrange(64), 0, api_name="/encode_index")),
        ("/encode_drawing", lambda: c.predict(M2, None, handle_file(drawing), 0, api_name="/encode_drawing")),
        ("/reverse", lambda: c.predict("DDIM", 20, 0.0, rng.randrange(100), 2, "none (unconditional)", 0.0,
                                       api_name="/reverse")),
        ("/export", lambda: c.predict(api_name="/export")),
    ]
    weights = [5, 4, 2, 2, 1, 1, 1]
    ran = False
    while time.time() < until:
        name, act = rng.choices(actions, weights)[0]
        if name == "/export" and not ran:
            continue
        t = time.perf_counter()
        try:
            act()
            times[name].append((time.perf_counter() - t) * 1000)
            ran = ran or name == "/reverse"
        except Exception as e:  # counted, not raised: the table says how many and which
            errors[(name, type(e).__name__, str(e)[:80])] += 1


def churn(url: str, sessions: int, pid: int, every: int) -> list[tuple[int, float]]:
    """New sessions, each encoding a test digit (state the app keeps per session), through the queue's raw HTTP
    API with a fresh session hash; the app's RSS every `every` sessions."""
    config = json.load(urllib.request.urlopen(f"{url}/config", timeout=30))
    fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "encode_index")
    samples = []
    for i in range(1, sessions + 1):
        session = uuid.uuid4().hex[:11]
        body = json.dumps({"data": [M2, i % 64, 0], "fn_index": fn, "session_hash": session}).encode()
        req = urllib.request.Request(f"{url}/gradio_api/queue/join", data=body,
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        with urllib.request.urlopen(f"{url}/gradio_api/queue/data?session_hash={session}", timeout=60) as r:
            for line in r:  # the event's stream, to its end
                if b"process_completed" in line:
                    break
        if i % every == 0:
            samples.append((i, proc_stats(pid)[0]))
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--churn", type=int, default=2000, help="new sessions in the churn arm")
    args = ap.parse_args()

    server = start_app(args.data_dir, args.checkpoints)
    pid = server.proc.pid
    log = server.log.read_text()  # the app names its folder and Gradio's cache as it starts
    folder = Path(re.search(r"files for the page \(removed at exit\): (\S+)", log)[1])
    cache = Path(re.search(r"Gradio's cache: (\S+)", log)[1])
    drawing = str(Path(tempfile.mkdtemp(prefix="ge-bench-")) / "digit.png")
    Image.fromarray((np.random.default_rng(0).random((28, 28)) > 0.7).astype(np.uint8) * 255).save(drawing)
    try:
        time.sleep(20)  # the background warm-up of first views, which every page would otherwise wait for
        times: dict = collections.defaultdict(list)
        errors: collections.Counter = collections.Counter()
        timeline = []
        until = time.time() + args.seconds
        users = [threading.Thread(target=user, args=(server.url, k, until, drawing, times, errors), daemon=True)
                 for k in range(args.users)]
        for u in users:
            u.start()
        t0 = time.time()
        while any(u.is_alive() for u in users) and time.time() < until + 120:
            rss, fds = proc_stats(pid)
            timeline.append((time.time() - t0, rss, fds, du_mib(folder, cache)))
            time.sleep(5)
        for u in users:
            u.join(5)
        alive_after_load = server.alive()
        churn_rss = churn(server.url, args.churn, pid, max(1, args.churn // 10))
        rss, fds = proc_stats(pid)
        timeline.append((time.time() - t0, rss, fds, du_mib(folder, cache)))
    finally:
        server.proc.terminate()
        server.proc.wait(30)
    left = du_mib(folder, cache) if folder.exists() or cache.exists() else 0.0

    print(f"{args.users} users for {args.seconds:.0f} s, then {args.churn} new sessions; server alive after the "
          f"load: {alive_after_load}\n")
    print("| endpoint | calls | p50 | p95 | errors |\n|---|---|---|---|---|")
    for name in sorted(times.keys() | {n for n, *_ in errors}):
        ts, err = times.get(name, []), sum(v for (n, *_), v in errors.items() if n == name)
        print(f"| {name} | {len(ts)} | {pct(ts, 50):.0f} ms | {pct(ts, 95):.0f} ms | {err} |" if ts else
              f"| {name} | 0 | | | {err} |")
    for (name, kind, message), n in errors.most_common(10):
        print(f"  {n}× {name}: {kind}: {message}")
    print("\n| seconds | app RSS | open files | app files on disk (its folder and Gradio's cache) |\n|---|---|---|---|")
    for t, rss, fds, disk in timeline:
        print(f"| {t:.0f} | {rss:.0f} MiB | {fds} | {disk:.1f} MiB |")
    print("\n| sessions made | app RSS |\n|---|---|")
    for n, rss in churn_rss:
        print(f"| {n} | {rss:.0f} MiB |")
    print(f"\nleft on disk after the app stopped (SIGTERM): {left:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

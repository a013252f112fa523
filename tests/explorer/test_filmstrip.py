"""The in-browser trajectory viewer's value: what reaches the page while streaming and after a run."""

import json

import numpy as np
import pytest

from explorer import filmstrip, served
from explorer.filmstrip import Frame


def frames(n: int, size: int = 100) -> list[Frame]:
    return [Frame(k, n - 1 - k, bytes([k % 256]) * size) for k in range(n)]


def test_a_run_within_budget_keeps_every_frame():
    fs = frames(50)
    assert filmstrip.kept(fs, budget=50 * 100) == fs


@pytest.mark.parametrize("n", [10, 1000])
def test_a_long_run_keeps_an_even_subsample_within_budget_with_both_ends(n):
    fs = frames(n)
    k = filmstrip.kept(fs, budget=n * 100 // 3)
    assert k[0] is fs[0] and k[-1] is fs[-1]
    assert sum(len(f.png) for f in k) <= n * 100 // 3 and len(k) == n // 3  # as many as fit
    gaps = np.diff([f.k for f in k])
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_frames_of_uneven_size_still_fit_the_budget():
    fs = [Frame(k, 9 - k, b"x" * (1000 if k % 3 == 0 else 10)) for k in range(10)]  # noisy frames are larger
    k = filmstrip.kept(fs, budget=2500)
    assert sum(len(f.png) for f in k) <= 2500 and k[0] is fs[0] and k[-1] is fs[-1] and len(k) >= 3


def test_the_two_ends_are_kept_even_past_the_budget():
    fs = frames(3)
    assert filmstrip.kept(fs, budget=50) == [fs[0], fs[2]]


def test_streaming_values_carry_the_newest_frame_and_the_final_one_all():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (62, 92)).save(buf, format="PNG")
    fs = [Frame(k, 9 - k, buf.getvalue()) for k in range(10)]
    live = json.loads(filmstrip.value(filmstrip.Run(10, fs[:3]), final=False))
    assert not live["final"] and [f["k"] for f in live["frames"]] == [2] and live["total"] == 10
    done = json.loads(filmstrip.value(filmstrip.Run(10, fs), final=True))
    assert done["final"] and [f["t"] for f in done["frames"]] == list(range(9, -1, -1)) and done["computed"] == 10
    assert (done["width"], done["height"], done["scale"]) == (62, 92, 4)
    stopped = json.loads(filmstrip.value(filmstrip.Run(10, fs[:4]), final=True))
    assert stopped["final"] and (stopped["computed"], stopped["total"]) == (4, 10)
    assert filmstrip.value(filmstrip.Run(10), final=True) == ""


def test_publish_writes_the_kept_frames_to_a_served_file_and_names_it(tmp_path, monkeypatch):
    import io
    import os

    from PIL import Image

    tmp_path = tmp_path / "runs 100%#"  # characters a URL must escape
    monkeypatch.setattr(served, "_folder", [tmp_path])  # publish makes the folder again if it is gone
    pngs = []
    for k in range(10):  # frames that differ, so the file's order can be checked
        buf = io.BytesIO()
        Image.new("L", (62, 92), color=k * 20).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    fs = [Frame(k, 9 - k, pngs[k]) for k in range(10)]
    tmp_path.mkdir()
    stale = tmp_path / "run-old.json"
    stale.write_text("{}")
    os.utime(stale, (0, 0))  # older than MAX_AGE_S: removed by the next publish

    v = json.loads(filmstrip.publish(filmstrip.Run(12, fs)))
    assert v["final"] and (v["total"], v["computed"], v["kept"]) == (12, 10, 10)
    assert [f["k"] for f in v["frames"]] == [9]  # the last frame, shown while the page fetches the rest
    assert v["frames_url"].startswith("ge/")  # relative: the app may be served under a path
    assert " " not in v["frames_url"] and "#" not in v["frames_url"] and str(tmp_path) not in v["frames_url"]
    path = served.resolve("/" + v["frames_url"])
    assert path.parent == tmp_path and not stale.exists()
    stored = json.loads(path.read_text())["frames"]
    assert stored == json.loads(filmstrip.value(filmstrip.Run(12, fs), final=True))["frames"]

    small = json.loads(filmstrip.publish(filmstrip.Run(12, fs), budget=3 * len(pngs[0])))  # over budget
    kept = json.loads(served.resolve("/" + small["frames_url"]).read_text())["frames"]
    assert small["kept"] == len(kept) < 10 and kept[0]["k"] == 0 and kept[-1]["k"] == 9
    assert filmstrip.publish(filmstrip.Run(10)) == ""


def test_schedule_svg_spans_the_plot_and_names_T():
    from train.diffusion import GaussianDiffusion

    svg = filmstrip.schedule_svg(GaussianDiffusion(1000, "linear"))
    assert "data-t='1000'" in svg and "T = 1000" in svg and svg.count("<polyline") == 2
    signal = svg.split("<polyline points='")[1].split("'")[0].split()
    (x_first, y_first), (x_last, y_last) = (map(float, p.split(",")) for p in (signal[0], signal[-1]))
    assert x_first < x_last and y_first < y_last  # √ᾱ starts near the top (1) and falls towards the axis (0)
    assert x_last == filmstrip.SVG_W - 10  # the curve reaches t = T


def test_prune_removes_only_old_matching_files(tmp_path):
    import os

    for name in ("run-old.json", "run-new.json", "keep-old.json"):
        (tmp_path / name).write_text("{}")
    for name in ("run-old.json", "keep-old.json"):
        os.utime(tmp_path / name, (0, 0))
    served.prune(tmp_path, "run-*.json", 60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep-old.json", "run-new.json"]
    served.prune(tmp_path / "gone", "*", 60)  # a missing folder is nothing to prune

"""The README's sample-quality table quotes the DDPM's card (train/evaluate.py writes it): every score in the table is
a card row's, rounded as printed, every ratio is that row's FD over its own floor, and every row the card holds is
in the table. A re-scored card with a stale README fails here."""

import json
import re

from tests.conftest import CHECKPOINTS, ROOT


def _table(marker: str) -> list[list[str]]:
    """The body rows (cells, stripped) of the Markdown table after `<!-- marker -->` in the README."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(f"<!-- {marker} -->") + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[2:]  # past the header and its rule


def _numbers(cell: str) -> list[str]:
    return re.findall(r"\d+\.\d+", cell.replace("*", ""))


def test_the_sample_quality_table_quotes_the_ddpm_cards_rows():
    card = json.loads((CHECKPOINTS / "ddpm.json").read_text())["sample_quality"]
    rows = [r for r in card["rows"] if r.get("device", "cpu") == "cpu"]
    assert all(r["reference"] == card["reference"] == "all 10,000 MNIST test images" for r in rows)
    floor = {(r["labels"], r["n"]): r["frechet_distance"] for r in rows if r["kind"] == "real"}
    fd = {(f"{r['frechet_distance']:.2f}", r["n"]): r["frechet_distance"] for r in rows}
    scores = {(f"{r[k]:.3f}", r["n"]) for r in rows for k in ("inception_score", "inception_score_std")}
    table = _table("sample-quality-table")
    assert table, "the README has no sample-quality table"
    quoted = set()
    for source, n, inception, frechet, ratio in table:
        n = int(n.replace(",", ""))
        assert {(s, n) for s in _numbers(inception)} <= scores, f"{source}: IS {inception} is not the card's at N {n}"
        fds = [(f, n) for f in _numbers(frechet)]
        assert fds and set(fds) <= set(fd), f"{source}: FD {frechet} is not the card's at N {n}"
        quoted |= set(fds)
        own = floor["balanced" if "class-" in source else "none", n]  # each row against its like-for-like floor
        ratios = re.findall(r"(\d+(?:\.\d+)?)×", ratio) or [ratio]
        assert len(ratios) == len(fds), f"{source}: {ratio} does not pair with {frechet}"
        for f, r in zip(fds, ratios, strict=True):
            decimals = len(r.partition(".")[2])
            assert r == f"{fd[f] / own:.{decimals}f}", f"{source}: {f[0]} over the floor {own:.2f} is not {r}"
    assert quoted == set(fd), f"card rows missing from the README's table: {sorted(set(fd) - quoted)}"

"""The README and docs/ say what is true: docs/checkpoints.md is what `python -m train cards` writes from the cards
today, its sample-quality ratios are each row's FD over the floor of its own N (recomputed here from the card), the
README stays short and its test command is the one CI runs."""

import json
import re

from tests.conftest import CHECKPOINTS, ROOT
from train.cards import page


def _table(text: str, marker: str) -> list[list[str]]:
    """The body rows (cells, stripped) of the Markdown table after `<!-- marker -->`."""
    lines = text.splitlines()
    start = lines.index(f"<!-- {marker} -->") + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[2:]  # past the header and its rule


def test_the_checkpoints_page_is_written_from_todays_cards():
    assert (ROOT / "docs" / "checkpoints.md").read_text() == page(ROOT / "checkpoints"), (
        "docs/checkpoints.md is stale: run `python -m train cards`")


def test_the_readmes_beta_grid_table_is_written_from_todays_cards():
    from train.cards import readme_with_grid

    text = (ROOT / "README.md").read_text()
    assert "<!-- beta-grid-table -->" in text and text == readme_with_grid(text, ROOT / "checkpoints"), (
        "the README's β grid table is stale: run `python -m train cards`")


def test_each_sample_quality_row_is_the_cards_over_its_own_floor():
    card = json.loads((CHECKPOINTS / "ddpm.json").read_text())["sample_quality"]
    rows = [r for r in card["rows"] if r.get("device", "cpu") == "cpu"]
    by_source = {(r["source"], r["n"]): r for r in rows}
    floor = {(r["labels"], r["n"]): r["frechet_distance"] for r in rows if r["kind"] == "real"}
    table = _table(page(CHECKPOINTS), "sample-quality-table")
    assert len(table) == len(rows), "a card row is missing from the table, or a row is not the card's"
    for source, n, inception, frechet, ratio in table:
        r = by_source[source, int(n.replace(",", ""))]
        assert inception == f"{r['inception_score']:.3f} ± {r['inception_score_std']:.3f}"
        assert frechet == f"{r['frechet_distance']:.2f}"
        if r["kind"] == "real":
            assert ratio == "the floor"
            continue
        own = floor["balanced" if r.get("labels") == "balanced" else "none", r["n"]]  # like for like: same N, labels
        assert ratio == f"{r['frechet_distance'] / own:.2f}×", source


def test_the_readme_is_short_and_its_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    lines = readme.splitlines()
    fence = lines.index("<!-- test-command -->") + 1
    assert lines[fence] == "```"
    command = lines[fence + 1]
    assert command == 'pip install -e ".[test]" && bash tests/run_all.sh'
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q -e ".[test]"' in ci and "\nbash tests/run_all.sh\n" in ci
    assert "test-command" not in ci and "awk" not in ci  # CI runs the script; it does not parse the README


def test_docs_links_resolve():
    """Every relative link of the README and docs/ names a file that exists."""
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_the_2d_spread_table_and_what_it_claims_are_the_cards():
    """docs/training.md's energy-distance ranges over five seeds are the cards' (`python -m train diffusion2d-spread`),
    and the sentences under the table hold for them."""
    text = (ROOT / "docs" / "training.md").read_text()
    table = {row[0].strip("`").removeprefix("ddpm2d_"): row[1:] for row in _table(text, "energy-distance-spread")}
    spread = {}
    for name, cells in table.items():
        s = json.loads((CHECKPOINTS / f"ddpm2d_{name}.json").read_text())["metrics"]["energy_distance_seeds"]
        assert cells == [f"{s[k]['min']:.4f}–{s[k]['max']:.4f}" for k in ("ddpm", "ddim10", "ddim50", "floor")]
        spread[name] = s

    def overlap(a, b):
        return a["min"] <= b["max"] and b["min"] <= a["max"]

    for name, s in spread.items():  # DDIM-10 is worse than every other row, its lowest above their highest
        assert all(s["ddim10"]["min"] > s[k]["max"] for k in ("ddpm", "ddim50", "floor")), name
    assert {n for n, s in spread.items() if overlap(s["ddpm"], s["ddim50"])} == {"ring8", "uneven3", "spiral",
                                                                                 "checkerboard"}
    assert all(a < b for a, b in zip(spread["moons"]["ddpm"]["values"], spread["moons"]["ddim50"]["values"],
                                     strict=True))
    assert {n for n, s in spread.items() if overlap(s["ddpm"], s["floor"])} == {"ring8", "uneven3", "moons",
                                                                                "checkerboard"}

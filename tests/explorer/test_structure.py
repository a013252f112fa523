"""The shape the labs keep: maths in one place, page code as files, small modules, one schema."""

import ast
import re
import subprocess
import typing
from pathlib import Path

import pytest

from explorer import filmstrip

EXPLORER = Path(__file__).resolve().parents[2] / "explorer"
LABS = sorted((EXPLORER / "labs").rglob("*.py"))
SCHEDULE_BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                    "sqrt_one_minus_alphas_cumprod", "posterior_variance", "log_snr")


def test_the_labs_exist_one_module_per_sub_lab():
    names = {p.relative_to(EXPLORER / "labs").as_posix() for p in LABS}
    assert {"vae/sampling.py", "vae/latent_map.py", "vae/encode.py", "vae/likelihood.py", "vae/interpolate.py",
            "kl/panel.py", "kl/monte_carlo.py", "kl/fit.py", "kl/two_d.py", "kl/vae_term.py",
            "diffusion/forward.py", "diffusion/reverse.py", "diffusion/compare.py", "diffusion/elbo.py"} <= names


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.relative_to(EXPLORER).as_posix())
def test_labs_leave_the_maths_to_the_models(path):
    """No distribution, KL or schedule coefficient is computed in a lab: they ask train/ or explorer's maths."""
    src = path.read_text()
    assert "torch.distributions" not in src and not re.search(r"\bkl_divergence\(", src)
    assert not re.search(r"\b(Normal|Independent|MultivariateNormal)\(", src)
    for buf in SCHEDULE_BUFFERS:  # read a schedule for a plot, never do arithmetic on it
        assert not re.search(rf"\.{buf}\[|\.{buf}\s*[-+*/]|[-+*/]\s*[\w.]*\.{buf}\b", src), buf


@pytest.mark.parametrize("path", sorted(EXPLORER.rglob("*.py")), ids=lambda p: p.relative_to(EXPLORER).as_posix())
def test_modules_and_functions_stay_small(path):
    """No explorer file over 300 lines (a lab's sub-lab over 250), no function over 60."""
    src = path.read_text()
    assert len(src.splitlines()) <= (250 if path in LABS else 300)
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}: {node.name}() has grown past 60 lines"


@pytest.mark.parametrize("path", sorted(EXPLORER.rglob("*.py")), ids=lambda p: p.relative_to(EXPLORER).as_posix())
def test_the_registry_is_always_there_and_no_module_sets_anothers_globals(path):
    """The labs always get the link registry (no `Links | None` branches but the app's own constructor), and the
    app's options reach the labs in an AppConfig, not by setting a module's global from outside."""
    src = path.read_text()
    assert "links is not None" not in src and "links is None" not in src.replace(
        "links = Links() if links is None else links", "")
    tree = ast.parse(src)
    ours = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
            and n.module.startswith("explorer") for a in n.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                assert not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in ours
                            and t.attr.isupper()), f"{path.name}:{node.lineno} sets {ast.unparse(t)}"


def test_no_hidden_widgets_carry_the_page(synthetic_data):
    """Nothing on the page is a hidden component that JavaScript clicks or reads: a page load is one generator. The
    tab sets are the labs' and their sub-tabs' only (reading a link while the app is built makes no component)."""
    from explorer.app import build_demo
    from explorer.models import load_models
    from tests.conftest import CHECKPOINTS

    demo = build_demo(load_models(CHECKPOINTS, synthetic_data, download=False))
    hidden = [(c["type"], c["props"].get("elem_id")) for c in demo.config["components"]
              if c.get("props", {}).get("visible") == "hidden"]
    assert not hidden
    tab_sets = [c["props"].get("elem_id") for c in demo.config["components"] if c["type"] == "tabs"]
    assert len(tab_sets) == len(set(tab_sets)) == 5 and None not in tab_sets, tab_sets  # the labs, 4 with sub-tabs


def test_no_page_code_in_python_strings():
    """JavaScript, CSS and HTML templates live in explorer/static (linted in CI), not in Python strings."""
    for path in EXPLORER.rglob("*.py"):
        src = path.read_text()
        assert "addEventListener" not in src and "querySelector" not in src, path
        assert not re.search(r"js_on_load\s*=\s*[\"']", src), path
        assert "MutationObserver" not in src and "window.__" not in src, path


def test_the_page_code_is_es_modules_with_one_channel(node):
    """The views (explorer/static/*.js) and their shared code (static/lib) are ES modules that parse; each view that
    Python mounts exports `mount`; no document-wide listener of the controls' input or change events (their values
    come on the page's channel, static/lib/channel.js), no polling timer (the reverse viewer's playback is a timer by
    nature), no Plotly private field. eslint checks the rest (.ci/run)."""
    static = EXPLORER / "static"
    modules = [*static.glob("*.js"), *(static / "lib").glob("*.js")]
    for js in sorted([*modules, *(static / "events").glob("*.js")]):
        r = subprocess.run([node, "--check", str(js)], capture_output=True, text=True)  # package.json: "module"
        assert r.returncode == 0, (js.name, r.stderr)
    mounted = set(re.findall(r"""mount\(\s*["']([\w/.]+\.js)["']""", "\n".join(
        p.read_text() for p in EXPLORER.rglob("*.py"))))
    assert mounted >= {"decoder.js", "kl_panel.js", "links.js", "live_plot.js", "plane_field.js"}
    for name in mounted:
        assert re.search(r"^export const mount = ", (static / name).read_text(), re.M), name
    for js in modules:
        src = js.read_text()
        assert not re.search(r"document\.addEventListener\(\s*'(input|change|keyup|click)'", src), js.name
        assert not re.search(r"\._(fullLayout|fullData|context|size)\b", src), js.name
        assert "setInterval" not in src or js.name == "filmstrip.js", js.name
        assert not re.search(r"^(const|let|var|function) ", src, re.M) or "export " in src, js.name  # no globals


def test_the_first_screens_modules_are_preloaded_with_everything_they_import():
    """The page's head names (modulepreload) every module of the first screen and every module those import
    statically, so that none waits for its importer to run first; nothing else (the QR code's library is fetched when
    a presenter opens it)."""
    from explorer import page

    static = EXPLORER / "static"
    roots = {"page.js", "presenter.js", "links.js", "decoder.js"}  # launch's js, and the header's and VAE's views
    closure, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        base = Path(name).parent
        for dep in re.findall(r"^import .* from '(\.[^']+)';", (static / name).read_text(), re.M):
            todo.append((base / dep).as_posix().removeprefix("./").replace("lib/../", ""))
    assert set(page.FIRST_MODULES) == closure
    assert all(f'href="{page.STATIC_URL}{n}"' in page.HEAD for n in closure)
    assert "qrcode" not in page.HEAD


def test_the_viewer_schema_is_the_one_the_page_reads():
    js = (EXPLORER / "static" / "filmstrip.js").read_text()
    value_keys = set(typing.get_type_hints(filmstrip.ViewerValue))
    frame_keys = set(typing.get_type_hints(filmstrip.ViewerFrame))
    assert set(re.findall(r"\bv\.([a-z_]+)", js)) == value_keys
    assert set(re.findall(r"\bf\.([a-z]+)", js)) == frame_keys


TRAINING_ONLY = ("train.run", "train.distributed", "train.cli", "train.__main__", "train.evaluate",
                 "train.evaluate_vae", "train.sample_quality", "train.train_vae", "train.train_diffusion",
                 "train.train_diffusion2d", "train.train_classifier", "train.cards")


@pytest.mark.parametrize("path", sorted(EXPLORER.rglob("*.py")), ids=lambda p: p.relative_to(EXPLORER).as_posix())
def test_the_server_imports_models_and_maths_not_training(path):
    """The explorer reads checkpoints and uses models and maths from train/; training loops, run folders, processes
    and evaluation CLIs stay out of the server (the in-session fits use train/fit2d.py, torch only)."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                 if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            assert not any(name == m or name.startswith(m + ".") for m in TRAINING_ONLY), f"{path.name} imports {name}"


def _explorer_imports() -> dict[str, set[str]]:
    """explorer's modules and the explorer modules each imports, at module level or inside a function."""
    root = EXPLORER.parent
    mods = {}
    for p in EXPLORER.rglob("*.py"):
        name = ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = p
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    target = f"{node.module}.{a.name}"
                    graph[m].add(target if target in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names)
        graph[m] = {t for t in graph[m] if t in mods and t != m}
    return graph


def test_no_import_cycles():
    """Tarjan's strongly connected components of the import graph (imports inside functions included): none. A lab's
    sub-labs build their own components; the lab's __init__ wires events across them."""
    graph, index, low, stack, on, cycles = _explorer_imports(), {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, [sorted(c) for c in cycles]
    assert "explorer.filmstrip" not in graph["explorer.render"]  # the served folder is explorer/served.py's

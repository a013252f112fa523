"""Checkpoints: safetensors weights with the model config in the file's metadata, and a JSON card.

    checkpoints/vae_2d.safetensors   weights; metadata {"format", "kind", "config"}
    checkpoints/vae_2d.json          the card: kind, config, dataset, training command, commit, metrics

Loading rebuilds the model from the saved config, so a checkpoint needs no code changes to load.
Every write goes to a temporary file that is then renamed over the target, so an interrupted run
never leaves a half-written file. Resumable training state (optimizer, step, RNG) is saved the same
way, with non-tensor values as JSON in the metadata: no pickles anywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

FORMAT = "generative-explorer/1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match its config. The message names the file."""


def model_kinds() -> dict[str, tuple[type, Callable[[Any], nn.Module]]]:
    """kind -> (config dataclass, model constructor). Imported lazily so each model file stays standalone."""
    from train.models.classifier import Classifier, ClassifierConfig
    from train.models.ddpm import DDPM, DDPMConfig
    from train.models.ddpm2d import DDPM2D, DDPM2DConfig
    from train.models.vae import VAE, VAEConfig

    return {"vae": (VAEConfig, VAE), "ddpm": (DDPMConfig, DDPM), "classifier": (ClassifierConfig, Classifier),
            "ddpm2d": (DDPM2DConfig, DDPM2D)}


def card_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_tmp(folder: Path, max_age_s: float = 3600) -> list[Path]:
    """Remove the temporary files of `atomic_write` (.NAME.….tmp) in `folder` older than `max_age_s`: what a write
    that was killed (kill -9, a power cut) left behind. A write in progress elsewhere is younger. Returns them."""
    now, gone = time.time(), []
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                gone.append(tmp)
    return gone


def write_json(path: str | Path, obj: dict) -> None:
    atomic_write(Path(path), lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n"))


def git_commit() -> str:
    """The current commit of this repository (with '-dirty' if it has uncommitted changes outside checkpoints/, where
    training writes its outputs: retraining one model after another is no change to the code that trains), or
    'unknown'.

    A copy of the tree without its .git folder (a rented GPU machine, say) names its commit in the environment
    variable GENERATIVE_EXPLORER_COMMIT, '-dirty' included when the copy has uncommitted changes:
    `GENERATIVE_EXPLORER_COMMIT=$(git rev-parse HEAD)$(git diff --quiet HEAD || echo -dirty)`."""
    if not (REPO_ROOT / ".git").exists() and os.environ.get("GENERATIVE_EXPLORER_COMMIT"):
        return os.environ["GENERATIVE_EXPLORER_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!checkpoints"],
                               cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict[str, str]:
    import numpy
    import safetensors

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__, "platform": platform.platform()}


def command_line(argv: list[str] | None = None) -> str:
    """The training command as typed: `python -m train` and its arguments, shell-quoted."""
    return shlex.join(["python", "-m", "train", *(sys.argv[1:] if argv is None else argv)])


def save_checkpoint(path: str | Path, model: nn.Module, kind: str, card: dict) -> Path:
    """Write `model`'s weights with its config, then the card beside it. Returns the weights' path."""
    path = Path(path)
    config = dataclasses.asdict(model.config)
    meta = {"format": FORMAT, "kind": kind, "config": json.dumps(config)}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))
    write_json(card_path(path), {"kind": kind, "config": config, "weights": path.name, **card})
    return path


def _safetensors_metadata(path: Path, what: str) -> dict[str, str]:
    """The metadata of a safetensors file; CheckpointError naming the file if it is missing or unreadable."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file, perhaps truncated ({e})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    meta = _safetensors_metadata(path, "checkpoint")
    if meta.get("format") != FORMAT or "kind" not in meta or "config" not in meta:
        raise CheckpointError(f"{path}: metadata lacks format={FORMAT!r}, kind and config; not one of our checkpoints")
    return meta


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model from the config saved in `path` and load its weights (eval mode)."""
    path = Path(path)
    meta = read_metadata(path)
    kinds = model_kinds()
    if meta["kind"] not in kinds:
        raise CheckpointError(f"{path}: unknown model kind {meta['kind']!r}; known: {', '.join(kinds)}")
    config_cls, model_cls = kinds[meta["kind"]]
    try:
        config = config_cls(**json.loads(meta["config"]))
    except (TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: config does not fit {config_cls.__name__} ({e})") from None
    model = model_cls(config)
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: weights unreadable, perhaps truncated ({e})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not match the saved config: {' '.join(first[:3])}") from None
    return model.to(device).eval()


def read_card(path: str | Path) -> dict:
    """The JSON card beside a checkpoint, or {} if it has none."""
    p = card_path(path)
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p}: card is not valid JSON ({e})") from None


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --- resumable training state ------------------------------------------------------------------

def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list by a reference, collecting tensors by name."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Save a nested dict of tensors and JSON values (model, optimizer, generator states, counters)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    atomic_write(Path(path), lambda p: save_file(tensors, str(p), metadata={"format": FORMAT,
                                                                          "state": json.dumps(skeleton)}))


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    meta = _safetensors_metadata(path, "training-state")
    try:
        skeleton = json.loads(meta["state"])
        tensors = load_file(str(path))
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: training state unreadable, perhaps truncated ({e})") from None
    return _unflatten(skeleton, tensors)

"""Training throughput in 1 and 2 processes (torchrun, DistributedDataParallel: train/distributed.py).

Each row launches a real training command for a fixed number of steps (--max-steps: it stops as if killed, writing
nothing) and reads the images (points) per second that the command itself prints: from its first step to its last,
over all processes, with the global batch fixed. On a 2-core machine expect little gain; the point is that it runs.
With CUDA, --device cuda runs the diffusion model's processes on one GPU each.

    python -m tests.bench.bench_ddp --data-dir ../shared/data
    python -m tests.bench.bench_ddp --data-dir ../shared/data --trainers diffusion --nproc 1,2,4,8 --device cuda
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATE = re.compile(r"stopped at step (\d+).*\(([\d,]+) (\w+) in ([\d.]+) s: ([\d,.]+) \w+/s\)")

# trainer -> (its flags beyond --max-steps, steps on the CPU, what a step consumes)
TRAINERS = {
    "vae": (["--latent-dim", "2"], 200, "images"),
    "classifier": ([], 100, "images"),
    "diffusion": ([], 20, "images"),  # the shipped UNet (~1M parameters), batch 128
    "diffusion2d": (["--data", "ring8"], 300, "points"),
}


def run(trainer: str, nproc: int, steps: int, data_dir: Path, device: str, tmp: Path) -> tuple[float, int]:
    """(examples per second, steps) of one launch; raises if the command fails."""
    extra, _, _ = TRAINERS[trainer]
    args = ["-m", "train", trainer, *extra, "--max-steps", str(steps), "--out", str(tmp / f"{trainer}.safetensors"),
            "--run-dir", str(tmp / f"run-{trainer}-{nproc}")]
    if trainer != "diffusion2d":
        args += ["--data-dir", str(data_dir)]
    if trainer == "diffusion":
        args += ["--device", device]
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [torchrun, "--standalone", f"--nproc-per-node={nproc}", *args] if nproc > 1 else [sys.executable, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc))}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    m = RATE.search(r.stdout)
    if r.returncode or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return float(m.group(5).replace(",", "")), int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data", help="folder holding MNIST/raw")
    ap.add_argument("--trainers", default=",".join(TRAINERS), help="comma-separated: " + ", ".join(TRAINERS))
    ap.add_argument("--nproc", default="1,2", help="comma-separated process counts")
    ap.add_argument("--steps", type=int, default=0, help="steps per launch (0: each trainer's default)")
    ap.add_argument("--device", default="cpu", help="the diffusion model's device: cpu or cuda")
    args = ap.parse_args()
    counts = [int(n) for n in args.nproc.split(",")]
    print(f"{os.cpu_count()} CPU cores; OMP_NUM_THREADS = cores / processes; global batch as each trainer's default")
    print("| trainer | processes | steps | throughput | speed-up over 1 process |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for trainer in args.trainers.split(","):
            _, default_steps, unit = TRAINERS[trainer]
            base = None
            for n in counts:
                rate, steps = run(trainer, n, args.steps or default_steps, args.data_dir, args.device, Path(tmp))
                base = base or rate
                print(f"| {trainer} | {n} | {steps} | {rate:,.0f} {unit}/s | {rate / base:.2f}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Copy the DDPM v3 run's newest finished epoch into checkpoints/in-training/ddpm_v3 (state, history, grids, README,
# docs/training.md row). Usage: bash checkpoints/in-training/ddpm_v3/sync.sh   (then commit)
set -euo pipefail
cd "$(dirname "$0")/../../.."
dst=checkpoints/in-training/ddpm_v3
last=$(tail -n 1 $dst/history.jsonl | python -c "import json,sys; print(json.load(sys.stdin)['epoch'])")
tr '\r' '\n' < runs/ddpm_v3.log | grep '^{"epoch"' | python -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d['epoch'] > $last:
        print(json.dumps(d))
" >> $dst/history.jsonl
new=$(tail -n 1 $dst/history.jsonl | python -c "import json,sys; d=json.load(sys.stdin); print(d['epoch'], d['step'], round(d['test_loss_ema'], 4))")
set -- $new; ep=$1; step=$2; loss=$3
[ "$ep" = "$last" ] && { echo "no new epoch (last $last)"; exit 0; }
cp runs/ddpm_v3/state.safetensors $dst/state.safetensors
python - "$ep" <<'PY'
import json, re, sys
from safetensors import safe_open
with safe_open("checkpoints/in-training/ddpm_v3/state.safetensors", "pt") as f:
    meta = f.metadata()
assert re.search(r'"epoch", %s\]' % sys.argv[1], meta["state"]) or f'"epoch": {sys.argv[1]}' in meta["state"], "state is not the newest epoch"
PY
rm -f $dst/*.png
e3=$(printf "%03d" "$ep")
cp runs/ddpm_v3/samples_epoch$e3.png runs/ddpm_v3/uncond_samples_epoch$e3.png $dst/ 2>/dev/null || echo "(no grids for epoch $ep)"
stepfmt=$(python -c "print(f'{$step:,}')")
sed -i -E "s/\(([0-9]+) of 40, step [0-9,]+\)/($ep of 40, step $stepfmt)/" $dst/README.md
prev=$(grep -n "^| 24 channels, epoch " docs/training.md | tail -n 1 | cut -d: -f1)
sed -i "${prev}a | 24 channels, epoch $ep | $stepfmt | $loss | not scored | not scored | not scored |" docs/training.md
echo "synced epoch $ep (step $stepfmt, test loss EMA $loss)"

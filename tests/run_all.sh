#!/usr/bin/env bash
# Every test tier, one after another: the default tier (no browser, nothing slow), the browser tier (the app in
# headless Chromium) and the slow tier (compiling, long training). One tier at a time, so a page never waits for a
# core that a training test holds. Extra arguments go to every pytest call (e.g. -x, -k NAME).
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
for tier in "not browser and not slow" "browser" "slow"; do
  echo "== pytest -m '$tier'"
  pytest -m "$tier" "$@"
  rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || failed+=("$tier (exit $rc)")  # 5: no test selected (e.g. by -k)
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed tiers: ${failed[*]}" >&2
  exit 1
fi

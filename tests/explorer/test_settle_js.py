"""static/settle.js, run in Node: one question out at a time, the newest values sent once it is answered, no answer
older than the newest question shown, and a question asked again when its answer never comes. The settler reads
the test's clock, which moves only when the test says: a busy machine pausing Node between two asks is no pause of
the hand (under load, 50 ms of real time between them once sent the third question at once)."""

import json
import subprocess
from pathlib import Path

SETTLE = Path(__file__).resolve().parents[2] / "explorer" / "static" / "settle.js"

SCRIPT = """
const sent = [];
let value = 'a', clock = 0;
const s = geSettler((name, payload) => sent.push([name, payload]), () => ({v: value}), 50, () => clock);
const log = {};
s.ask(); value = 'b'; s.ask(); value = 'c'; s.ask();  // one out; two pauses while it is
log.whileOut = sent.slice();
log.staleFirst = s.stale(1);  // its answer: older than the question it now sends, with the newest values
log.afterFirst = sent.slice();
log.staleSecond = s.stale(2);
log.own = s.stale(undefined);  // a value the server sent on its own
s.ask(); value = 'd'; s.ask();  // question 3 out, a pause waiting; its answer never comes
clock = 100;  // past the patience when the retry's timer fires
setTimeout(() => {
  log.afterPatience = sent.slice();
  log.staleLate = s.stale(3);  // question 3's late answer, after 4 was sent
  log.staleNewest = s.stale(4);
  console.log(JSON.stringify(log));
}, 150);
"""


def test_one_question_at_a_time_and_no_older_answer_shown(node):
    r = subprocess.run([node, "-e", SETTLE.read_text() + SCRIPT], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stdout)
    assert log["whileOut"] == [["settle", {"v": "a", "seq": 1}]]
    assert log["staleFirst"] is True
    assert log["afterFirst"][1:] == [["settle", {"v": "c", "seq": 2}]]  # the newest values, not the pause's
    assert log["staleSecond"] is False and log["own"] is False
    assert log["afterPatience"][2:] == [["settle", {"v": "c", "seq": 3}], ["settle", {"v": "d", "seq": 4}]]
    assert log["staleLate"] is True and log["staleNewest"] is False

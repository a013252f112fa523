// explorer/static/lib/settle.js: one question out at a time, the newest values sent once it is answered, no answer
// older than the newest question shown, and a question asked again when its answer never comes. The settler reads
// the test's clock, which moves only when the test says: a busy machine pausing Node between two asks is no pause
// of the hand.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {settler} from '../../explorer/static/lib/settle.js';

test('one question at a time, and no older answer shown', async () => {
  const sent = [];
  let value = 'a', clock = 0;
  const s = settler((name, payload) => sent.push([name, payload]), () => ({v: value}), 50, () => clock);
  s.ask(); value = 'b'; s.ask(); value = 'c'; s.ask();  // one out; two pauses while it is
  assert.deepEqual(sent, [['settle', {v: 'a', seq: 1}]]);
  assert.equal(s.stale(1), true);  // its answer: older than the question it now sends, with the newest values
  assert.deepEqual(sent.slice(1), [['settle', {v: 'c', seq: 2}]]);  // the newest values, not the pause's
  assert.equal(s.stale(2), false);
  assert.equal(s.stale(undefined), false);  // a value the server sent on its own
  s.ask(); value = 'd'; s.ask();  // question 3 out, a pause waiting; its answer never comes
  clock = 100;  // past the patience when the retry's timer fires
  await new Promise(r => setTimeout(r, 150));
  assert.deepEqual(sent.slice(2), [['settle', {v: 'c', seq: 3}], ['settle', {v: 'd', seq: 4}]]);
  assert.equal(s.stale(3), true);  // question 3's late answer, after 4 was sent
  assert.equal(s.stale(4), false);
});

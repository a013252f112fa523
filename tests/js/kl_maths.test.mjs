// The KL lab's page maths (explorer/static/lib/kl_maths.js) against torch.distributions.kl_divergence (to 1e-9
// relative) and against our Python (explorer/kl_maths.py, labs/kl/common.py: the axes and the text, exactly), on the
// fixtures tests/explorer/test_page_maths.py writes: random and extreme parameters.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as kl from '../../explorer/static/lib/kl_maths.js';
import {close, fixture} from './fixtures.mjs';

const f = fixture('kl.json');
// to the bit, but for the sign of zero (an axis from −0 is the axis from 0; JSON, which the page and Plotly pass
// ranges through, writes both as 0)
const unsigned = v => (Array.isArray(v) ? v.map(unsigned) : v === 0 ? 0 : v);
const same = (got, want, what) => assert.deepEqual(unsigned(got), unsigned(want), what);

test('KL between 1-D Gaussians is torch\'s, both directions', () => {
  for (const [p, want] of f.kl1d) {
    const got = kl.kl1d(...p);
    assert.ok(close(got[0], want[0]) && close(got[1], want[1]), `${p}: ${got} against ${want}`);
  }
});

test('KL between 2-D Gaussians is torch\'s, both directions (p = q: rounding residue below 1e-13)', () => {
  for (const [p, q, want] of f.kl2d) {
    const got = kl.kl2d(p, q);
    assert.ok(close(got[0], want[0]) && close(got[1], want[1]), `${p} ${q}: ${got} against ${want}`);
  }
});

test('beyond float64 both overflow to ∞', () => {
  assert.deepEqual(kl.kl1d(0, 1e-200, 1e200, 1e-200), [Infinity, Infinity]);
});

test('the steady axis ranges are Python\'s to the bit', () => {
  for (const [args, want] of f.steadyRange) same(kl.steadyRange(...args), want, `${args}`);
  for (const [args, want] of f.sharedZero) same(kl.sharedZero(...args), want, `${args}`);
  for (const [args, want] of f.plotRange) same(kl.plotRange(...args), want, `${args}`);
  for (const [[p, q], want] of f.ranges2d) same(kl.ranges2d(p, q), want, `${p} ${q}`);
});

test('numbers are written as Python writes them, character for character', () => {
  for (const [v, want] of f.fmtNats) assert.equal(kl.fmtNats(v), want, `${v}`);
  assert.ok(kl.fmtNats(Infinity).startsWith('∞: beyond float64'));
  for (const [[a, b], want] of f.numbersHtml) assert.equal(kl.numbersHtml(a, b), want, `${a} ${b}`);
});

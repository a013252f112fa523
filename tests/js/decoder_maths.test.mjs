// The page's VAE decoder (explorer/static/lib/decoder_maths.js) against torch on the shipped checkpoints, and its
// pixel uniforms against Python's (explorer/labs/vae/page_decoder.py), bit for bit.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {forward, layersOf, uniforms} from '../../explorer/static/lib/decoder_maths.js';
import {file, fixture} from './fixtures.mjs';

const cases = fixture('decoder.json');

for (const m of cases.models) {
  test(`f_θ(z) of ${m.name} is torch's to 1e-12 at ${m.zs.length} latents`, () => {
    const buf = file(m.weights), layers = layersOf(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), m.dims);
    assert.deepEqual(layers.map(L => [L.nIn, L.nOut]), m.dims.slice(0, -1).map((d, i) => [d, m.dims[i + 1]]));
    m.zs.forEach((z, i) => {
      const got = forward(layers, z), want = m.probs[i];
      assert.equal(got.length, want.length);
      const worst = Math.max(...want.map((w, j) => Math.abs(got[j] - w)));
      assert.ok(worst <= 1e-12, `z = ${z.slice(0, 4)}…: off by ${worst}`);
    });
  });
}

test('a weights file of the wrong size is refused', () => {
  assert.throws(() => layersOf(new ArrayBuffer(4 * 7), [2, 2]), /hold 7 numbers/);
});

test('the pixel uniforms are Python\'s, bit for bit', () => {
  for (const {seed, u} of cases.uniforms) assert.deepEqual(Array.from(uniforms(seed, u.length)), u, `seed ${seed}`);
});

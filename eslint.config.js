// eslint for the page's code (explorer/static) and its tests (tests/js): `npx eslint` (CI runs it, .ci/run).
// The views and explorer/static/lib are ES modules; explorer/static/events holds the JS-only events' functions,
// each one function expression that Gradio runs as an event's `js` (explorer/render.py: static, js_call).
import js from '@eslint/js';
import globals from 'globals';

export default [
  {ignores: ['explorer/static/vendor/**']},  // vendored as published (static/vendor/README.md)
  js.configs.recommended,
  {
    files: ['explorer/static/**/*.js', 'tests/js/**/*.mjs'],
    languageOptions: {ecmaVersion: 2023, sourceType: 'module', globals: {...globals.browser, Plotly: 'readonly'}},
    rules: {
      'no-unused-vars': ['error', {args: 'none'}],
      'prefer-const': 'error',
      'no-var': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['explorer/static/events/*.js'],
    languageOptions: {sourceType: 'script'},
    rules: {'no-unused-expressions': 'off'},
  },
  {
    files: ['tests/js/**/*.mjs'],
    languageOptions: {globals: {...globals.node}},
  },
];

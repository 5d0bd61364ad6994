// The TypeScript declarations (pkg/index.d.ts): a strict `tsc --noEmit` accepts the
// example that uses every public API (tests/types/example.ts), rejects misuse (the
// device-loss test hook is not public, config is an object, the threshold a number,
// a stream needs onResult), and every public method of the runtime classes is
// declared and used by the example.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { ARTIFACTS, ROOT } from './harness.mjs';

const TSC = join(ROOT, 'tools/node_modules/.bin/tsc');

/** tsc's exit status and output for a project. */
function tsc(project) {
  try {
    return { status: 0, output: execFileSync(TSC, ['-p', project], { encoding: 'utf8' }) };
  } catch (error) {
    return { status: error.status, output: `${error.stdout}${error.stderr}` };
  }
}

test('tsc --noEmit (strict) accepts the example that uses every public API', () => {
  const { status, output } = tsc(join(ROOT, 'tests/types'));
  assert.equal(status, 0, output);
});

test('tsc rejects what is not public API', () => {
  const dir = join(ARTIFACTS, 'types-misuse');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'misuse.ts'), [
    "import { InctrlDetector, PromptSet } from 'inctrl-web';",
    'export async function misuse(detector: InctrlDetector) {',
    '  await detector.simulateDeviceLoss();',
    "  await detector.loadWeights('checkpoint.pyth', { config: '{\"embed_dim\": 640}' });",
    '  await detector.score([42]);',
    "  detector.threshold = 'high';",
    '  detector.scoreStream(new MediaStream(), { maxFps: 5 });',
    '  return new PromptSet();',
    '}',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: join(ROOT, 'tests/types/tsconfig.json'),
    compilerOptions: { paths: { 'inctrl-web': [join(ROOT, 'pkg/index.d.ts')] } },
    files: ['misuse.ts'],
  }));
  const { status, output } = tsc(dir);
  assert.notEqual(status, 0);
  for (const [line, message] of [
    [3, /Property 'simulateDeviceLoss' does not exist/],
    [4, /Type 'string' is not assignable to type 'ClipConfig'/],
    [5, /not assignable to parameter of type 'Iterable<ImageInput>'/],
    [6, /Type 'string' is not assignable to type 'number'/],
    [7, /Property 'onResult' is missing/],
    [8, /Constructor of class 'PromptSet' is private/],
  ]) {
    assert.match(output, new RegExp(`misuse\\.ts\\(${line},\\d+\\): error TS\\d+: .*${message.source}`), output);
  }
});

test('every public method of the runtime classes is declared and used by the example', async () => {
  const { InctrlDetector, PromptSet } = await import(join(ROOT, 'pkg/detector.js'));
  const declarations = readFileSync(join(ROOT, 'pkg/index.d.ts'), 'utf8');
  const example = readFileSync(join(ROOT, 'tests/types/example.ts'), 'utf8');
  const members = (cls) => [
    ...Object.getOwnPropertyNames(cls.prototype).filter((name) => name !== 'constructor'),
    ...Object.getOwnPropertyNames(cls).filter((name) => !['length', 'name', 'prototype'].includes(name)),
  ];
  const names = [...members(InctrlDetector), ...members(PromptSet)];
  assert.ok(names.includes('encodePrompts') && names.includes('clearCache') && names.includes('dispose'));
  for (const name of names) {
    assert.match(declarations, new RegExp(`\\b${name}\\b[(:]`), `${name} is not declared in index.d.ts`);
    assert.match(example, new RegExp(`\\.${name}\\b`), `${name} is not used by tests/types/example.ts`);
  }
  // The device-loss hook is a symbol, not a name.
  assert.ok(!names.includes('simulateDeviceLoss'));
  assert.ok(Symbol.for('inctrl-web.simulateDeviceLoss') in InctrlDetector.prototype);
});

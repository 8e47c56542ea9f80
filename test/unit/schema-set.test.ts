// The schema loader: reference resolution and inlining, including the mistakes it must refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSchemaSet, inlineRefs } from '../../src/api/schema-set.ts';

function withSchemas(files: Record<string, object>, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
  try {
    for (const [name, s] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify({ $id: name, ...s }));
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('cross-file refs are inlined, a sibling description refines the shared one', () => {
  withSchemas(
    {
      'a.json': { definitions: { Port: { type: 'string', description: 'shared', pattern: '^[0-9]+$' } } },
      'b.json': {
        'x-crd': {},
        type: 'object',
        properties: { port: { $ref: 'a.json#/definitions/Port', description: 'here' } },
      },
    },
    (dir) => {
      const set = loadSchemaSet(dir);
      assert.deepEqual(set.kindFiles(), ['b.json']);
      const out = inlineRefs(set, 'b.json', set.files.get('b.json')) as { properties: { port: object } };
      assert.deepEqual(out.properties.port, { type: 'string', description: 'here', pattern: '^[0-9]+$' });
    },
  );
});

test('a property named like a keyword is data, not a keyword', () => {
  withSchemas(
    { 'k.json': { type: 'object', properties: { default: { type: 'string' }, enum: { type: 'integer' } } } },
    (dir) => {
      const set = loadSchemaSet(dir);
      assert.deepEqual(inlineRefs(set, 'k.json', set.files.get('k.json')), {
        $id: 'k.json',
        type: 'object',
        properties: { default: { type: 'string' }, enum: { type: 'integer' } },
      });
    },
  );
});

test('refuses what a CRD cannot hold or a reader cannot follow', () => {
  const cases: Array<[string, Record<string, object>, RegExp]> = [
    [
      'recursion',
      {
        'r.json': {
          definitions: { Node: { type: 'object', properties: { child: { $ref: '#/definitions/Node' } } } },
          properties: { n: { $ref: '#/definitions/Node' } },
        },
      },
      /recursive \$ref to Node/,
    ],
    ['dangling ref', { 'd.json': { properties: { n: { $ref: '#/definitions/Nope' } } } }, /names no definition/],
    [
      'wrong file',
      { 'a.json': { definitions: { X: {} } }, 'b.json': { properties: { x: { $ref: 'c.json#/definitions/X' } } } },
      /X is defined in a.json/,
    ],
    ['pointer refs', { 'p.json': { properties: { x: { $ref: '#/properties/y' } } } }, /unsupported \$ref/],
  ];
  for (const [name, files, error] of cases) {
    withSchemas(files, (dir) => {
      const set = loadSchemaSet(dir);
      const file = Object.keys(files).pop()!;
      assert.throws(() => inlineRefs(set, file, set.files.get(file)), error, name);
    });
  }
  withSchemas({ 'a.json': { definitions: { X: {} } }, 'b.json': { definitions: { X: {} } } }, (dir) => {
    assert.throws(() => loadSchemaSet(dir), /defined in both a.json and b.json/);
  });
});

// The .proto file must match the wire contract in docs/PROTOCOL.md section 3 field for field:
// both are parsed by protobufjs and every message, enum, field name, number, type, label and
// oneof membership is compared.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');

const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
const protocolMd = read('../../../docs/PROTOCOL.md');
const specBlock = /## 3\. Messages[\s\S]*?```protobuf\n([\s\S]*?)```/.exec(protocolMd)?.[1];

type Shape = Record<string, unknown>;
function describeNamespace(ns: import('protobufjs').Namespace): Shape {
  const out: Shape = {};
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) {
      out[obj.name] = {
        fields: Object.fromEntries(
          obj.fieldsArray.map((f) => [f.name, { id: f.id, type: f.type, repeated: f.repeated, oneof: f.partOf?.name }]),
        ),
        nested: obj.nestedArray.length ? describeNamespace(obj) : undefined,
      };
    } else if (obj instanceof protobuf.Enum) {
      out[obj.name] = { enum: obj.values };
    }
  }
  return out;
}

test('PROTOCOL.md section 3 has a protobuf block', () => {
  expect(specBlock).toContain('package degas.message.v1;');
});

test('proto/degas/message/v1/message.proto matches PROTOCOL.md section 3 field for field', () => {
  const spec = protobuf.parse(specBlock ?? '', { keepCase: true }).root.lookup('degas.message.v1');
  const ours = protobuf
    .parse(read('../../../proto/degas/message/v1/message.proto'), { keepCase: true })
    .root.lookup('degas.message.v1');
  expect(spec).toBeInstanceOf(protobuf.Namespace);
  const specShape = describeNamespace(spec as import('protobufjs').Namespace);
  expect(Object.keys(specShape)).toHaveLength(17);
  expect(describeNamespace(ours as import('protobufjs').Namespace)).toEqual(specShape);
});

/**
 * The .proto parser and schema resolution: every file under proto/ loads;
 * the accepted syntax parses to the right declarations; everything outside
 * the supported subset, and every schema mistake, fails with file and line;
 * loading is lazy per package, with a full load as fallback.
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../lib/assert.ts";
import { parseProto } from "../../src/proto/parser.ts";
import { Kind, listProtoFiles, ProtoRegistry } from "../../src/proto/schema.ts";
import { PROTO_DIR } from "../../src/proto/registry.ts";

Deno.test("proto parser: every .proto file under proto/ parses and resolves, with no google/protobuf copies", () => {
  const files = listProtoFiles(PROTO_DIR);
  assert(files.length >= 9, `only ${files.length} files under ${PROTO_DIR}`);
  assert(
    !files.some((f) => f.startsWith("google/protobuf/")),
    "well-known types must stay built in",
  );
  const registry = new ProtoRegistry(PROTO_DIR);
  registry.loadAll();
  for (const f of files) assert(registry.files.has(f), `${f} not loaded`);
  // Each import of google/protobuf/* was satisfied by a built-in.
  for (const file of registry.files.values()) {
    for (const imp of file.imports) {
      assert(registry.files.has(imp.path), `${file.path} imports ${imp.path}`);
    }
  }
  const shim = registry.message("containerd.task.v2.StateResponse")!;
  assertEquals(shim.byNumber.get(4)?.enumInfo?.fullName, "containerd.v1.types.Status");
  assertEquals(shim.byNumber.get(10)?.message?.fullName, "google.protobuf.Timestamp");
});

const RICH = `// leading comment
syntax = "proto3";
package a.b;
import public "other.proto";
option (my.ext).field = { nested: { x: 1 } list: [1, 2] };
option go_package = "example.com/" "x;x";

/* a block comment with } braces { inside */
message Outer {
  option deprecated = true;
  reserved 2, 15, 9 to 11, 40 to max;
  reserved "gone", "old";
  message Inner {
    enum Mode { option allow_alias = true; OFF = 0; ON = 1; ENABLED = 1 [deprecated = true]; NEG = -5; }
    Mode mode = 0x1;
    Outer back = 010; // octal 8
  }
  Inner inner = 1;
  repeated Inner.Mode modes = 3 [packed = false];
  map<string, .a.b.Outer.Inner> by_name = 4;
  oneof pick {
    option (x) = 1;
    string s = 5;
    Inner i = 6;
  }
  optional uint64 maybe = 7 [json_name = "mb"];
  .a.b.Other other = 8;
  double d = 536870911;
}
service Svc {
  option (svc) = "x";
  rpc Unary(Outer) returns (Outer);
  rpc Streams(stream Outer) returns (stream Outer) { option idempotency_level = NO_SIDE_EFFECTS; }
}
enum Top { TOP_ZERO = 0; }
`;

Deno.test("proto parser: the supported syntax parses to the expected declarations", () => {
  const file = parseProto(RICH, "rich.proto");
  assertEquals(file.package, "a.b");
  assertEquals(file.imports, [{ path: "other.proto", line: 4 }]);
  assertEquals(file.enums.map((e) => e.name), ["Top"]);
  assertEquals(file.services[0]!.rpcs, [
    {
      name: "Unary",
      request: "Outer",
      response: "Outer",
      requestStream: false,
      responseStream: false,
    },
    {
      name: "Streams",
      request: "Outer",
      response: "Outer",
      requestStream: true,
      responseStream: true,
    },
  ]);
  const outer = file.messages[0]!;
  assertEquals(outer.fields.map((f) => [f.name, f.number, f.type]), [
    ["inner", 1, "Inner"],
    ["modes", 3, "Inner.Mode"],
    ["by_name", 4, ".a.b.Outer.Inner"],
    ["s", 5, "string"],
    ["i", 6, "Inner"],
    ["maybe", 7, "uint64"],
    ["other", 8, ".a.b.Other"],
    ["d", 536870911, "double"],
  ]);
  assertEquals(outer.fields[1]!.packed, false);
  assertEquals(outer.fields[2]!.mapKey, "string");
  assertEquals(outer.fields[3]!.oneof, "pick");
  assertEquals(outer.fields[5]!.optional, true);
  assertEquals(outer.fields[5]!.oneof, "_maybe");
  assertEquals(outer.oneofs, ["pick", "_maybe"]);
  const inner = outer.messages[0]!;
  assertEquals(inner.fields.map((f) => f.number), [1, 8]);
  assertEquals(inner.enums[0]!.values, [
    { name: "OFF", number: 0 },
    { name: "ON", number: 1 },
    { name: "ENABLED", number: 1 },
    { name: "NEG", number: -5 },
  ]);

  // Resolution: nested names from inside the message, aliases keep the first name.
  const registry = new ProtoRegistry(
    null,
    new Map([["rich.proto", RICH], [
      "other.proto",
      'syntax = "proto3"; package a.b; message Other {}',
    ]]),
  );
  const info = registry.message("a.b.Outer")!;
  assertEquals(info.byNumber.get(3)!.enumInfo!.fullName, "a.b.Outer.Inner.Mode");
  assertEquals(info.byNumber.get(3)!.enumInfo!.byNumber.get(1), "ON");
  assertEquals(info.byNumber.get(4)!.mapKey, Kind.STRING);
  assertEquals(info.byNumber.get(4)!.message!.fullName, "a.b.Outer.Inner");
  assertEquals(info.byNumber.get(8)!.message!.fullName, "a.b.Other");
  assertEquals(registry.message("a.b.Outer.Inner")!.byNumber.get(8)!.message, info);
});

Deno.test("proto parser: an inner type shadows an outer one of the same name", () => {
  const registry = new ProtoRegistry(
    null,
    new Map([[
      "s.proto",
      `syntax = "proto3"; package p;
       message Thing { string outer = 1; }
       message Box { message Thing { int32 inner = 1; } Thing t = 1; p.Thing u = 2; .p.Thing v = 3; }`,
    ]]),
  );
  const box = registry.message("p.Box")!;
  assertEquals(box.byNumber.get(1)!.message!.fullName, "p.Box.Thing");
  assertEquals(box.byNumber.get(2)!.message!.fullName, "p.Thing");
  assertEquals(box.byNumber.get(3)!.message!.fullName, "p.Thing");
});

/** Loads `src` as the only file and returns the error message. */
function failure(src: string, extra: [string, string][] = []): string {
  const registry = new ProtoRegistry(null, new Map([["bad/x.proto", src], ...extra]));
  return assertThrows(() => registry.loadAll()).message;
}

Deno.test("proto parser: unsupported constructs and schema mistakes fail with file and line", () => {
  const cases: [string, string][] = [
    ['syntax = "proto2";\nmessage A {}', 'bad/x.proto:1: syntax "proto2" is not supported'],
    ["message A {}", "bad/x.proto:1: missing 'syntax"],
    ['edition = "2023";', "bad/x.proto:1: editions are not supported"],
    [
      'syntax = "proto3";\nmessage A {\n  required int32 x = 1;\n}',
      'bad/x.proto:3: "required" is not supported',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  extensions 100 to 199;\n}',
      'bad/x.proto:3: "extensions" is not supported',
    ],
    [
      'syntax = "proto3";\nextend Foo { int32 x = 1; }',
      'bad/x.proto:2: "extend" is not supported at top level',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  group G = 1 {}\n}',
      'bad/x.proto:3: "group" is not supported',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  int32 x = 1 [default = 5];\n}',
      'bad/x.proto:3: field "x": default values',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  Missing m = 1;\n}',
      'bad/x.proto:3: unknown type "Missing"',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  int32 x = 1;\n  int32 y = 1;\n}',
      "bad/x.proto:4: field number 1 is used twice",
    ],
    [
      'syntax = "proto3";\nmessage A {\n  int32 x = 1;\n  string x = 2;\n}',
      'bad/x.proto:4: field "A.x" is declared twice',
    ],
    [
      'syntax = "proto3";\nmessage A {}\nmessage A {}',
      'bad/x.proto:3: "A" is already defined at bad/x.proto:2',
    ],
    ['syntax = "proto3";\nimport "nope.proto";', 'bad/x.proto:2: import "nope.proto" not found'],
    [
      'syntax = "proto3";\nimport "google/protobuf/descriptor.proto";',
      "not a built-in well-known type",
    ],
    ['syntax = "proto3";\n/* never closed', "bad/x.proto:2: unterminated comment"],
    [
      'syntax = "proto3";\nmessage A {\n  string s = 1 [json_name = "x\n"];\n}',
      "bad/x.proto:3: unterminated string",
    ],
    [
      'syntax = "proto3";\nmessage A {\n  map<double, string> m = 1;\n}',
      'bad/x.proto:3: "double" cannot be a map key type',
    ],
    ['syntax = "proto3";\nmessage A {\n  int32 x = 0;\n}', "bad/x.proto:3: field number 0"],
    ['syntax = "proto3";\nmessage A {\n  int32 x = 19500;\n}', "field number 19500"],
    ['syntax = "proto3";\nmessage A {\n  int32 x = 536870912;\n}', "field number 536870912"],
    [
      'syntax = "proto3";\nenum E {\n  ONE = 1;\n}',
      'bad/x.proto:2: the first value of enum "E" must be 0',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  int32 x = 1;\n',
      'bad/x.proto:4: message "A" is not closed',
    ],
    ['syntax = "proto3";\nmessage A {\n  int32 x = 1 @;\n}', "bad/x.proto:3: unexpected character"],
    [
      'syntax = "proto3";\nmessage A {\n  oneof o {\n    repeated int32 x = 1;\n  }\n}',
      'bad/x.proto:4: "repeated" is not allowed',
    ],
    [
      'syntax = "proto3";\nmessage A {\n  oneof o {\n    int32 x = 1;\n  }\n  string o = 2;\n}',
      'bad/x.proto:6: field "A.o" is declared twice (or names a oneof)',
    ],
  ];
  for (const [src, want] of cases) assertIncludes(failure(src), want);
  // Two files defining one name: the second names the first.
  assertIncludes(
    failure('syntax = "proto3"; package p; message A {}', [[
      "bad/y.proto",
      'syntax = "proto3"; package p; message A {}',
    ]]),
    'bad/y.proto:1: "p.A" is already defined at bad/x.proto:1',
  );
});

Deno.test("proto schema: lookups parse only the packages they need (and their imports)", () => {
  const sources = new Map([
    [
      "good.proto",
      'syntax = "proto3"; package good; import "dep.proto"; message G { dep.D d = 1; }',
    ],
    ["dep.proto", 'syntax = "proto3"; package dep; message D { int32 x = 1; }'],
    ["other.proto", 'syntax = "proto3"; package other; message O { int32 x = 1; }'],
  ]);
  const registry = new ProtoRegistry(null, sources);
  assert(registry.message("good.G"));
  assertEquals([...registry.files.keys()].sort(), ["dep.proto", "good.proto"]);
  // A name no file defines loads everything once to be sure, then is unknown.
  assertEquals(registry.message("good.Missing"), undefined);
  assert(registry.files.has("other.proto") && registry.files.has("google/protobuf/any.proto"));
});

Deno.test("proto schema: a type needed from a file nobody imported loads everything, and load failures stick", () => {
  const sources = new Map([
    ["loose.proto", 'syntax = "proto3"; package loose; message L { late.T t = 1; }'],
    ["late.proto", 'syntax = "proto3"; package late; message T { string s = 1; }'],
  ]);
  const registry = new ProtoRegistry(null, sources);
  assertEquals(registry.message("loose.L")!.byNumber.get(1)!.message!.fullName, "late.T");

  const broken = new ProtoRegistry(
    null,
    new Map([
      ["ok.proto", 'syntax = "proto3"; package ok; message O { int32 x = 1; }'],
      ["broken.proto", 'syntax = "proto3";\npackage broken;\nmessage B { nonsense }'],
    ]),
  );
  // The lazy path never touches broken.proto ...
  assert(broken.message("ok.O"));
  // ... a full load reports it, and keeps reporting it.
  assertIncludes(assertThrows(() => broken.loadAll()).message, "broken.proto:3:");
  assertIncludes(assertThrows(() => broken.message("other.X")).message, "broken.proto:3:");
});

Deno.test("proto schema: a package's conventional folder is tried first, then the full index", async () => {
  const dir = await Deno.makeTempDir({ prefix: "joey-proto-" });
  try {
    const write = async (rel: string, text: string) => {
      await Deno.mkdir(`${dir}/${rel.slice(0, rel.lastIndexOf("/") + 1)}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${rel}`, text);
    };
    await write(
      "p/q/x.proto",
      'syntax = "proto3";\npackage p.q;\nimport "common/c.proto";\nmessage X { c.C c = 1; }\n',
    );
    await write("p/q/other.proto", 'syntax = "proto3";\npackage unrelated;\nmessage U {}\n');
    await write("common/c.proto", 'syntax = "proto3";\npackage c;\nmessage C { string s = 1; }\n');
    await write(
      "elsewhere.proto",
      'syntax = "proto3";\npackage p.q;\nmessage Y { int32 n = 1; }\n',
    );
    await write("zz/broken.proto", 'syntax = "proto3";\npackage zz;\nmessage B { nonsense }\n');
    const registry = new ProtoRegistry(dir + "/");
    assertEquals(registry.message("p.q.X")!.byNumber.get(1)!.message!.fullName, "c.C");
    // Only the folder's matching file and its import were parsed.
    assertEquals([...registry.files.keys()].sort(), ["common/c.proto", "p/q/x.proto"]);
    // A message of the same package outside the folder is still found, through the index.
    assert(registry.message("p.q.Y"));
    assert(!registry.files.has("zz/broken.proto"));
    // And a full load still reports the broken file.
    assertIncludes(assertThrows(() => registry.loadAll()).message, "zz/broken.proto:3:");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

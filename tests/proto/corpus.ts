/**
 * A self-contained .proto source that uses every construct the codec
 * supports (all fifteen scalars, enums with negative values, nested types,
 * repeated packed and unpacked, maps with each comparable key kind, oneof,
 * proto3 optional, recursion, extreme field numbers), so the cross-check
 * covers what joey's own .proto files do not use yet.
 * @module
 */

/** Path → source of the synthetic corpus. */
export const CORPUS: ReadonlyMap<string, string> = new Map([
  [
    "joeytest/all.proto",
    `// Everything the codec supports.
syntax = "proto3";
package joeytest.all;
option java_package = "unused";

/* Enums are open: unknown numbers stay numbers. */
enum Color {
  RED = 0;
  GREEN = 1;
  BLUE = 2 [deprecated = true];
  NEG = -1;
}

message Scalars {
  double d = 1;
  float f = 2;
  int32 i32 = 3;
  int64 i64 = 4;
  uint32 u32 = 5;
  uint64 u64 = 6;
  sint32 s32 = 7;
  sint64 s64 = 8;
  fixed32 f32 = 9;
  fixed64 f64 = 10;
  sfixed32 sf32 = 11;
  sfixed64 sf64 = 12;
  bool b = 13;
  string s = 14;
  bytes by = 15;
  Color c = 16;
}

message Repeats {
  repeated double d = 1;
  repeated float f = 2;
  repeated int32 i32 = 3;
  repeated int64 i64 = 4;
  repeated uint32 u32 = 5;
  repeated uint64 u64 = 6;
  repeated sint32 s32 = 7;
  repeated sint64 s64 = 8;
  repeated fixed32 f32 = 9;
  repeated fixed64 f64 = 10;
  repeated sfixed32 sf32 = 11;
  repeated sfixed64 sf64 = 12;
  repeated bool b = 13;
  repeated string s = 14;
  repeated bytes by = 15;
  repeated Color c = 16;
  repeated Scalars msgs = 17;
  repeated int32 unpacked = 18 [packed = false];
  repeated sint64 unpacked64 = 19 [packed = false];
}

message Maps {
  map<string, string> ss = 1;
  map<int32, Scalars> im = 2;
  map<uint32, Color> uc = 3;
  map<sint32, bytes> sb = 4;
  map<fixed32, int64> fi = 5;
  map<sfixed32, double> sd = 6;
  map<string, Maps> rec = 7;
}

message Choice {
  oneof kind {
    string name = 1;
    int64 num = 2;
    Scalars sc = 3;
    Color col = 4;
    bytes raw = 5;
  }
  optional int32 maybe = 6;
  optional string label = 7;
  int32 plain = 8;
  reserved 9, 10 to 12;
  reserved "old";
}

message Outer {
  message Inner {
    enum Mode {
      OFF = 0;
      ON = 1;
    }
    Mode mode = 1;
    Inner next = 2;
  }
  Inner inner = 1;
  repeated Inner.Mode modes = 2;
  .joeytest.all.Choice choice = 3;
  Outer self = 4;
  Maps maps = 100000;
  Repeats reps = 536870911;
}
`,
  ],
]);

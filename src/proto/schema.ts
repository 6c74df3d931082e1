/**
 * Descriptors the codec runs on: every .proto file under a folder plus the
 * built-in well-known types, parsed once, with every type reference
 * resolved by protobuf's scoping rules (innermost scope outward) and every
 * field checked (unique names and numbers, known types, map keys).
 * @module
 */
import { type EnumDecl, type FileDecl, type MessageDecl, parseProto, SCALARS } from "./parser.ts";
import { WELL_KNOWN } from "./well_known.ts";
import { WireType } from "./wire.ts";

/** What a field (or a map key/value) holds on the wire and in JS. */
export const enum Kind {
  DOUBLE,
  FLOAT,
  INT64,
  UINT64,
  INT32,
  FIXED64,
  FIXED32,
  BOOL,
  STRING,
  BYTES,
  UINT32,
  SFIXED32,
  SFIXED64,
  SINT32,
  SINT64,
  ENUM,
  MESSAGE,
}

const KIND_OF_SCALAR: Record<string, Kind> = {
  double: Kind.DOUBLE,
  float: Kind.FLOAT,
  int64: Kind.INT64,
  uint64: Kind.UINT64,
  int32: Kind.INT32,
  fixed64: Kind.FIXED64,
  fixed32: Kind.FIXED32,
  bool: Kind.BOOL,
  string: Kind.STRING,
  bytes: Kind.BYTES,
  uint32: Kind.UINT32,
  sfixed32: Kind.SFIXED32,
  sfixed64: Kind.SFIXED64,
  sint32: Kind.SINT32,
  sint64: Kind.SINT64,
};

/** The wire type each kind is written with (when not packed). */
export function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case Kind.DOUBLE:
    case Kind.FIXED64:
    case Kind.SFIXED64:
      return WireType.I64;
    case Kind.FLOAT:
    case Kind.FIXED32:
    case Kind.SFIXED32:
      return WireType.I32;
    case Kind.STRING:
    case Kind.BYTES:
    case Kind.MESSAGE:
      return WireType.LEN;
    default:
      return WireType.VARINT;
  }
}

/** An enum: names ↔ numbers; the first declared value is the default. */
export interface EnumInfo {
  readonly fullName: string;
  readonly byName: ReadonlyMap<string, number>;
  /** For aliases, the first name declared for a number. */
  readonly byNumber: ReadonlyMap<number, string>;
  readonly defaultName: string;
}

/** The value side of a field: its kind and, where it has one, its type. */
export interface ValueInfo {
  readonly kind: Kind;
  /** Wire type of one value. */
  readonly wireType: number;
  readonly message?: MessageInfo;
  readonly enumInfo?: EnumInfo;
}

/** One field of a message. */
export interface FieldInfo extends ValueInfo {
  readonly name: string;
  readonly number: number;
  /** number << 3 | wireType, precomputed. */
  readonly tag: number;
  readonly repeated: boolean;
  /** Repeated numeric field written packed. */
  readonly packed: boolean;
  /** Numeric kinds may also arrive packed when repeated. */
  readonly packable: boolean;
  /** The oneof (real, or "_name" for proto3 optional) it belongs to: explicit presence. */
  readonly oneof?: string;
  /** For map<K, V>: the key kind; the FieldInfo's own kind is V's. */
  readonly mapKey?: Kind;
  /** "Type.field" for error messages. */
  readonly label: string;
}

/** One message type: fields sorted by number. */
export interface MessageInfo {
  readonly fullName: string;
  readonly fields: FieldInfo[];
  readonly byNumber: Map<number, FieldInfo>;
}

/** The .proto files under dir, relative paths, sorted. */
export function listProtoFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir + prefix)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) out.push(...listProtoFiles(dir, rel + "/"));
    else if (entry.isFile && entry.name.endsWith(".proto")) out.push(rel);
  }
  return out.sort();
}

interface Source {
  text: string;
  /** The package named by a `package` line, or null when none was found (always a candidate). */
  packageHint: string | null;
}

interface Pending {
  decl: MessageDecl;
  info: MessageInfo;
  file: FileDecl;
}

// Only a hint for which files to parse: a wrong one costs a full load, never a wrong answer.
const PACKAGE_RE = /(?:^|;)[ \t]*package[ \t]+([A-Za-z_][A-Za-z0-9_.]*)[ \t]*;/m;

/**
 * Every message and enum of a folder of .proto files plus the built-in
 * well-known types. Files are parsed on demand: a lookup of "a.b.C" first
 * parses the files in the folder the package names by convention (a/b/),
 * then, if that does not define it, every file whose package is a prefix of
 * the name; imports come along. A name still unknown then, or a type
 * reference that needs a file nobody imported, loads everything. Each loaded batch is checked (unique names and
 * numbers, known types) before any of it is used.
 */
export class ProtoRegistry {
  readonly messages: Map<string, MessageInfo> = new Map();
  readonly enums: Map<string, EnumInfo> = new Map();
  /** Relative path → parsed file, for the files loaded so far. */
  readonly files: Map<string, FileDecl> = new Map();
  readonly #dir: string | null;
  #sources: Map<string, Source> | undefined;
  /** Files read one by one before the full index exists (null: no such file). */
  readonly #read = new Map<string, Source | null>();
  readonly #declaredIn = new Map<string, string>();
  #pending: Pending[] = [];
  #allLoaded = false;
  /** The first load failure: the registry is then half built, so it keeps failing with it. */
  #failure: Error | undefined;

  /**
   * @param dir folder of .proto files (with a trailing slash), or null for the built-ins only
   * @param extra more files as path → source (tests)
   */
  constructor(dir: string | null, readonly extra: ReadonlyMap<string, string> = new Map()) {
    this.#dir = dir;
  }

  /** The message named fullName, loading what it needs; undefined if no file defines it. */
  message(fullName: string): MessageInfo | undefined {
    const known = this.messages.get(fullName);
    if (known) return known;
    if (this.#failure) throw this.#failure;
    const conventional = this.#conventionalFiles(fullName);
    if (conventional.length > 0) {
      this.#load(conventional);
      const found = this.messages.get(fullName);
      if (found) return found;
    }
    const wanted: string[] = [];
    for (const [path, src] of this.#index()) {
      const pkg = src.packageHint;
      if (pkg === null || pkg === "" || fullName.startsWith(pkg + ".")) wanted.push(path);
    }
    this.#load(wanted);
    const found = this.messages.get(fullName);
    if (found) return found;
    this.loadAll();
    return this.messages.get(fullName);
  }

  /** Parses and checks every file; throws on the first problem. */
  loadAll(): void {
    if (this.#failure) throw this.#failure;
    if (this.#allLoaded) return;
    // Set first: from here on an unknown type is final, not a reason to load more.
    this.#allLoaded = true;
    this.#load([...this.#index().keys()]);
  }

  /**
   * The files a package's name points at by convention (package a.b.c in
   * a/b/c/*.proto, the longest prefix of the name that is a folder),
   * keeping those whose package line agrees. Spares the shim listing and
   * reading all of proto/ for its first message; empty once the full index exists.
   */
  #conventionalFiles(fullName: string): string[] {
    if (this.#sources || this.#dir === null || this.extra.size > 0) return [];
    const parts = fullName.split(".");
    for (let k = parts.length - 1; k > 0; k--) {
      if (k === 2 && parts[0] === "google" && parts[1] === "protobuf") {
        return Object.keys(WELL_KNOWN);
      }
      const folder = parts.slice(0, k).join("/") + "/";
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(this.#dir + folder)];
      } catch {
        continue;
      }
      const out: string[] = [];
      for (const entry of entries) {
        if (!entry.isFile || !entry.name.endsWith(".proto")) continue;
        const hint = this.#source(folder + entry.name)?.packageHint;
        if (hint && fullName.startsWith(hint + ".")) out.push(folder + entry.name);
      }
      if (out.length > 0) return out.sort();
    }
    return [];
  }

  /** One file's source by import path: a built-in, a test's extra file, or a file under dir. */
  #source(path: string): Source | undefined {
    if (this.#sources) return this.#sources.get(path);
    let src = this.#read.get(path);
    if (src === undefined) {
      const text = WELL_KNOWN[path] ?? this.extra.get(path) ?? this.#readFile(path);
      src = text === undefined ? null : { text, packageHint: PACKAGE_RE.exec(text)?.[1] ?? null };
      this.#read.set(path, src);
    }
    return src ?? undefined;
  }

  #readFile(path: string): string | undefined {
    if (this.#dir === null) return undefined;
    try {
      return Deno.readTextFileSync(this.#dir + path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  }

  #index(): Map<string, Source> {
    if (this.#sources) return this.#sources;
    const sources = new Map<string, Source>();
    const add = (path: string, text: string) => {
      if (sources.has(path)) {
        throw new Error(
          `${path}: "${path}" is built into joey's protobuf registry; remove it from proto/`,
        );
      }
      sources.set(path, { text, packageHint: PACKAGE_RE.exec(text)?.[1] ?? null });
    };
    for (const [path, text] of Object.entries(WELL_KNOWN)) add(path, text);
    if (this.#dir !== null) {
      for (const rel of listProtoFiles(this.#dir)) add(rel, Deno.readTextFileSync(this.#dir + rel));
    }
    for (const [path, text] of this.extra) add(path, text);
    return this.#sources = sources;
  }

  /** Parses paths and everything they import, declares their types, then resolves all fields. */
  #load(paths: string[]): void {
    try {
      this.#loadFiles(paths);
    } catch (err) {
      this.#failure ??= err instanceof Error ? err : new Error(String(err));
      throw this.#failure;
    }
  }

  #loadFiles(paths: string[]): void {
    const batch: FileDecl[] = [];
    const visit = (path: string, from?: string) => {
      if (this.files.has(path)) return;
      const src = this.#source(path);
      if (!src) {
        throw new Error(
          `${from}: import "${path}" not found` +
            (path.startsWith("google/protobuf/") ? " (not a built-in well-known type)" : ""),
        );
      }
      const file = parseProto(src.text, path);
      this.files.set(path, file);
      batch.push(file);
      for (const imp of file.imports) visit(imp.path, `${path}:${imp.line}`);
    };
    for (const path of paths) visit(path);
    for (const file of batch) {
      for (const e of file.enums) this.#addEnum(e, file.package, file);
      for (const m of file.messages) this.#addMessage(m, file.package, file);
    }
    this.#resolvePending();
  }

  #declare(fullName: string, where: string): void {
    const prior = this.#declaredIn.get(fullName);
    if (prior) throw new Error(`${where}: "${fullName}" is already defined at ${prior}`);
    this.#declaredIn.set(fullName, where);
  }

  #addEnum(e: EnumDecl, scope: string, file: FileDecl): void {
    const fullName = scope ? `${scope}.${e.name}` : e.name;
    this.#declare(fullName, `${file.path}:${e.line}`);
    const byName = new Map<string, number>();
    const byNumber = new Map<number, string>();
    for (const v of e.values) {
      if (byName.has(v.name)) {
        throw new Error(`${file.path}:${e.line}: enum "${fullName}" repeats value "${v.name}"`);
      }
      byName.set(v.name, v.number);
      if (!byNumber.has(v.number)) byNumber.set(v.number, v.name);
    }
    this.enums.set(fullName, { fullName, byName, byNumber, defaultName: e.values[0]!.name });
  }

  #addMessage(m: MessageDecl, scope: string, file: FileDecl): void {
    const fullName = scope ? `${scope}.${m.name}` : m.name;
    this.#declare(fullName, `${file.path}:${m.line}`);
    // Published only once its fields resolve (see #resolvePending).
    const info: MessageInfo = { fullName, fields: [], byNumber: new Map() };
    this.#pending.push({ decl: m, info, file });
    for (const e of m.enums) this.#addEnum(e, fullName, file);
    for (const n of m.messages) this.#addMessage(n, fullName, file);
  }

  /** Resolves the fields of every declared message; a type nobody imported loads all files once. */
  #resolvePending(): void {
    const pending = this.#pending;
    const infos = new Map(pending.map((p) => [p.info.fullName, p.info]));
    const lookup = (name: string) => this.messages.get(name) ?? infos.get(name);
    const resolved: [MessageInfo, FieldInfo[]][] = [];
    try {
      for (const p of pending) resolved.push([p.info, resolveFields(p, lookup, this.enums)]);
    } catch (err) {
      if (this.#allLoaded || !(err instanceof UnknownTypeError)) throw err;
      this.loadAll();
      return;
    }
    for (const [info, fields] of resolved) {
      for (const f of fields) {
        info.fields.push(f);
        info.byNumber.set(f.number, f);
      }
      this.messages.set(info.fullName, info);
    }
    this.#pending = [];
  }
}

class UnknownTypeError extends Error {}

/** Checks and resolves one message's fields, sorted by number. */
function resolveFields(
  { decl, info, file }: Pending,
  lookup: (name: string) => MessageInfo | undefined,
  enums: Map<string, EnumInfo>,
): FieldInfo[] {
  const names = new Set<string>();
  const numbers = new Set<number>();
  const out: FieldInfo[] = [];
  // A oneof's name becomes a property of decoded objects too, so it must not be a field's.
  const oneofNames = new Set(decl.oneofs);
  for (const f of decl.fields) {
    const where = `${file.path}:${f.line}`;
    const label = `${info.fullName}.${f.name}`;
    if (names.has(f.name) || oneofNames.has(f.name)) {
      throw new Error(`${where}: field "${label}" is declared twice (or names a oneof)`);
    }
    if (numbers.has(f.number)) {
      throw new Error(`${where}: field number ${f.number} is used twice in "${info.fullName}"`);
    }
    names.add(f.name);
    numbers.add(f.number);
    const value = resolveValue(f.type, info.fullName, where, lookup, enums);
    const packable = f.repeated && value.wireType !== WireType.LEN;
    out.push({
      ...value,
      name: f.name,
      number: f.number,
      tag: (f.number << 3 | (f.mapKey ? WireType.LEN : value.wireType)) >>> 0,
      repeated: f.repeated,
      packable,
      packed: packable && f.packed,
      label,
      ...(f.oneof ? { oneof: f.oneof } : {}),
      ...(f.mapKey ? { mapKey: KIND_OF_SCALAR[f.mapKey]! } : {}),
    });
  }
  return out.sort((a, b) => a.number - b.number);
}

/** Resolves a field's type name from inside message `scope`. */
function resolveValue(
  type: string,
  scope: string,
  where: string,
  lookup: (name: string) => MessageInfo | undefined,
  enums: Map<string, EnumInfo>,
): ValueInfo {
  if (SCALARS.has(type)) {
    const kind = KIND_OF_SCALAR[type]!;
    return { kind, wireType: wireTypeOf(kind) };
  }
  const candidates: string[] = [];
  if (type.startsWith(".")) candidates.push(type.slice(1));
  else {
    // Innermost scope first: the message itself, its parents, then the package's parents.
    for (let s = scope; s; s = s.slice(0, Math.max(0, s.lastIndexOf(".")))) {
      candidates.push(`${s}.${type}`);
    }
    candidates.push(type);
  }
  for (const name of candidates) {
    const message = lookup(name);
    if (message) return { kind: Kind.MESSAGE, wireType: WireType.LEN, message };
    const enumInfo = enums.get(name);
    if (enumInfo) return { kind: Kind.ENUM, wireType: WireType.VARINT, enumInfo };
  }
  throw new UnknownTypeError(`${where}: unknown type "${type}" (in "${scope}")`);
}

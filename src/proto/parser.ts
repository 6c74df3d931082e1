/**
 * A parser for the proto3 language subset joey's .proto files use: syntax,
 * package, import, options (read and dropped, except `packed`), messages with
 * nested messages and enums, scalar/message/enum fields, `repeated`,
 * `optional`, `map<K, V>`, `oneof`, `reserved`, enums, and services (rpcs
 * recorded, not used by the codec). Anything else — proto2, editions,
 * groups, extensions — is rejected with the file and line, so a new .proto
 * file that needs more fails loudly instead of being half understood.
 * @module
 */

/** A field as written, before type names are resolved. */
export interface FieldDecl {
  name: string;
  number: number;
  /** Scalar name, or a (possibly dotted, possibly leading-dot) type reference. */
  type: string;
  repeated: boolean;
  /** proto3 `optional`: explicit presence through a synthetic oneof "_name". */
  optional: boolean;
  /** The oneof this field belongs to, if any. */
  oneof?: string;
  /** For map fields: the key scalar type; `type` is then the value type. */
  mapKey?: string;
  /** `[packed = false]` turns packing off for a repeated scalar. */
  packed: boolean;
  line: number;
}

/** An enum and its values in declaration order. */
export interface EnumDecl {
  name: string;
  values: { name: string; number: number }[];
  line: number;
}

/** A message and everything nested in it. */
export interface MessageDecl {
  name: string;
  fields: FieldDecl[];
  oneofs: string[];
  messages: MessageDecl[];
  enums: EnumDecl[];
  line: number;
}

/** An rpc of a service. */
export interface RpcDecl {
  name: string;
  request: string;
  response: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** One parsed .proto file. */
export interface FileDecl {
  path: string;
  package: string;
  imports: { path: string; line: number }[];
  messages: MessageDecl[];
  enums: EnumDecl[];
  services: { name: string; rpcs: RpcDecl[] }[];
}

/** The scalar type names of the language. */
export const SCALARS: ReadonlySet<string> = new Set([
  "double",
  "float",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
  "bool",
  "string",
  "bytes",
]);

const MAP_KEYS = new Set(
  [...SCALARS].filter((t) => t !== "double" && t !== "float" && t !== "bytes"),
);

const MAX_FIELD = 536870911; // 2^29 - 1
const MAX_NESTING = 32;

const enum Tok {
  Ident,
  Number,
  String,
  Symbol,
  End,
}

interface Token {
  kind: Tok;
  text: string;
  line: number;
}

const SYMBOLS = "{}()[]<>;=,.:+-";

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

/**
 * Splits src into tokens. Hand-written rather than one big regular
 * expression: it runs once per file at start-up, where a cold regex costs more.
 */
function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  const n = src.length;
  let line = 1;
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${file}:${line}: ${what}`);
  };
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      line++;
      i++;
    } else if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) {
      i++;
    } else if (c === 47 && src.charCodeAt(i + 1) === 47) { // "//" to the end of the line
      const e = src.indexOf("\n", i);
      i = e === -1 ? n : e;
    } else if (c === 47 && src.charCodeAt(i + 1) === 42) { // "/* ... */"
      const e = src.indexOf("*/", i + 2);
      if (e === -1) fail("unterminated comment");
      for (let k = src.indexOf("\n", i); k !== -1 && k < e; k = src.indexOf("\n", k + 1)) line++;
      i = e + 2;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(src.charCodeAt(j))) j++;
      out.push({ kind: Tok.Ident, text: src.slice(i, j), line });
      i = j;
    } else if (
      (c >= 48 && c <= 57) ||
      (c === 46 && isIdentPart(src.charCodeAt(i + 1)) && src.charCodeAt(i + 1) < 65)
    ) {
      // Digits, letters (hex, exponent), '.', and a sign right after an exponent; #int checks the form.
      let j = i + 1;
      const hex = c === 48 && (src.charCodeAt(j) | 32) === 120;
      for (; j < n; j++) {
        const d = src.charCodeAt(j);
        if (isIdentPart(d) || d === 46) continue;
        if ((d === 43 || d === 45) && !hex && (src.charCodeAt(j - 1) | 32) === 101) continue;
        break;
      }
      out.push({ kind: Tok.Number, text: src.slice(i, j), line });
      i = j;
    } else if (c === 34 || c === 39) { // a quoted string; escapes are decoded by unquote()
      let j = i + 1;
      for (;;) {
        if (j >= n || src.charCodeAt(j) === 10) fail("unterminated string");
        const d = src.charCodeAt(j);
        if (d === c) break;
        j += d === 92 ? 2 : 1;
      }
      out.push({ kind: Tok.String, text: src.slice(i, j + 1), line });
      i = j + 1;
    } else if (SYMBOLS.includes(src[i]!)) {
      out.push({ kind: Tok.Symbol, text: src[i]!, line });
      i++;
    } else fail(`unexpected character ${JSON.stringify(src[i])}`);
  }
  out.push({ kind: Tok.End, text: "end of file", line });
  return out;
}

/** Decodes the escapes of a proto string literal. */
function unquote(lit: string): string {
  const body = lit.slice(1, -1);
  if (!body.includes("\\")) return body;
  return body.replace(
    /\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u[0-9A-Fa-f]{4}|.)/g,
    (_, e: string) => {
      switch (e[0]) {
        case "x":
          return String.fromCharCode(parseInt(e.slice(1), 16));
        case "u":
          return String.fromCharCode(parseInt(e.slice(1), 16));
        case "n":
          return "\n";
        case "t":
          return "\t";
        case "r":
          return "\r";
        case "a":
          return "\x07";
        case "b":
          return "\b";
        case "f":
          return "\f";
        case "v":
          return "\v";
        default:
          return /[0-7]/.test(e[0]!) ? String.fromCharCode(parseInt(e, 8)) : e;
      }
    },
  );
}

class Parser {
  #i = 0;
  readonly #toks: Token[];

  constructor(src: string, readonly file: string) {
    this.#toks = tokenize(src, file);
  }

  #peek(): Token {
    return this.#toks[this.#i]!;
  }

  #next(): Token {
    const t = this.#toks[this.#i]!;
    if (t.kind !== Tok.End) this.#i++;
    return t;
  }

  #fail(message: string, tok: Token = this.#peek()): never {
    throw new SyntaxError(`${this.file}:${tok.line}: ${message}`);
  }

  #is(text: string): boolean {
    const t = this.#peek();
    return t.kind !== Tok.String && t.text === text;
  }

  #accept(text: string): boolean {
    if (!this.#is(text)) return false;
    this.#i++;
    return true;
  }

  #expect(text: string): Token {
    if (!this.#is(text)) this.#fail(`expected "${text}", found "${this.#peek().text}"`);
    return this.#next();
  }

  #ident(what: string): string {
    const t = this.#next();
    if (t.kind !== Tok.Ident) this.#fail(`expected ${what}, found "${t.text}"`, t);
    return t.text;
  }

  /** A dotted name, optionally fully qualified with a leading dot. */
  #fullIdent(what: string): string {
    let name = this.#accept(".") ? "." : "";
    name += this.#ident(what);
    while (this.#accept(".")) name += "." + this.#ident(what);
    return name;
  }

  #string(what: string): string {
    const t = this.#next();
    if (t.kind !== Tok.String) this.#fail(`expected ${what} (a string), found "${t.text}"`, t);
    let s = unquote(t.text);
    // Adjacent literals concatenate.
    while (this.#peek().kind === Tok.String) s += unquote(this.#next().text);
    return s;
  }

  #int(what: string): number {
    const neg = this.#accept("-");
    const t = this.#next();
    if (t.kind !== Tok.Number || !/^(0[xX][0-9A-Fa-f]+|[0-9]+)$/.test(t.text)) {
      this.#fail(`expected ${what} (an integer), found "${t.text}"`, t);
    }
    const v = /^0[0-7]+$/.test(t.text) ? parseInt(t.text, 8) : Number(t.text);
    return neg ? -v : v;
  }

  /** An option value: a constant or a text-format aggregate; returned as text. */
  #constant(): string {
    if (this.#is("{")) {
      this.#skipBlock();
      return "{...}";
    }
    const t = this.#peek();
    if (t.kind === Tok.String) return this.#string("option value");
    let text = "";
    if (this.#accept("-")) text = "-";
    else this.#accept("+");
    const v = this.#next();
    if (v.kind !== Tok.Ident && v.kind !== Tok.Number) {
      this.#fail(`bad option value "${v.text}"`, v);
    }
    text += v.text;
    while (v.kind === Tok.Ident && this.#accept(".")) text += "." + this.#ident("option value");
    return text;
  }

  #skipBlock(): void {
    const open = this.#expect("{");
    for (let depth = 1; depth > 0;) {
      const t = this.#next();
      if (t.kind === Tok.End) this.#fail("unterminated option aggregate", open);
      if (t.kind === Tok.Symbol && t.text === "{") depth++;
      else if (t.kind === Tok.Symbol && t.text === "}") depth--;
    }
  }

  /** An option name: `foo`, `foo.bar`, `(my.ext).bar`. */
  #optionName(): string {
    let name = "";
    for (;;) {
      if (this.#accept("(")) {
        name += "(" + this.#fullIdent("option name") + ")";
        this.#expect(")");
      } else name += this.#ident("option name");
      if (!this.#accept(".")) return name;
      name += ".";
    }
  }

  /** `option name = value;` after the keyword. */
  #optionStatement(): void {
    this.#optionName();
    this.#expect("=");
    this.#constant();
    this.#expect(";");
  }

  /** `[a = 1, b = "x"]` if present; returns the options by name. */
  #inlineOptions(): Map<string, string> {
    const opts = new Map<string, string>();
    if (!this.#accept("[")) return opts;
    do {
      const name = this.#optionName();
      this.#expect("=");
      opts.set(name, this.#constant());
    } while (this.#accept(","));
    this.#expect("]");
    return opts;
  }

  #reserved(): void {
    // Ranges ("1, 5 to 9, 100 to max") or quoted names; nothing to enforce at runtime.
    do {
      if (this.#peek().kind === Tok.String) this.#string("reserved name");
      else {
        this.#int("reserved number");
        if (this.#accept("to") && !this.#accept("max")) this.#int("reserved range end");
      }
    } while (this.#accept(","));
    this.#expect(";");
  }

  parseFile(): FileDecl {
    const file: FileDecl = {
      path: this.file,
      package: "",
      imports: [],
      messages: [],
      enums: [],
      services: [],
    };
    if (this.#accept("edition")) this.#fail("editions are not supported");
    if (this.#accept("syntax")) {
      this.#expect("=");
      const syntax = this.#string("syntax");
      if (syntax !== "proto3") this.#fail(`syntax "${syntax}" is not supported (proto3 only)`);
      this.#expect(";");
    } else this.#fail(`missing 'syntax = "proto3";' (proto2 is not supported)`);

    while (this.#peek().kind !== Tok.End) {
      const t = this.#peek();
      if (this.#accept(";")) continue;
      if (t.kind !== Tok.Ident) this.#fail(`unexpected "${t.text}"`);
      this.#next();
      switch (t.text) {
        case "package":
          if (file.package) this.#fail("second package statement", t);
          file.package = this.#fullIdent("package name");
          if (file.package.startsWith(".")) this.#fail("package name cannot start with '.'", t);
          this.#expect(";");
          break;
        case "import":
          if (!this.#accept("public")) this.#accept("weak");
          file.imports.push({ path: this.#string("import path"), line: t.line });
          this.#expect(";");
          break;
        case "option":
          this.#optionStatement();
          break;
        case "message":
          file.messages.push(this.#message(t.line, 0));
          break;
        case "enum":
          file.enums.push(this.#enum(t.line));
          break;
        case "service":
          file.services.push(this.#service());
          break;
        default:
          this.#fail(`"${t.text}" is not supported at top level`, t);
      }
    }
    return file;
  }

  #message(line: number, depth: number): MessageDecl {
    if (depth > MAX_NESTING) this.#fail("messages nested too deeply");
    const msg: MessageDecl = {
      name: this.#ident("message name"),
      fields: [],
      oneofs: [],
      messages: [],
      enums: [],
      line,
    };
    this.#expect("{");
    while (!this.#accept("}")) {
      const t = this.#peek();
      if (t.kind === Tok.End) this.#fail(`message "${msg.name}" is not closed`);
      if (this.#accept(";")) continue;
      if (t.kind === Tok.Symbol && t.text === ".") {
        msg.fields.push(this.#field(false, false));
        continue;
      }
      if (t.kind !== Tok.Ident) this.#fail(`unexpected "${t.text}" in message "${msg.name}"`);
      switch (t.text) {
        case "message":
          this.#next();
          msg.messages.push(this.#message(t.line, depth + 1));
          break;
        case "enum":
          this.#next();
          msg.enums.push(this.#enum(t.line));
          break;
        case "option":
          this.#next();
          this.#optionStatement();
          break;
        case "reserved":
          this.#next();
          this.#reserved();
          break;
        case "oneof":
          this.#next();
          this.#oneof(msg);
          break;
        case "extensions":
        case "extend":
        case "group":
        case "required":
          this.#fail(`"${t.text}" is not supported (proto3 subset)`);
          break;
        case "repeated":
          this.#next();
          msg.fields.push(this.#field(true, false));
          break;
        case "optional":
          this.#next();
          msg.fields.push(this.#field(false, true));
          break;
        default:
          msg.fields.push(this.#field(false, false));
      }
    }
    for (const f of msg.fields) if (f.optional) msg.oneofs.push(f.oneof!);
    return msg;
  }

  #oneof(msg: MessageDecl): void {
    const name = this.#ident("oneof name");
    msg.oneofs.push(name);
    this.#expect("{");
    while (!this.#accept("}")) {
      const t = this.#peek();
      if (t.kind === Tok.End) this.#fail(`oneof "${name}" is not closed`);
      if (this.#accept(";")) continue;
      if (this.#accept("option")) {
        this.#optionStatement();
        continue;
      }
      if (t.text === "repeated" || t.text === "optional" || t.text === "map") {
        this.#fail(`"${t.text}" is not allowed in oneof "${name}"`);
      }
      const f = this.#field(false, false);
      f.oneof = name;
      msg.fields.push(f);
    }
  }

  #field(repeated: boolean, optional: boolean): FieldDecl {
    const start = this.#peek();
    let type: string;
    let mapKey: string | undefined;
    if (start.kind === Tok.Ident && start.text === "map" && this.#toks[this.#i + 1]?.text === "<") {
      if (repeated || optional) this.#fail("a map field cannot be repeated or optional");
      this.#next();
      this.#expect("<");
      mapKey = this.#ident("map key type");
      if (!MAP_KEYS.has(mapKey)) this.#fail(`"${mapKey}" cannot be a map key type`);
      this.#expect(",");
      type = this.#fullIdent("map value type");
      this.#expect(">");
    } else {
      type = this.#fullIdent("field type");
      if (type === "group") this.#fail("groups are not supported");
    }
    const name = this.#ident("field name");
    this.#expect("=");
    const numTok = this.#peek();
    const number = this.#int("field number");
    if (number < 1 || number > MAX_FIELD || (number >= 19000 && number <= 19999)) {
      this.#fail(`field number ${number} of "${name}" is out of range`, numTok);
    }
    const opts = this.#inlineOptions();
    this.#expect(";");
    if (opts.has("default")) this.#fail(`field "${name}": default values are proto2 only`, start);
    const field: FieldDecl = {
      name,
      number,
      type,
      repeated,
      optional,
      packed: opts.get("packed") !== "false",
      line: start.line,
    };
    if (mapKey) field.mapKey = mapKey;
    if (optional) field.oneof = "_" + name;
    return field;
  }

  #enum(line: number): EnumDecl {
    const e: EnumDecl = { name: this.#ident("enum name"), values: [], line };
    this.#expect("{");
    while (!this.#accept("}")) {
      const t = this.#peek();
      if (t.kind === Tok.End) this.#fail(`enum "${e.name}" is not closed`);
      if (this.#accept(";")) continue;
      if (this.#accept("option")) {
        this.#optionStatement();
        continue;
      }
      if (this.#accept("reserved")) {
        this.#reserved();
        continue;
      }
      const name = this.#ident("enum value name");
      this.#expect("=");
      const number = this.#int("enum value");
      if (number < -2147483648 || number > 2147483647) {
        this.#fail(`enum value ${number} out of range`);
      }
      this.#inlineOptions();
      this.#expect(";");
      e.values.push({ name, number });
    }
    if (e.values.length === 0) this.#fail(`enum "${e.name}" has no values`);
    if (e.values[0]!.number !== 0) {
      this.#fail(`the first value of enum "${e.name}" must be 0 in proto3`, {
        ...this.#peek(),
        line,
      });
    }
    return e;
  }

  #service(): { name: string; rpcs: RpcDecl[] } {
    const svc = { name: this.#ident("service name"), rpcs: [] as RpcDecl[] };
    this.#expect("{");
    while (!this.#accept("}")) {
      if (this.#peek().kind === Tok.End) this.#fail(`service "${svc.name}" is not closed`);
      if (this.#accept(";")) continue;
      if (this.#accept("option")) {
        this.#optionStatement();
        continue;
      }
      this.#expect("rpc");
      const name = this.#ident("rpc name");
      this.#expect("(");
      const requestStream = this.#accept("stream");
      const request = this.#fullIdent("request type");
      this.#expect(")");
      this.#expect("returns");
      this.#expect("(");
      const responseStream = this.#accept("stream");
      const response = this.#fullIdent("response type");
      this.#expect(")");
      if (this.#is("{")) {
        this.#next();
        while (!this.#accept("}")) {
          if (this.#peek().kind === Tok.End) this.#fail(`rpc "${name}" is not closed`);
          if (this.#accept(";")) continue;
          this.#expect("option");
          this.#optionStatement();
        }
      } else this.#expect(";");
      svc.rpcs.push({ name, request, response, requestStream, responseStream });
    }
    return svc;
  }
}

/**
 * Parses one .proto file's text.
 * @param src the file's contents
 * @param file the name used in error messages (e.g. "containerd/task/v2/shim.proto")
 * @throws SyntaxError naming the file and line of the first problem
 */
export function parseProto(src: string, file: string): FileDecl {
  return new Parser(src, file).parseFile();
}

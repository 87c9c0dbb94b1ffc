import assert from "node:assert/strict";
import {
  BENCODE_INVALID,
  BENCODE_TRUNCATED,
  dictGet,
  intValue,
  stringEquals,
  stringLength,
  stringStart,
  valueEnd,
} from "./bencode.ts";
import { ascii } from "./bytes.ts";

const end = (s: string) => valueEnd(ascii(s), 0, s.length);

Deno.test("valueEnd measures every bencode type", () => {
  assert.equal(end("i42e"), 4);
  assert.equal(end("i-7e"), 4);
  assert.equal(end("4:spam"), 6);
  assert.equal(end("0:"), 2);
  assert.equal(end("l4:spami3ee"), 11);
  assert.equal(end("d3:cow3:moo4:spam4:eggse"), 24);
  assert.equal(end("d1:ad1:bli1ei2eeee"), 18);
});

Deno.test("valueEnd tells malformed from truncated", () => {
  for (const bad of ["x", "i4x", "ie", "03:abc", "d i1e e", "di1ei2ee", "-1:a", "12345678:x"]) {
    assert.equal(end(bad), BENCODE_INVALID, bad);
  }
  for (const cut of ["i42", "4:spa", "l4:spam", "d3:cow3:moo", "d3:cow", "12", ""]) {
    assert.equal(end(cut), BENCODE_TRUNCATED, cut);
  }
});

Deno.test("deep nesting is refused rather than recursed without bound", () => {
  const deep = "l".repeat(1000) + "e".repeat(1000);
  assert.equal(end(deep), BENCODE_INVALID);
});

Deno.test("dictGet finds values and reports absence and truncation", () => {
  const b = ascii("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
  const q = dictGet(b, 0, b.length, ascii("q"));
  assert.ok(stringEquals(b, q, b.length, ascii("ping")));
  const a = dictGet(b, 0, b.length, ascii("a"));
  const id = dictGet(b, a, b.length, ascii("id"));
  assert.equal(stringLength(b, id, b.length), 20);
  assert.equal(stringStart(id, 20), id + 3);
  assert.equal(dictGet(b, 0, b.length, ascii("zz")), BENCODE_INVALID);
  assert.equal(dictGet(b, 0, 20, ascii("y")), BENCODE_TRUNCATED);
  assert.equal(dictGet(ascii("l1:ae"), 0, 5, ascii("a")), BENCODE_INVALID);
});

Deno.test("intValue and stringEquals", () => {
  const b = ascii("i1234e");
  assert.equal(intValue(b, 0, b.length), 1234);
  assert.equal(intValue(ascii("i-5e"), 0, 4), -5);
  assert.ok(Number.isNaN(intValue(ascii("4:abcd"), 0, 6)));
  assert.ok(stringEquals(ascii("1:r"), 0, 3, ascii("r")));
  assert.ok(!stringEquals(ascii("1:r"), 0, 3, ascii("q")));
  assert.ok(!stringEquals(ascii("1:r"), -1, 3, ascii("r")));
});

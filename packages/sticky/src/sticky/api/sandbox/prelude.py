"""The JavaScript installed in every isolate before any merchant code.

It takes away what routing logic has no use for and could abuse (memory outside the V8 heap,
timers, weak-reference callbacks), captures console output, and defines the only entry points:
``__sticky.compile(source)`` and ``__sticky.run(inputJson)``, which answer a JSON array
``[status, value, console, dropped, ms]`` (``compile`` answers ``""`` on success), ``ms``
being how long the logic ran, measured inside V8; ``__sticky.runMany(inputsJson)`` runs the
logic on each input of a JSON array in turn and answers a JSON array of those answers.
Intrinsics are captured first, so logic that tampers with ``JSON`` or ``String`` only garbles
its own output, which the api process checks anyway.
"""

from __future__ import annotations

PRELUDE = r"""
"use strict";
(() => {
  const g = globalThis;
  for (const name of [
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly",
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
    "BigInt64Array", "BigUint64Array", "FinalizationRegistry", "WeakRef",
  ]) {
    delete g[name];
  }
  // mini-racer declares these with var, so they cannot be deleted.
  g.setTimeout = undefined;
  g.clearTimeout = undefined;
  g.__timer_manager = undefined;

  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const toText = String;
  const Fn = Function;
  const isArray = Array.isArray;
  const clock = Date.now;
  const apply = Reflect.apply;
  const toWellFormed = String.prototype.toWellFormed;
  // Lone surrogates would make the answer unreadable JSON for the api process.
  const wellFormed = (text) => apply(toWellFormed, text, []);
  const LINE_RE = /eval at [^\n]*?\), <anonymous>:(\d+):\d+\)/;
  const exec = RegExp.prototype.exec;
  const MAX_LINES = 50;
  const MAX_LINE = 500;
  const MAX_URL = 2048;

  let lines = [];
  let dropped = 0;
  let logic = null;
  let started = 0;

  const show = (value) => {
    if (typeof value === "string") return value;
    try {
      const text = stringify(value);
      if (typeof text === "string") return text;
    } catch {}
    try {
      return toText(value);
    } catch {
      return "[unprintable]";
    }
  };
  const printer = (prefix) => function (...args) {
    if (lines.length >= MAX_LINES) {
      dropped += 1;
      return;
    }
    let text = prefix;
    for (let i = 0; i < args.length && text.length <= MAX_LINE; i += 1) {
      text += (i ? " " : "") + show(args[i]);
    }
    lines[lines.length] = wellFormed(text.length > MAX_LINE ? text.slice(0, MAX_LINE) : text);
  };
  const log = printer("");
  g.console = {
    log, info: log, debug: log, trace: log,
    warn: printer("[warn] "), error: printer("[error] "),
  };

  const describe = (error) => {
    try {
      if (error instanceof Error) {
        let text = toText(error.name) + ": " + toText(error.message);
        const where = exec.call(LINE_RE, toText(error.stack));
        // new Function puts two lines before the body.
        if (where) text += " (line " + (where[1] - 2) + ")";
        return wellFormed(text.slice(0, 1000));
      }
      return wellFormed(("uncaught " + show(error)).slice(0, 1000));
    } catch {
      return "uncaught exception";
    }
  };
  const finish = (status, value) => {
    const out = stringify([status, value, lines, dropped, clock() - started]);
    lines = [];
    dropped = 0;
    return out;
  };
  const KINDS = {
    undefined: "undefined", object: "an object", number: "a number", boolean: "a boolean",
    bigint: "a bigint", symbol: "a symbol", function: "a function",
  };
  const kind = (value) =>
    value === null ? "null" : isArray(value) ? "an array" : KINDS[typeof value];

  const runOne = (inputJson, parsed) => {
    started = clock();
    lines = [];
    dropped = 0;
    let result;
    try {
      result = logic(inputJson === null ? parsed : parse(inputJson));
    } catch (error) {
      return finish("exception", describe(error));
    }
    if (typeof result !== "string") return finish("bad-type", kind(result));
    if (result.length > MAX_URL) return finish("too-long", result.length);
    return finish("ok", wellFormed(result));
  };

  const sticky = {
    compile(source) {
      started = clock();
      try {
        logic = new Fn("input", source);
        return "";
      } catch (error) {
        return finish("syntax", describe(error));
      }
    },
    run(inputJson) {
      return runOne(inputJson);
    },
    runMany(inputsJson) {
      const inputs = parse(inputsJson);
      const out = [];
      for (let i = 0; i < inputs.length; i += 1) out[i] = runOne(null, inputs[i]);
      return stringify(out);
    },
  };
  Object.defineProperty(g, "__sticky", { value: Object.freeze(sticky) });
})();
"""

// The original platform's tap, as the issue describes it: one single-threaded node.js
// process, a lookup plus an SQLite insert per tap. Run by bench/tap_reference.py behind the
// same Caddy gateway as Sticky, so the two are measured in the same run. Not a product.
//
//   node tap.js <port> <database> <consumerAppUrl> <stickers.json>
//
// stickers.json: [{"id", "userId", "name", "applicationId", "logic"}], stored at the start.
// GET /t/{thingId}: the thing and its flow in one SELECT, the flow's routing logic (when it
// has any) run with node's `vm` and a 20 ms timeout, one INSERT of the SESSION_READ event
// (autocommit, WAL, synchronous=NORMAL: a commit is not flushed to disk), then the 302.
"use strict";
const http = require("node:http");
const vm = require("node:vm");
const crypto = require("node:crypto");
const { DatabaseSync } = require("node:sqlite");

const [port, path, consumerAppUrl, stickers] = process.argv.slice(2);
const db = new DatabaseSync(path);
db.exec(`
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  CREATE TABLE IF NOT EXISTS applications (id TEXT PRIMARY KEY, user_id TEXT, logic TEXT);
  CREATE TABLE IF NOT EXISTS things (
    id TEXT PRIMARY KEY, user_id TEXT, name TEXT, application_id TEXT, product_id TEXT);
  CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT, user_id TEXT, application_id TEXT, thing_id TEXT,
    session_id TEXT, custom_data TEXT, created_at TEXT);
`);
for (const sticker of JSON.parse(require("node:fs").readFileSync(stickers, "utf8"))) {
  db.prepare("INSERT OR REPLACE INTO applications VALUES (?, ?, ?)").run(
    sticker.applicationId, sticker.userId, sticker.logic || null);
  db.prepare("INSERT OR REPLACE INTO things VALUES (?, ?, ?, ?, NULL)").run(
    sticker.id, sticker.userId, sticker.name, sticker.applicationId);
}
const lookup = db.prepare(`
  SELECT t.id, t.user_id, t.name, t.application_id, t.product_id, a.logic
  FROM things t JOIN applications a ON a.id = t.application_id WHERE t.id = ?`);
const insert = db.prepare(`
  INSERT INTO events (id, type, user_id, application_id, thing_id, session_id, custom_data,
                      created_at)
  VALUES (?, 'SESSION_READ', ?, ?, ?, ?, ?, ?)`);

const compiled = new Map(); // a flow's logic, compiled once, with a context of its own
function route(thing, sessionId, query) {
  if (!thing.logic) return consumerAppUrl;
  let flow = compiled.get(thing.logic);
  if (!flow) {
    const script = new vm.Script(`(function (input) { ${thing.logic} })(input)`);
    flow = { script, context: vm.createContext({ input: null }) };
    compiled.set(thing.logic, flow);
  }
  const input = {
    thingId: thing.id, applicationId: thing.application_id, productId: thing.product_id,
    sessionId, userId: thing.user_id, consumerAppUrl, query,
    v2: { thing: { id: thing.id, name: thing.name } },
  };
  flow.context.input = input;
  const url = flow.script.runInContext(flow.context, { timeout: 20 });
  return /^https?:\/\//.test(url) ? url : consumerAppUrl;
}

const cookiePattern = /(?:^|;\s*)sticky-sessionid=([A-Za-z0-9_-]+)/;
http
  .createServer((request, response) => {
    const match = /^\/t\/([A-Za-z0-9_-]+)(?:\?(.*))?$/.exec(request.url);
    const thing = match && lookup.get(match[1]);
    if (!thing) {
      response.writeHead(404, { "Content-Type": "text/plain" });
      response.end("No such sticker");
      return;
    }
    const known = cookiePattern.exec(request.headers.cookie || "");
    const sessionId = known ? known[1] : crypto.randomBytes(16).toString("base64url");
    let location;
    try {
      location = route(thing, sessionId, match[2] || "");
    } catch (error) {
      location = consumerAppUrl;
    }
    const agent = request.headers["user-agent"] || "";
    insert.run(
      crypto.randomUUID(), thing.user_id, thing.application_id, thing.id, sessionId,
      JSON.stringify({ userAgent: agent.slice(0, 200) }), new Date().toISOString(),
    );
    const headers = { Location: `${location}${location.includes("?") ? "&" : "?"}s=${sessionId}` };
    if (!known) headers["Set-Cookie"] = `sticky-sessionid=${sessionId}; HttpOnly; SameSite=Lax; Path=/`;
    response.writeHead(302, headers);
    response.end();
  })
  .listen(Number(port), "127.0.0.1");

'use strict';
// The few browser globals the SDK's browser build touches when it starts and
// calls a function, so that build (the one that refreshes and replays on
// ACCESS_TOKEN_EXPIRED) can run under node. fetch is node's own.
const store = new Map();
const storage = {
  getItem: (key) => (store.has(key) ? store.get(key) : null),
  setItem: (key, value) => { store.set(key, String(value)); },
  removeItem: (key) => { store.delete(key); },
  clear: () => { store.clear(); },
  key: (i) => Array.from(store.keys())[i] ?? null,
  get length() { return store.size; },
};
globalThis.window = globalThis;
globalThis.localStorage = storage;
globalThis.sessionStorage = storage;
globalThis.location = new URL('http://localhost:5173/');
globalThis.document = { cookie: '', referrer: '', addEventListener() {}, removeEventListener() {} };
globalThis.addEventListener = () => {};
globalThis.removeEventListener = () => {};
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = class WebSocket {
    constructor() { throw new Error('WebSocket is not available in this check'); }
  };
}

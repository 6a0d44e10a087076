'use strict';
// Calls the local gateway emulator through the official @cloudbase/js-sdk,
// unmodified, and prints one line per scenario:
//   RESULT {"scenario": "...", "value": <what the SDK returned>}
//   RESULT {"scenario": "...", "thrown": <what the SDK threw>}
// usage: node run.js node|browser http://127.0.0.1:PORT
// The node build is what a server uses; the browser build (run here with a
// few browser globals) is the one that refreshes and replays a call on
// ACCESS_TOKEN_EXPIRED. spec/gateway/js_sdk_spec.lua checks the lines.
const path = require('path');

const [build, base] = process.argv.slice(2);
const host = new URL(base).host;

function report(scenario, outcome) {
  process.stdout.write(`RESULT ${JSON.stringify({ scenario, ...outcome })}\n`);
}

function plain(error) {
  if (error instanceof Error) {
    return { message: error.message };
  }
  return error;
}

async function capture(call) {
  try {
    return { value: await call() };
  } catch (error) {
    return { thrown: plain(error) };
  }
}

async function nodeBuild() {
  const cloudbase = require('@cloudbase/js-sdk');
  // A publishable key: the anonymous identity a client app ships with.
  const app = cloudbase.init({ env: 'test-env', accessKey: 'test-publishable-key', timeout: 10000 });
  app.registerHost(host, 'http');
  report('success', await capture(() => app.callFunction({ name: 'inspect', data: { a: 1 } })));
  report('gateway_error', await capture(() => app.callFunction({ name: 'throws', data: {} })));
  report('not_found', await capture(() => app.callFunction({ name: 'no-such-fn', data: {} })));
}

async function browserBuild() {
  require('./browser-globals.js');
  const dist = path.dirname(require.resolve('@cloudbase/js-sdk'));
  const cloudbase = require(path.join(dist, 'index.cjs.js'));
  const app = cloudbase.init({ env: 'test-env', timeout: 10000 });
  app.registerHost(host, 'http');
  app.auth();
  const credentials = app.oauthInstance.oauth2client;
  // The client believes its access token has two hours left; the gateway
  // says it has expired (revoked, or the clocks disagree).
  await credentials.setCredentials({
    token_type: 'Bearer',
    access_token: 'test-expired-token',
    refresh_token: 'test-refresh-token-2',
    expires_in: 7200,
  });
  report('refresh', await capture(() => app.callFunction({ name: 'inspect', data: { b: 2 } })));
  report('after_refresh', { value: await credentials.getCredentials() });

  await credentials.setCredentials({
    token_type: 'Bearer',
    access_token: 'test-expired-token',
    refresh_token: 'no-such-refresh-token',
    expires_in: 7200,
  });
  report('refresh_refused', await capture(() => app.callFunction({ name: 'inspect', data: {} })));
  report('after_refused', { value: await credentials.getCredentials().catch(plain) });
}

(build === 'browser' ? browserBuild : nodeBuild)().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);

// How the dashboard talks to Ember: through the same AWS APIs any client uses (Lambda's REST
// routes, the JSON-protocol CloudWatch Logs and CloudWatch APIs), under /_ember/aws/, and /_ember/
// JSON endpoints. The page never signs: under --auth iam the server makes each /_ember/aws/ request
// as the signed-in session's caller (an HttpOnly cookie the page cannot read), and every request
// carries the session's CSRF token, read from /_ember/session. Under --auth open there is no
// session and nothing to carry.
"use strict";

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function readError(response) {
  let code = response.headers.get("x-amzn-errortype") || String(response.status);
  let message = response.statusText;
  try {
    const body = await response.json();
    code = (body.__type || code).split("#").pop();
    message = body.message || body.Message || message;
  } catch (_) { /* not JSON: keep the status text */ }
  return new ApiError(response.status, code, message);
}

const SIGN_IN = "/_ember/sign-in";
const AWS = "/_ember/aws";

const api = {
  /** The session's CSRF token (iam mode), sent with every request that is not a GET. */
  csrfToken: null,

  /** Who is signed in: {auth, signedIn, arn, csrfToken, expiresAt}; without a session (iam mode),
   * off to the sign-in page (and null). */
  async session() {
    const response = await fetch("/_ember/session");
    if (response.status === 401) {
      location.assign(SIGN_IN);
      return null;
    }
    if (!response.ok) throw await readError(response);
    const session = await response.json();
    this.csrfToken = session.csrfToken || null;
    return session;
  },

  async signOut() {
    await this._fetch("/_ember/sign-out", {method: "POST"});
    location.assign(SIGN_IN);
  },

  /** fetch, with the CSRF token (every request through /_ember/aws/ needs it, GETs too); a session
   * that has ended sends the page to sign in again. */
  async _fetch(url, options) {
    const headers = {...(options.headers || {})};
    if (this.csrfToken) headers["x-ember-csrf"] = this.csrfToken;
    const response = await fetch(url, {...options, headers});
    if (response.status === 401 && response.headers.get("x-amzn-errortype") === "SignInRequired") {
      location.assign(SIGN_IN);
    }
    return response;
  },

  /** A Lambda REST call, e.g. api.lambda("GET", "/2015-03-31/functions/"). */
  async lambda(method, path, body) {
    const response = await this._fetch(AWS + path, {
      method,
      headers: body === undefined ? {} : {"content-type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await readError(response);
    const text = await response.text();
    return text ? JSON.parse(text) : {};
  },

  /** Invoke synchronously with the log tail: {payload, functionError, logTail, status}. */
  async invoke(functionName, payloadText) {
    const response = await this._fetch(`${AWS}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`, {
      method: "POST",
      headers: {"x-amz-log-type": "Tail", "content-type": "application/json"},
      body: payloadText,
    });
    if (!response.ok) throw await readError(response);
    const tail = response.headers.get("x-amz-log-result");
    return {
      status: response.status,
      payload: await response.text(),
      functionError: response.headers.get("x-amz-function-error"),
      logTail: tail ? new TextDecoder().decode(Uint8Array.from(atob(tail), (c) => c.charCodeAt(0))) : "",
    };
  },

  async _json(target, version, operation, body) {
    const response = await this._fetch(`${AWS}/`, {
      method: "POST",
      headers: {"x-amz-target": `${target}.${operation}`, "content-type": `application/x-amz-json-${version}`},
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) throw await readError(response);
    return response.json();
  },

  /** A CloudWatch Logs operation, e.g. api.logs("FilterLogEvents", {...}). */
  logs(operation, body) { return this._json("Logs_20140328", "1.1", operation, body); },

  /** A CloudWatch operation, e.g. api.cloudwatch("GetMetricData", {...}); times in epoch seconds. */
  cloudwatch(operation, body) { return this._json("GraniteServiceVersion20100801", "1.0", operation, body); },

  /** One of Ember's own JSON endpoints under /_ember/. */
  async ember(path) {
    const response = await this._fetch(`/_ember/${path}`, {});
    if (!response.ok && response.status !== 503) throw await readError(response);
    return response.json();
  },
};

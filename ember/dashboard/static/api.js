// How the dashboard talks to Ember: through the same AWS APIs any client uses (Lambda's REST
// routes, the JSON-protocol CloudWatch Logs and CloudWatch APIs) and /_ember/ JSON endpoints.
// Requests are unsigned: Ember accepts any caller for now. When it checks SigV4, signing goes
// here and nowhere else.
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

const api = {
  /** A Lambda REST call, e.g. api.lambda("GET", "/2015-03-31/functions/"). */
  async lambda(method, path, body) {
    const response = await fetch(path, {
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
    const response = await fetch(`/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`, {
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
    const response = await fetch("/", {
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
    const response = await fetch(`/_ember/${path}`);
    if (!response.ok && response.status !== 503) throw await readError(response);
    return response.json();
  },
};

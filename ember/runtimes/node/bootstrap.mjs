// Ember's Node.js runtime bootstrap.
//
// Runs inside a function's execution environment as `node --expose-gc bootstrap.mjs` and
// speaks the AWS Lambda Runtime API (2018-06-01) to AWS_LAMBDA_RUNTIME_API with Node's http
// module (no dependencies):
//
//   init: load the handler named by _HANDLER from LAMBDA_TASK_ROOT (CommonJS, or an ES module:
//         .mjs, or .js under a package.json with "type": "module"); on failure log it, POST
//         /runtime/init/error and exit;
//   loop: GET /runtime/invocation/next, call handler(event, context, callback), then POST
//         /runtime/invocation/{id}/response or /error.
//
// The handler programming model, the context object, console's log format and the error
// shapes follow what AWS's Node.js runtimes (nodejs18.x to nodejs22.x) give a function.
//
// Ember-specific: before posting an invocation's outcome the bootstrap writes
// "\0EMBER-END <nonce>\0\n" to file descriptor 1, the nonce being the secret the host sent with
// that invocation alone (header Ember-Output-Marker; never shown to the function). The host reads stdout and stderr from
// one pipe and uses the marker to know that all of the invocation's output has arrived
// (console writes to a pipe are synchronous on Linux, so they are all in before it).

import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

const API = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
// Where AWS's runtime keeps the current request id; some logging libraries read it.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Errors, named and shaped as AWS's runtime names and shapes them

function runtimeError(name, message, stack) {
  const error = new Error(message);
  // Not an own enumerable property: the logged error would list it (AWS's are class names).
  Object.defineProperty(error, 'name', { value: `Runtime.${name}`, writable: true, configurable: true });
  Error.captureStackTrace(error, runtimeError);
  if (stack !== undefined) {
    error.stack = stack;
  }
  return error;
}

function isErrorLike(value) {
  return value !== null && typeof value === 'object' && typeof value.name === 'string' &&
    typeof value.message === 'string' && typeof value.stack === 'string';
}

// The body posted to /error and /init/error: {errorType, errorMessage, trace}.
function errorPayload(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'callback called with Error argument, but there was a problem ' +
      'while retrieving one or more of its message, name, and stack' };
  }
}

// How an error is written to the log: its enumerable properties too, the stack as lines.
function loggedError(error) {
  const asError = error instanceof Error ? error : new Error(error);
  const expand = (_key, value) => {
    if (!(value instanceof Error)) {
      return value;
    }
    const expanded = { errorType: value.name, errorMessage: value.message, code: value.code, ...value };
    if (typeof value.stack === 'string') {
      expanded.stack = value.stack.split('\n');
    }
    return expanded;
  };
  try {
    return '\t' + JSON.stringify(asError, expand);
  } catch {
    return '\t' + JSON.stringify(errorPayload(asError));
  }
}

// ---------------------------------------------------------------------------------------------
// console: `<ISO time>\t<request id>\t<LEVEL>\t<message>`, one record per line (\n becomes \r)

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
let logError = (message, error) => console.error(message, loggedError(error));

function textLine(level, message, params) {
  return `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${util.format(message, ...params)}`;
}

function jsonLine(level, message, params) {
  const record = { timestamp: new Date().toISOString(), level, requestId: globalThis[REQUEST_ID] };
  if (params.length === 0) {
    record.message = message;
    try {
      return JSON.stringify(record, (_key, value) => value instanceof Error
        ? { errorType: value.constructor?.name ?? 'UnknownError', errorMessage: value.message,
            stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack, ...value }
        : value);
    } catch {
      record.message = util.format(message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(message, ...params);
  const error = [message, ...params].find((param) => param instanceof Error);
  if (error) {
    record.errorType = error.constructor?.name ?? 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

function patchConsole() {
  const isJson = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const format = isJson ? jsonLine : textLine;
  const threshold = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  const logger = (level) => LEVELS[level] < threshold && level !== 'FATAL'
    ? () => {}
    : (message, ...params) => process.stdout.write(format(level, message, params).replace(/\n/g, '\r') + '\n');
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
  if (isJson) {
    logError = (_message, error) => console.error(error instanceof Error ? error : new Error(error));
  }
}

// ---------------------------------------------------------------------------------------------
// The Runtime API client: one kept-alive connection, as AWS's runtime keeps one

class RuntimeClient {
  constructor(address) {
    const [hostname, port] = address.split(':');
    this.hostname = hostname;
    this.port = Number(port);
    // Idle kept-alive sockets are unref'd by the agent, so they never hold the event loop open.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, urlPath, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const request = http.request({
        hostname: this.hostname, port: this.port, path: urlPath, method, agent: this.agent,
        headers: body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode, headers: response.headers,
                                           body: Buffer.concat(chunks) }));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  async next() {
    const answer = await this.request('GET', `${API}/invocation/next`);
    if (answer.status !== 200) {
      throw new Error(`GET ${API}/invocation/next answered ${answer.status}: ${answer.body.toString().slice(0, 200)}`);
    }
    return answer;
  }

  postResponse(id, body) {
    return this.request('POST', `${API}/invocation/${encodeURIComponent(id)}/response`, body,
                        { 'Content-Type': 'application/json' });
  }

  // `isExiting`: the runtime exits once this is posted (Ember's host then retires the environment
  // at once rather than hand it the next invocation).
  postError(id, error, isExiting = false) {
    return this._postError(`${API}/invocation/${encodeURIComponent(id)}/error`, error,
                           isExiting ? { 'Ember-Runtime-Exiting': '1' } : {});
  }

  postInitError(error) {
    return this._postError(`${API}/init/error`, error);
  }

  _postError(urlPath, error, headers = {}) {
    const payload = errorPayload(error);
    return this.request('POST', urlPath, JSON.stringify(payload), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: String(payload.errorType).replace(/[^\x20-\x7e]/g, '?'),
      ...headers,
    });
  }
}

function writeEndMarker(nonce) {
  if (!nonce) {
    return;
  }
  try {
    fs.writeSync(1, `\0EMBER-END ${nonce}\0\n`);
  } catch {
    // stdout is gone: nobody is reading the output any more
  }
}

// ---------------------------------------------------------------------------------------------
// Loading the handler: "[folder/]module.export[.nested]"

function moduleIsEsm(folder) {
  // The nearest package.json decides, up to node_modules or the root (Node's own rule for .js).
  for (let current = folder; ; current = path.dirname(current)) {
    if (current.endsWith('/node_modules')) {
      return false;
    }
    const manifest = path.join(current, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    if (current === path.dirname(current)) {
      return false;
    }
  }
}

function requireIfExists(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function importIfExists(file) {
  return fs.existsSync(file) ? await import(pathToFileURL(file).href) : undefined;
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = requireIfExists(base);
  if (extensionless) {
    return extensionless;
  }
  const isEsm = moduleIsEsm(path.dirname(base));
  const loaded = (!isEsm && requireIfExists(`${base}.js`)) ||
    (isEsm && await importIfExists(`${base}.js`)) ||
    await importIfExists(`${base}.mjs`) ||
    requireIfExists(`${base}.cjs`);
  if (loaded) {
    return loaded;
  }
  // A package in node_modules, resolved from the task root as Node would from there.
  return require(require.resolve(moduleName, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw runtimeError('MalformedHandlerName', `'${fullHandler}' is not a valid handler name. Use absolute ` +
                       'paths when specifying root directories in handler names.');
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) {
    throw runtimeError('MalformedHandlerName', 'Bad handler');
  }
  const [, moduleName, exportPath] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw runtimeError('UserCodeSyntaxError', String(error), error.stack);
    }
    if (error?.code === 'MODULE_NOT_FOUND') {
      throw runtimeError('ImportModuleError', String(error));
    }
    throw error;
  }
  const handler = exportPath.split('.').reduce((object, key) => object && object[key], app);
  if (!handler) {
    throw runtimeError('HandlerNotFound', `${fullHandler} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw runtimeError('HandlerNotFound', `${fullHandler} is not a function`);
  }
  return handler;
}

// ---------------------------------------------------------------------------------------------
// Invocations

// Called when the event loop has nothing left to do ('beforeExit'): what that means depends on
// the invocation in progress (a callback waiting for an empty loop, a handler that never ended).
let whenLoopEmpty = () => {};
// What an uncaught exception or unhandled rejection does: during init, an init error.
let onFatal = (error, exitCode) => {
  client.postInitError(error).finally(() => process.exit(exitCode));
};

function parseJsonHeader(value, name) {
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error}`);
  }
}

class Invocation {
  constructor(runtime, headers) {
    this.runtime = runtime;
    this.id = headers['lambda-runtime-aws-request-id'];
    this.outputMarker = headers['ember-output-marker'];
    this.headers = headers;
    this.isFinished = false; // an outcome was chosen (the first callback/settle wins)
    this.isPosted = false;
    this.waitsForEmptyLoop = true;
  }

  context() {
    const invocation = this;
    const deadlineMs = Number(this.headers['lambda-runtime-deadline-ms']);
    return {
      get callbackWaitsForEmptyEventLoop() { return invocation.waitsForEmptyLoop; },
      set callbackWaitsForEmptyEventLoop(value) { invocation.waitsForEmptyLoop = value; },
      succeed: (result) => invocation.finish(null, result, false),
      fail: (error) => invocation.finish(error ?? 'handled', null, false),
      done: (error, result) => invocation.finish(error, result, false),
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseJsonHeader(this.headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(this.headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: this.headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: this.id,
      getRemainingTimeInMillis: () => deadlineMs - Date.now(),
    };
  }

  // The node-style callback: a result waits for the event loop to empty unless told not to.
  callback() {
    return (error, result) => this.finish(error, result, true);
  }

  finish(error, result, isCallback) {
    if (this.isFinished) {
      return;
    }
    this.isFinished = true;
    whenLoopEmpty = () => {};
    if (error !== undefined && error !== null) {
      this.postError(error);
    } else if (isCallback && this.waitsForEmptyLoop) {
      whenLoopEmpty = () => setImmediate(() => this.postResponse(result));
    } else {
      this.postResponse(result);
    }
  }

  postResponse(result) {
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch {
      this.postError(runtimeError('JSONStringifyError', 'Unable to stringify response body'));
      return;
    }
    if (this.isPosted) {
      return;
    }
    this.isPosted = true;
    writeEndMarker(this.outputMarker);
    this.runtime.client.postResponse(this.id, body).then(() => this.runtime.scheduleNext(), fatal);
  }

  // `then` runs once the error is posted; a fatal error (uncaught) was logged already, and exits after.
  postError(error, then = () => this.runtime.scheduleNext(), isFatal = false) {
    if (this.isPosted) {
      return;
    }
    this.isPosted = true;
    if (!isFatal) {
      logError('Invoke Error', error);
    }
    writeEndMarker(this.outputMarker);
    this.runtime.client.postError(this.id, error, isFatal).then(then, fatal);
  }
}

class Runtime {
  constructor(client, handler) {
    this.client = client;
    this.handler = handler;
    this.isAsync = handler.constructor?.name === 'AsyncFunction';
  }

  scheduleNext() {
    setImmediate(() => this.handleOne().catch(fatal));
  }

  async handleOne() {
    const { headers, body } = await this.client.next();
    const invocation = new Invocation(this, headers);
    globalThis[REQUEST_ID] = invocation.id;
    if (headers['lambda-runtime-trace-id']) {
      process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    onFatal = (error, exitCode) => {
      if (invocation.isPosted) {
        process.exit(exitCode);
      }
      invocation.isFinished = true;
      whenLoopEmpty = () => {};
      invocation.postError(error, () => process.exit(exitCode), true);
    };
    // The loop emptied without the handler finishing: an async handler's promise never settled
    // (an error), or a plain handler never called back (a null result), as on Lambda.
    whenLoopEmpty = () => {
      if (this.isAsync) {
        invocation.finish(runtimeError('NodeJsExit', 'The handler\'s promise never settled: the event loop ' +
                                       'emptied before the handler returned or called back.'), null, false);
      } else {
        invocation.finish(null, null, false);
      }
    };
    try {
      const context = invocation.context();
      const result = this.handler(JSON.parse(body.toString('utf8')), context, invocation.callback());
      if (result !== null && typeof result?.then === 'function') {
        result.then(context.succeed, context.fail);
      }
    } catch (error) {
      invocation.finish(error, null, true);
    }
  }
}

function fatal(error) {
  // The Runtime API went away (the environment is ending) or answered what we cannot use.
  process.stderr.write(`ember bootstrap: ${error?.stack ?? error}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Start

class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

patchConsole();
const client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API || '');

process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  onFatal(error, 129);
});
process.on('unhandledRejection', (reason, promise) => {
  const error = new UnhandledPromiseRejection(reason, promise);
  logError('Unhandled Promise Rejection', error);
  onFatal(error, 128);
});
process.on('beforeExit', () => whenLoopEmpty());

const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
try {
  process.chdir(taskRoot);
} catch {
  // keep the working directory the sandbox gave
}
let handler;
try {
  handler = await loadHandler(taskRoot, process.env._HANDLER || '');
} catch (error) {
  logError('Uncaught Exception', error);
  await client.postInitError(error).catch(() => {});
  process.exit(129);
}
new Runtime(client, handler).scheduleNext();

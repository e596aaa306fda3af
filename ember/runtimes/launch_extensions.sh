#!/bin/sh
# Ember's extensions launcher: the first program of an environment whose function has
# executables in /opt/extensions (see ember/invoke/entrypoints.py).
#
#   sh launch_extensions.sh EXTENSION... -- RUNTIME_ARGV...
#
# Starts each extension detached (re-parented to the environment's init, so the host can
# count them), without the variables Lambda keeps for the runtime process, then waits for
# the host to open the start gate (a line on stdin: every extension has registered) and
# becomes the runtime.

while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    (
        unset AWS_EXECUTION_ENV AWS_LAMBDA_LOG_GROUP_NAME AWS_LAMBDA_LOG_STREAM_NAME LAMBDA_RUNTIME_DIR \
            LAMBDA_TASK_ROOT _HANDLER AWS_XRAY_CONTEXT_MISSING AWS_XRAY_DAEMON_ADDRESS _AWS_XRAY_DAEMON_ADDRESS \
            _AWS_XRAY_DAEMON_PORT
        "$1" </dev/null &
    )
    shift
done
[ "$1" = "--" ] && shift

# The gate: the host writes one line once every extension has registered (or kills us).
read -r _gate || true
exec "$@" </dev/null

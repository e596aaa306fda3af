# The two commands that do all set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: serve test lint clean browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Ember needs Python 3.11 or newer")'
	@# The isolated sandbox level needs bubblewrap, and functions' network slirp4netns and nftables;
	@# as root on Debian/Ubuntu, install them.
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ ! command -v bwrap || ! command -v slirp4netns || ! command -v nft; } >/dev/null; then \
		echo "installing bubblewrap, e2fsprogs, slirp4netns, nftables (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap e2fsprogs \
		slirp4netns nftables >/dev/null; fi
	@# The Node.js runtimes run on the host's node; as root on Debian/Ubuntu, install one when there is none.
	@if [ "$$(id -u)" = 0 ] && ! command -v node >/dev/null && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/ember serve --host 127.0.0.1 --port 4566 --data-dir ./.ember

# The dashboard tests drive Debian's chromium through Playwright (never `playwright install`: it
# downloads a browser build). As root on Debian/Ubuntu, install it when it is missing.
browser:
	@if [ "$$(id -u)" = 0 ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

# The AWS SDK for JavaScript v3 that test_js_sdk.py puts in a Node.js function, at the versions the lock pins.
tests/js-sdk/node_modules/.package-lock.json: tests/js-sdk/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/js-sdk --no-audit --no-fund --silent; \
		else echo "no npm: test_js_sdk.py will be skipped"; fi

test: lint browser tests/js-sdk/node_modules/.package-lock.json
	@# Rootless environments' networks open /dev/net/tun as an unprivileged user (the tests run that level as
	@# uid 65534): udev's default rule makes it 0666; hosts without udev leave it 0600.
	@if [ "$$(id -u)" = 0 ] && [ -c /dev/net/tun ] && [ "$$(stat -c %a /dev/net/tun)" = 600 ]; then \
		echo "chmod 0666 /dev/net/tun (as udev does)"; chmod 0666 /dev/net/tun; fi
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Style, the layers (import-linter) and the types (mypy, strict: see pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .ember

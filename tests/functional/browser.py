"""Debian's Chromium, as the browser tests launch it through Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
#: headless, and quiet: this machine's closed network refuses Chromium's background connections
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: CI installs Chromium (`make test` does, as root), so there a missing browser fails rather than skips
IS_AVAILABLE = bool(shutil.which(CHROMIUM)) or bool(os.environ.get("CI"))
needs_chromium = pytest.mark.skipif(not IS_AVAILABLE, reason="Debian's chromium is not installed "
                                                              "(`make test` installs it when run as root)")

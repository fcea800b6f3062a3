#!/usr/bin/env bash
# Installs Debian's headless Chromium for the report's browser test when it is
# missing and we may (root with apt). Elsewhere the browser test is skipped
# with a message saying how to install it.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the report browser test…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
else
  echo "note: chromium not found; the report browser test will be skipped (apt-get install chromium)" >&2
fi
exit 0

#!/bin/sh
# Prints the version of a browser of this image (chrome or firefox), as the node announces it.
set -eu
case "$1" in
  chrome) /opt/bin/chromium --version 2>/dev/null | sed -n 's/^Chromium \([0-9.]*\).*/\1/p' ;;
  firefox) /opt/bin/firefox --version 2>/dev/null | sed -n 's/^Mozilla Firefox \([0-9.a-z]*\).*/\1/p' ;;
  *) echo "browser-version: unknown browser '$1'" >&2; exit 64 ;;
esac

#!/bin/sh
# Firefox on the session's own display (session-display). The stereotype points here.
. /opt/bin/session-display
# geckodriver starts Firefox on a new profile folder (-profile DIR). Before it does, the startup
# caches made at image build (firefox-seed.sh) go into that folder, unless it already holds a
# profile (a suite's own profile keeps its caches). They hold only Firefox's own compiled code.
seed=/opt/selenium/firefox-seed
if [ -d "$seed" ]; then
  previous=""
  for arg in "$@"; do
    case "$previous" in
      -profile | --profile)
        if [ -d "$arg" ] && [ ! -e "$arg/compatibility.ini" ] && [ ! -e "$arg/startupCache" ]; then
          cp -R "$seed/startupCache" "$seed/compatibility.ini" "$arg/" 2>/dev/null || true
        fi
        ;;
    esac
    previous=$arg
  done
fi
exec /usr/bin/firefox-esr "$@"

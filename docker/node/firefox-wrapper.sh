#!/bin/sh
# Firefox on the session's own display (session-display). The stereotype points here.
. /opt/bin/session-display
exec /usr/bin/firefox-esr "$@"

#!/bin/sh
# Chromium's own sandbox needs user namespaces, which Docker's default seccomp profile denies, so
# the container is the sandbox instead: a non-root user, no capabilities, no-new-privileges.
# (docker-selenium's node-chrome makes the same choice.) The stereotype points here.
. /opt/bin/session-display
exec /usr/bin/chromium --no-sandbox "$@"

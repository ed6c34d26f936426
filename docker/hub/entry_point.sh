#!/bin/sh
# Renders the hub config from the SE_* environment (docker-selenium's contract) and starts the hub.
# The registration secret goes into a file readable only by seluser, never onto the command line.
set -eu
umask 077
config=/tmp/selenium-hub.toml
sed -e "s|@SE_EVENT_BUS_PUBLISH_PORT@|${SE_EVENT_BUS_PUBLISH_PORT}|" \
    -e "s|@SE_EVENT_BUS_SUBSCRIBE_PORT@|${SE_EVENT_BUS_SUBSCRIBE_PORT}|" \
    -e "s|@SE_HUB_PORT@|${SE_HUB_PORT}|" \
    -e "s|@SE_SESSION_REQUEST_TIMEOUT@|${SE_SESSION_REQUEST_TIMEOUT}|" \
    /opt/selenium/hub.toml.tmpl > "$config"
# On a swarm the secret is a Docker secret, mounted as a file, never in the environment.
if [ -n "${SE_REGISTRATION_SECRET_FILE:-}" ]; then
  SE_REGISTRATION_SECRET=$(cat "$SE_REGISTRATION_SECRET_FILE")
fi
# The template ends with the [server] table, so these lines land in it.
if [ -n "${SE_REGISTRATION_SECRET:-}" ]; then
  printf 'registration-secret = "%s"\n' "$SE_REGISTRATION_SECRET" >> "$config"
fi
unset SE_REGISTRATION_SECRET
# The class archive made at build time (see the Dockerfile); a JVM that cannot use it starts without.
cds=""
[ -r /opt/selenium/server.jsa ] && cds="-XX:SharedArchiveFile=/opt/selenium/server.jsa -Xshare:auto"
# The patched event bus class, when the image has it, comes ahead of the server's own.
classpath=/opt/selenium/selenium-server.jar
[ -r /opt/selenium/patches/event-bus.jar ] && classpath="/opt/selenium/patches/event-bus.jar:$classpath"
# shellcheck disable=SC2086
exec java ${SE_JAVA_OPTS} $cds -cp "$classpath" org.openqa.selenium.grid.Bootstrap hub --config "$config"

#!/bin/sh
# Renders the node config from the SE_* environment (docker-selenium's contract) and starts a node
# that serves the browsers of SE_BROWSER with the drivers shipped in this image: no driver
# detection and no Selenium Manager, which would try to download drivers.
set -eu
umask 077
: "${SE_EVENT_BUS_HOST:?SE_EVENT_BUS_HOST must name the hub}"
# One driver configuration per browser of SE_BROWSER (a comma list: a shared node serves several).
drivers=/tmp/selenium-drivers.toml
: > "$drivers"
versions=""
for browser in $(echo "$SE_BROWSER" | tr ',' ' '); do
  case "$browser" in
    chrome) grid_name=chrome; binary=/opt/bin/chromium; vendor='goog:chromeOptions' ;;
    firefox) grid_name=firefox; binary=/opt/bin/firefox; vendor='moz:firefoxOptions' ;;
    *) echo "entry_point: unknown browser '$browser' in SE_BROWSER '$SE_BROWSER'" >&2; exit 64 ;;
  esac
  # Recorded when the image was built (asking the browser costs its start: 50 ms for Chromium).
  version=$(cat "/opt/selenium/version-$browser" 2>/dev/null || sh /opt/bin/browser-version "$browser")
  sed -e "s|@SE_NODE_MAX_SESSIONS@|${SE_NODE_MAX_SESSIONS}|" \
      -e "s|@BROWSER@|${browser}|g" \
      -e "s|@GRID_BROWSER@|${grid_name}|" \
      -e "s|@BROWSER_VERSION@|${version}|" \
      -e "s|@VENDOR@|${vendor}|" \
      -e "s|@BINARY@|${binary}|" \
      /opt/selenium/node-driver.toml.tmpl >> "$drivers"
  versions="${versions}${versions:+, }${browser} ${version}"
done
config=/tmp/selenium-node.toml
sed -e "s|@SE_EVENT_BUS_HOST@|${SE_EVENT_BUS_HOST}|g" \
    -e "s|@SE_EVENT_BUS_PUBLISH_PORT@|${SE_EVENT_BUS_PUBLISH_PORT}|" \
    -e "s|@SE_EVENT_BUS_SUBSCRIBE_PORT@|${SE_EVENT_BUS_SUBSCRIBE_PORT}|" \
    -e "s|@SE_NODE_PORT@|${SE_NODE_PORT}|" \
    -e "s|@SE_NODE_MAX_SESSIONS@|${SE_NODE_MAX_SESSIONS}|g" \
    -e "s|@SE_NODE_OVERRIDE_MAX_SESSIONS@|${SE_NODE_OVERRIDE_MAX_SESSIONS}|" \
    -e "s|@SE_NODE_SESSION_TIMEOUT@|${SE_NODE_SESSION_TIMEOUT}|" \
    -e "s|@SE_NODE_HEARTBEAT_PERIOD@|${SE_NODE_HEARTBEAT_PERIOD}|" \
    -e "/@DRIVER_CONFIGURATIONS@/{r $drivers" -e "d}" \
    /opt/selenium/node.toml.tmpl > "$config"
# On a swarm the secret is a Docker secret, mounted as a file, never in the environment.
if [ -n "${SE_REGISTRATION_SECRET_FILE:-}" ]; then
  SE_REGISTRATION_SECRET=$(cat "$SE_REGISTRATION_SECRET_FILE")
fi
# The template ends with the [server] table, so these lines land in it.
if [ -n "${SE_REGISTRATION_SECRET:-}" ]; then
  printf 'registration-secret = "%s"\n' "$SE_REGISTRATION_SECRET" >> "$config"
fi
# The name the hub reaches this node by (a swarm task's name, which its overlay resolves).
if [ -n "${SE_NODE_HOST:-}" ]; then
  printf 'host = "%s"\n' "$SE_NODE_HOST" >> "$config"
fi
unset SE_REGISTRATION_SECRET
# An X display for headed browsers (docker-selenium's nodes have one too); headless ones ignore it.
# Local connections only: nothing outside the container can reach the display.
Xvfb "$DISPLAY" -screen 0 "${SE_SCREEN_WIDTH}x${SE_SCREEN_HEIGHT}x${SE_SCREEN_DEPTH}" -nolisten tcp >/tmp/xvfb.log 2>&1 &
for _ in $(seq 1 500); do
  [ -e "/tmp/.X11-unix/X${DISPLAY#:}" ] && break
  sleep 0.01
done
[ -e "/tmp/.X11-unix/X${DISPLAY#:}" ] || { echo "entry_point: Xvfb did not start: $(tail -n 1 /tmp/xvfb.log)" >&2; exit 70; }
echo "entry_point: node of ${versions}, ${SE_NODE_MAX_SESSIONS} session(s), hub ${SE_EVENT_BUS_HOST}"
# The class archive made at build time (see the Dockerfile); a JVM that cannot use it starts without.
cds=""
[ -r /opt/selenium/server.jsa ] && cds="-XX:SharedArchiveFile=/opt/selenium/server.jsa -Xshare:auto"
# The patched event bus class, when the image has it, comes ahead of the server's own.
classpath=/opt/selenium/selenium-server.jar
[ -r /opt/selenium/patches/event-bus.jar ] && classpath="/opt/selenium/patches/event-bus.jar:$classpath"
# shellcheck disable=SC2086
exec java ${SE_JAVA_OPTS} $cds -cp "$classpath" org.openqa.selenium.grid.Bootstrap node --config "$config"

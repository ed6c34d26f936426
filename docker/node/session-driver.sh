#!/bin/sh
# The node starts the browser's driver through this wrapper, once per session (grid/node.toml's
# webdriver-executable). Each session gets an X display of its own, so headed browsers of two
# sessions on one node never share a screen and a recording of one (farm-record) shows only it.
# Xvfb starts beside the driver rather than before it: the browser wrapper (session-display) waits
# for the display number, which is ready long before the session's browser starts. The display
# goes away with the driver. Version queries and the like go straight to the driver.
# Installed as session-driver-<browser>: a node of several browsers has one per driver configuration.
set -u
case "${0##*/session-driver-}" in
  chrome) driver=/usr/bin/chromedriver ;;
  firefox) driver=/opt/bin/geckodriver ;;
  *) echo "session-driver: called as '$0', not session-driver-chrome or session-driver-firefox" >&2; exit 64 ;;
esac
case " $* " in
  *" --port"*) ;;
  *) exec "$driver" "$@" ;;
esac
FARM_DISPLAY_FILE=/tmp/farm-display.$$
export FARM_DISPLAY_FILE
# -displayfd: Xvfb takes the first free display number and writes it once it accepts clients.
Xvfb -displayfd 3 -screen 0 "${SE_SCREEN_WIDTH}x${SE_SCREEN_HEIGHT}x${SE_SCREEN_DEPTH}" -nolisten tcp 3>"$FARM_DISPLAY_FILE" 2>/dev/null &
xvfb=$!
# A window manager on that display, so maximize, full screen and minimize work (as on docker-selenium's
# nodes); it adopts the browser's window whenever it comes up, so nothing waits for it.
(
  for _ in $(seq 1 250); do
    [ -s "$FARM_DISPLAY_FILE" ] && break
    sleep 0.02
  done
  [ -s "$FARM_DISPLAY_FILE" ] && exec fluxbox -display ":$(cat "$FARM_DISPLAY_FILE")" -rc /opt/bin/fluxbox-init >/dev/null 2>&1
) &
wm=$!
"$driver" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; go on waiting until the driver has ended.
status=0
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
kill "$wm" "$xvfb" 2>/dev/null
rm -f "$FARM_DISPLAY_FILE"
exit "$status"

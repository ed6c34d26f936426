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
"$driver" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; go on waiting until the driver has ended.
status=0
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
kill "$xvfb" 2>/dev/null
rm -f "$FARM_DISPLAY_FILE"
exit "$status"

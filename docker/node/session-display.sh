# Sourced by the browser wrappers: the session's own display (see session-driver.sh), once its
# X server accepts clients; without one (a version query, an old driver) the node's DISPLAY stays.
if [ -n "${FARM_DISPLAY_FILE:-}" ]; then
  for _ in $(seq 1 250); do
    [ -s "$FARM_DISPLAY_FILE" ] && break
    sleep 0.02
  done
  if [ -s "$FARM_DISPLAY_FILE" ]; then
    DISPLAY=":$(cat "$FARM_DISPLAY_FILE")"
    export DISPLAY
  fi
fi

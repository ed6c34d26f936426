#!/bin/sh
# Records one browser session's X display (see session-driver.sh: one display per session).
#   FARM_MARKER=<profile folder> farm-record start NAME   finds the browser whose command line holds
#                                                         the marker and records its display
#   farm-record stop NAME                                 ends the recording and prints the file
#   farm-record discard NAME                              ends it and deletes the file
# The marker comes in the environment, not as an argument, so this script never matches itself.
set -eu
dir=/tmp/farm-videos
name=$2
case "$name" in *[!A-Za-z0-9._-]*|"") echo "farm-record: bad name '$name'" >&2; exit 64 ;; esac
video="$dir/$name.webm"
stop() {
  pid=$(cat "$dir/$name.pid" 2>/dev/null || true)
  rm -f "$dir/$name.pid"
  [ -n "$pid" ] || return 0
  # A cell shorter than ffmpeg's start (a session kept across quick cells) still gets its frames:
  # wait, up to 3 s, until the first one is in the file.
  for _ in $(seq 1 60); do
    [ -s "$video" ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  kill -INT "$pid" 2>/dev/null || return 0
  # ffmpeg writes the last frames and the file's index on SIGINT; give it up to 10 s.
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}
case "$1" in
  start)
    : "${FARM_MARKER:?FARM_MARKER must name the session's profile folder}"
    display=""
    for proc in /proc/[0-9]*; do
      [ "${proc#/proc/}" = "$$" ] && continue
      cmdline=$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null) || continue
      case "$cmdline" in
        *"$FARM_MARKER"*)
          display=$(tr '\0' '\n' < "$proc/environ" 2>/dev/null | sed -n 's/^DISPLAY=//p')
          [ -n "$display" ] && break ;;
      esac
    done
    [ -n "$display" ] || { echo "farm-record: no browser of this session on this node" >&2; exit 66; }
    mkdir -p "$dir"
    # VP8 in WebM plays in every browser's <video>; realtime settings keep the encoder light, and
    # -flush_packets writes each frame at once (stop waits for the first one; see above).
    setsid ffmpeg -nostdin -loglevel error -f x11grab -draw_mouse 0 -framerate "${FARM_VIDEO_FPS:-8}" \
      -video_size "${SE_SCREEN_WIDTH}x${SE_SCREEN_HEIGHT}" -i "$display" \
      -vf "scale=${FARM_VIDEO_WIDTH:-1024}:-2" -c:v libvpx -deadline realtime -cpu-used 8 -b:v 600k -an -flush_packets 1 \
      -y "$video" > "$dir/$name.log" 2>&1 &
    echo $! > "$dir/$name.pid"
    echo "$display" ;;
  stop)
    stop
    [ -s "$video" ] || { echo "farm-record: no video: $(tail -n 1 "$dir/$name.log" 2>/dev/null)" >&2; exit 65; }
    echo "$video" ;;
  discard)
    stop
    rm -f "$video" "$dir/$name.log" ;;
  *) echo "farm-record: start|stop|discard NAME" >&2; exit 64 ;;
esac

#!/bin/bash
# Build time, Firefox nodes only: start Firefox once, as geckodriver does (a Marionette session,
# then a quit), and keep the startup caches it writes on the way out (the compiled bytecode of
# Firefox's own scripts, and the compatibility.ini that says which build wrote them) in
# /opt/selenium/firefox-seed. firefox-wrapper copies them into each session's new profile, so a
# session's Firefox maps that bytecode instead of compiling its own code again: on 2 cores a
# session started in 0.60 of the time, with 1.5 CPU-seconds less (benchmarks/firefox_start.py:
# 1.97 s against 3.28 s). Nothing a page sees is in them; a different build ignores them. The
# Dockerfile runs this beside the class-archive training, which keeps the build 3-4 s longer only.
# Marionette's protocol is length-prefixed JSON over TCP, spoken here with bash's /dev/tcp.
set -eu
seed=/opt/selenium/firefox-seed
profile=$(mktemp -d)
/usr/bin/firefox-esr --marionette -headless --remote-debugging-port 0 --remote-allow-hosts localhost -no-remote \
  -profile "$profile" about:blank >/dev/null 2>&1 &
pid=$!
give_up() {
  echo "firefox-seed: $1; sessions start without startup caches" >&2
  kill "$pid" 2>/dev/null || true
  rm -rf "$profile"
  exit 0
}
for _ in $(seq 1 600); do [ -s "$profile/MarionetteActivePort" ] && break; sleep 0.05; done
[ -s "$profile/MarionetteActivePort" ] || give_up "Firefox did not start Marionette in 30 s"
exec 3<>"/dev/tcp/127.0.0.1/$(cat "$profile/MarionetteActivePort")" || give_up "Marionette did not answer"
send() { printf '%s:%s' "${#1}" "$1" >&3; }
receive() { IFS= read -r -t 60 -d : length <&3 && IFS= read -r -t 60 -N "$length" message <&3; }
receive || give_up "Marionette sent no greeting"
send '[0,1,"WebDriver:NewSession",{}]'
receive && [ "${message#\[1,1,null,}" != "$message" ] || give_up "no Marionette session: ${message:-nothing}"
send '[0,2,"Marionette:Quit",{"flags":["eAttemptQuit"]}]'
receive || true
wait "$pid" || true
for cache in scriptCache.bin startupCache.8.little; do
  [ -s "$profile/startupCache/$cache" ] || give_up "Firefox wrote no $cache"
done
[ -s "$profile/compatibility.ini" ] || give_up "Firefox wrote no compatibility.ini"
mkdir -p "$seed"
cp -R "$profile/startupCache" "$profile/compatibility.ini" "$seed/"
chmod -R a+rX "$seed"
rm -rf "$profile"

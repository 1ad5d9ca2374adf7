#!/bin/bash
# Stop everything up.sh started: SIGTERM to each service's own process group (PIDs in /tmp/local-openstack/run/*.pid),
# wait up to 15 s, then SIGKILL what is left of those groups. epmd (daemonized by RabbitMQ) is asked to quit.
# --purge also deletes databases, images, queues and logs (setup.sh always starts from empty state anyway).
R=${OSREAL_ROOT:-/tmp/local-openstack}
pids=()
for f in $R/run/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f"); pids+=("$pid")
  kill -TERM -- -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  echo "stopping $(basename "$f" .pid) (pgid $pid)"
done
for i in $(seq 60); do
  alive=0; for p in "${pids[@]}"; do kill -0 -- -"$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.25
done
for p in "${pids[@]}"; do kill -KILL -- -"$p" 2>/dev/null; done
rm -f $R/run/*.pid $R/run/seeded
if [ -f $R/rabbit/env.sh ]; then ( . $R/rabbit/env.sh; epmd -kill >/dev/null 2>&1 ) && echo "stopped epmd"; fi
if [ "${1:-}" = --purge ]; then
  rm -rf $R/mysql/data $R/rabbit/mnesia $R/rabbit/log $R/data $R/lock $R/etc/keystone/fernet-keys \
         $R/etc/keystone/credential-keys $R/logs/* $R/clouds.yaml
  echo "purged state"
fi
exit 0

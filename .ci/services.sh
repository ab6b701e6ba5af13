#!/usr/bin/env bash
# Start each local service the tests use if it is not answering (idempotent).
set -uo pipefail

listening() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)" "$1" 2>/dev/null; }

wait_for() {  # name port
  for _ in $(seq 1 60); do listening "$2" && return 0; sleep 1; done
  echo "ci: $1 did not start on port $2" >&2; return 1
}

listening 5432 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
listening 6379 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
listening 5672 || rabbitmq-server -detached
listening 4222 || start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
# /run is a tmpfs on a rebooted machine: mariadbd needs its socket folder back.
listening 3306 || { install -d -o mysql -g mysql /run/mysqld; start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; }
listening 1883 || mosquitto -d -c /etc/mosquitto/mosquitto.conf
# nx-27017, the MongoDB stand-in (pip, from the test extra, which the test command installs
# first: so it is started here only when already installed; tests/support/services.py starts it
# otherwise, in the same place).
if ! listening 27017 && command -v nx-27017 >/dev/null; then
  mkdir -p /tmp/nx-27017
  setsid nx-27017 --data-dir /tmp/nx-27017/data --host 127.0.0.1 -p 27017 \
    --log-file /tmp/nx-27017/server.log --pid-file /tmp/nx-27017/nx-27017.pid >/dev/null 2>&1 < /dev/null &
fi
listening 11211 || memcached -u nobody -l 127.0.0.1 -p 11211 -m 64 -d

wait_for postgresql 5432 && wait_for redis 6379 && wait_for rabbitmq 5672 && wait_for nats 4222 \
  && wait_for mariadb 3306 && wait_for mosquitto 1883 && wait_for memcached 11211
started=$?

# A RabbitMQ node in a resource alarm (low disk or memory) accepts connections but blocks every
# publisher: the tests would hang on it. Say so at once, with the facts to act on.
if ! rabbitmq-diagnostics -q check_local_alarms >/dev/null 2>&1; then
  echo "ci: RabbitMQ reports a resource alarm; publishers will block until it clears:" >&2
  rabbitmq-diagnostics -q alarms >&2 || true
  df -h / /tmp >&2 || true
fi
exit "$started"

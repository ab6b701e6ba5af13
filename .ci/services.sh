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
# MongoDB stand-in (no mongod installs here): nx-27017, a wire-protocol server on SQLite, from the
# test extra. Tests that find 27017 down start a private one themselves (tests/support/stores.py).
if ! listening 27017 && command -v nx-27017 >/dev/null; then
  mkdir -p /var/lib/nx-27017
  nohup nx-27017 --data-dir /var/lib/nx-27017 --host 127.0.0.1 -p 27017 \
    --log-file /var/log/nx-27017.log --pid-file /var/lib/nx-27017/pid >/dev/null 2>&1 &
fi

wait_for postgresql 5432 && wait_for redis 6379 && wait_for rabbitmq 5672 && wait_for nats 4222 \
  && wait_for mariadb 3306 && wait_for mosquitto 1883

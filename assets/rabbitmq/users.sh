#!/bin/sh
# One RabbitMQ user per certificate CN (EXTERNAL login admits only known users), with the
# lab's ACL as topic permissions on amq.topic. MQTT "/" is "." in RabbitMQ routing keys.
# Usage: users.sh commissioner-backend CM-000123 CM-000124 ...
set -eu
backend=$1; shift
rabbitmqctl add_user "$backend" "$(head -c 32 /dev/urandom | base64)"
rabbitmqctl clear_password "$backend"
rabbitmqctl set_permissions -p / "$backend" '.*' '.*' '.*'
rabbitmqctl set_topic_permissions -p / "$backend" amq.topic \
  '^provisioning\.[^.]+\.response$' '^provisioning\.[^.]+\.request$'
for unit in "$@"; do
  rabbitmqctl add_user "$unit" "$(head -c 32 /dev/urandom | base64)"
  rabbitmqctl clear_password "$unit"   # certificate only
  rabbitmqctl set_permissions -p / "$unit" '.*' '.*' '.*'
  rabbitmqctl set_topic_permissions -p / "$unit" amq.topic \
    '^provisioning\.{username}\.request$' '^provisioning\.{username}\.response$'
done

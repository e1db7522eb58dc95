"""
A benchmark subscriber process for Redis, with redis-py as its documentation
shows: each connection a PubSub with a handler per channel (SUBSCRIBE) or
glob (PSUBSCRIBE), read by its own run_in_thread() worker.

redis-py reconnects and subscribes again by itself when the server drops a
connection (as Redis does to a subscriber over its output-buffer limit), so
a drop shows here as lost events, and in the server's log.
"""

import json
import os
import sys
import time

import benchlib
import redis


def make_handler(spec, tally, lifecycle):
    slow = spec.get("slow_ms", 0) / 1000
    loads = json.loads

    def handler(message):
        lifecycle.record(tally, loads(message["data"]))
        if slow:
            time.sleep(slow)

    return handler


def subscribe_one(host, port, spec, tally, lifecycle, deadline):
    """
    Subscribe one connection and wait for the server's confirmation of each
    channel and glob, so the runner's "ready" means the server knows them.
    """
    client = redis.Redis(host=host, port=port)
    pubsub = client.pubsub()
    handler = make_handler(spec, tally, lifecycle)
    subjects = spec.get("subjects") or []
    patterns = spec.get("patterns") or []
    if subjects:
        pubsub.subscribe(**{subject: handler for subject in subjects})
    if patterns:
        pubsub.psubscribe(**{pattern: handler for pattern in patterns})
    confirmed = 0
    while confirmed < len(subjects) + len(patterns):
        if time.time() > deadline:
            raise RuntimeError("subscriptions not confirmed by the deadline")
        reply = pubsub.get_message(timeout=1.0)
        if reply and reply["type"] in ("subscribe", "psubscribe"):
            confirmed += 1

    def failed(error, pubsub, thread):
        lifecycle.problem(tally, repr(error))
        thread.stop()

    pubsub.run_in_thread(sleep_time=1.0, daemon=True, exception_handler=failed)
    # The caller keeps both: a Redis client that is garbage-collected closes
    # its connection pool, and with it the PubSub's connection.
    return client, pubsub


def main():
    config = benchlib.load_config()
    host, port = config["uri"].rsplit(":", 1)
    lifecycle = benchlib.Lifecycle.for_connections(config)
    tallies = lifecycle.tallies
    connections = []
    try:
        for spec, tally in zip(config["connections"], tallies):
            connections.append(
                subscribe_one(host, int(port), spec, tally, lifecycle, config["deadline"])
            )
    except Exception as error:
        benchlib.fail("subscribing failed: %r" % (error,))
    benchlib.emit("ready", connections=len(tallies))
    benchlib.watch_commands(lifecycle.command)
    lifecycle.report(lifecycle.wait())
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

"""
A benchmark subscriber process for eventd.

Each connection of its configuration is an EventClient of its own, made with
eventd.client.connect and subscribed with a handler per event, as a Twisted
application subscribes.  A slow connection's handler returns a Deferred that
fires after the configured time: the client's documented way of saying "I
am busy", under which it stops reading and the server's queue policy applies.
"""

import os
import sys
import time

import benchlib
from twisted.internet import defer, reactor, task

from eventd.client import connect


def make_handler(spec, tally, lifecycle):
    slow = spec.get("slow_ms", 0) / 1000

    if slow:

        def handler(event):
            lifecycle.record(tally, event.msg)
            return task.deferLater(reactor, slow, lambda: None)

    else:

        def handler(event):
            lifecycle.record(tally, event.msg)

    return handler


async def subscribe_one(uri, spec, tally, lifecycle):
    client = await connect(uri)
    handler = make_handler(spec, tally, lifecycle)
    if spec.get("subjects"):
        await client.subscribe(spec["subjects"], handler)
    if spec.get("patterns"):
        await client.subscribe_match(spec["patterns"], handler)
    client.when_disconnected().addCallback(
        lambda _: lifecycle.problem(tally, "connection lost")
    )
    return client


async def subscribe_all(config, lifecycle):
    """
    Connect and subscribe every connection, a batch at a time: thousands of
    simultaneous connects would only measure the listen backlog.
    """
    specs = config["connections"]
    batch = config.get("connect_batch", 50)
    clients = []
    for start in range(0, len(specs), batch):
        clients += await defer.gatherResults(
            [
                defer.ensureDeferred(subscribe_one(config["uri"], spec, tally, lifecycle))
                for spec, tally in zip(
                    specs[start : start + batch], lifecycle.tallies[start : start + batch]
                )
            ],
            consumeErrors=True,
        )
    return clients


def main():
    config = benchlib.load_config()
    lifecycle = benchlib.Lifecycle.for_connections(config)

    def report(reason):
        lifecycle.report(reason)
        os._exit(0)

    async def start():
        try:
            clients = await subscribe_all(config, lifecycle)
        except Exception as error:
            benchlib.fail("subscribing failed: %r" % (error,))
        benchlib.emit("ready", connections=len(clients))
        benchlib.watch_commands(lifecycle.command)
        benchlib.run_waiter(lifecycle, report)

    def too_late():
        benchlib.emit("error", error="not subscribed by the deadline")
        os._exit(1)

    setup_deadline = reactor.callLater(max(0, config["deadline"] - time.time()), too_late)
    reactor.callWhenRunning(
        lambda: defer.ensureDeferred(start()).addCallback(
            lambda _: setup_deadline.cancel()
        )
    )
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())

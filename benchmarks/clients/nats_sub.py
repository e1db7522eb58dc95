"""
A benchmark subscriber process for NATS, with nats-py as its documentation
shows: each connection its own nats.connect(), an async callback per
subscription, and a flush() so the server has the subscriptions before the
process says it is ready.  A slow connection's callback awaits
asyncio.sleep: nats-py runs a subscription's callbacks one at a time, and
buffers what waits (its pending limits decide when it drops).
"""

import asyncio
import json
import os
import sys

import benchlib
import nats


async def subscribe_one(url, spec, tally, lifecycle):
    slow = spec.get("slow_ms", 0) / 1000

    async def error(exception):
        lifecycle.problem(tally, repr(exception))

    async def disconnected():
        lifecycle.problem(tally, "disconnected")

    async def handler(msg):
        lifecycle.record(tally, json.loads(msg.data))
        if slow:
            await asyncio.sleep(slow)

    client = await nats.connect(url, error_cb=error, disconnected_cb=disconnected)
    for subject in (spec.get("subjects") or []) + (spec.get("patterns") or []):
        await client.subscribe(subject, cb=handler)
    await client.flush()
    return client


async def run(config, lifecycle):
    url = "nats://" + config["uri"]
    specs = config["connections"]
    batch = config.get("connect_batch", 50)
    clients = []
    try:
        for start in range(0, len(specs), batch):
            clients += await asyncio.gather(
                *[
                    subscribe_one(url, spec, tally, lifecycle)
                    for spec, tally in zip(
                        specs[start : start + batch], lifecycle.tallies[start : start + batch]
                    )
                ]
            )
    except Exception as error:
        benchlib.fail("subscribing failed: %r" % (error,))
    benchlib.emit("ready", connections=len(clients))
    benchlib.watch_commands(lifecycle.command)

    def report(reason):
        lifecycle.report(reason)
        os._exit(0)

    benchlib.run_waiter(lifecycle, report)
    # The waiter ends the process; this only keeps the loop (and the
    # connections) alive until then.
    await asyncio.Event().wait()


def main():
    config = benchlib.load_config()
    lifecycle = benchlib.Lifecycle.for_connections(config)
    asyncio.run(run(config, lifecycle))


if __name__ == "__main__":
    sys.exit(main())

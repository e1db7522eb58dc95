"""
A benchmark publisher process for NATS, with nats-py as its documentation
shows: publish() on one connection (nats-py buffers what it has not written
yet, and makes the publisher wait once that buffer is full), then flush(),
whose PONG says the server has taken everything.
"""

import asyncio
import json
import os
import sys
import time

import benchlib
import nats


async def run(config):
    plan = benchlib.PublishPlan(config)
    tally = benchlib.PublishTally()
    try:
        client = await nats.connect("nats://" + config["uri"])
    except Exception as error:
        benchlib.fail("cannot reach the server: %r" % (error,))
    loop = asyncio.get_running_loop()
    go = asyncio.Event()

    def command(line):
        if line == "stop":
            # Read by the publishing loop between publishes: a plain flag,
            # since that loop may not yield to the event loop for a while.
            tally.stopped = True
        loop.call_soon_threadsafe(go.set)

    benchlib.watch_commands(command)
    benchlib.emit("ready")
    try:
        await asyncio.wait_for(go.wait(), max(0.01, plan.deadline - time.time()))
    except asyncio.TimeoutError:
        tally.capped = True
    plan.go()
    start = time.time()
    seq = 0
    while seq < plan.count and not (tally.stopped or tally.capped):
        if time.time() >= plan.deadline:
            tally.capped = True
            break
        if plan.rate:
            delay = plan.due(start, seq) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        tally.sent()
        await client.publish(plan.subject(seq), json.dumps(plan.message(seq)).encode())
        seq += 1
    try:
        await client.flush(timeout=max(1, plan.deadline - time.time()))
        tally.acked = tally.published
        tally.acked_ns = benchlib.now_ns()
    except Exception as error:
        tally.failed(repr(error))
    tally.report()
    sys.stdout.flush()
    os._exit(0)


def main():
    asyncio.run(run(benchlib.load_config()))


if __name__ == "__main__":
    sys.exit(main())

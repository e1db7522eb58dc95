"""
A benchmark publisher process for eventd.

One EventClient from eventd.client.connect, publishing as a Twisted
application does.  Two ways, chosen by L{PUBLISH_PATH}:

  - C{publish}: each publish returns a Deferred that fires with the
    server's answer, and at most C{window} publishes wait for their answer
    at once (as nats-py bounds what it buffers), so the publisher goes as
    fast as the server accepts events without piling up unanswered calls;
  - C{emit}: the client's one-way path; emit() says when to wait (the
    server is not taking what was sent), and one answered command (stats)
    sent after the last event says when the server has handled them all (a
    connection's commands are handled in order).
"""

import os
import sys
import time

import benchlib
from twisted.internet import defer, reactor, task

from eventd.client import connect

PUBLISH_PATH = "emit"
"""
How this benchmark publishes: C{"emit"} (one-way, as nats-py's publish is)
or C{"publish"} (each answered, as redis-py's is).  The runner's
C{--eventd-publish} overrides it for one run.
"""


class Window(object):
    """
    At most C{size} publishes awaiting their answer.  L{halt} (the cap, or
    the runner's C{stop}) wakes whoever waits, so a publisher held back by
    a blocking server still stops on time.
    """

    def __init__(self, size):
        self.size = size
        self.outstanding = 0
        self.halted = False
        self._room = None
        self._drained = None

    def taken(self):
        self.outstanding += 1

    def answered(self, _=None):
        self.outstanding -= 1
        if self._room is not None and self.outstanding < self.size:
            room, self._room = self._room, None
            room.callback(None)
        if self._drained is not None and self.outstanding == 0:
            drained, self._drained = self._drained, None
            drained.callback(None)

    def room(self):
        if self.halted or self.outstanding < self.size:
            return defer.succeed(None)
        self._room = defer.Deferred()
        return self._room

    def drained(self):
        if self.halted or self.outstanding == 0:
            return defer.succeed(None)
        self._drained = defer.Deferred()
        return self._drained

    def until(self, waiting):
        """
        A Deferred that fires once C{waiting} does, or at L{halt}, whichever
        comes first (a blocking server may keep C{waiting} for ever).
        """
        if self.halted:
            return defer.succeed(None)
        self._room = defer.Deferred()
        room = self._room

        def fired(result):
            if self._room is room:
                self._room = None
                room.callback(None)

        waiting.addBoth(fired)
        return room

    def halt(self):
        self.halted = True
        for waiting in (self._room, self._drained):
            if waiting is not None:
                waiting.callback(None)
        self._room = self._drained = None


async def pace(plan, start, seq):
    if plan.rate:
        delay = plan.due(start, seq) - time.time()
        if delay > 0:
            await task.deferLater(reactor, delay, lambda: None)


async def publish_all(client, plan, window, tally):
    """Publish with answers, at most C{window} awaiting theirs."""
    start = time.time()
    for seq in range(plan.count):
        await pace(plan, start, seq)
        await window.room()
        if window.halted:
            return
        window.taken()
        tally.sent()
        answer = client.publish(plan.subject(seq), plan.message(seq))
        answer.addCallbacks(lambda _: tally.answered(), tally.failed)
        answer.addBoth(window.answered)
    await window.drained()


async def emit_all(client, plan, window, tally):
    """Emit, waiting whenever emit() says so; then one answered command as a barrier."""
    start = time.time()
    for seq in range(plan.count):
        await pace(plan, start, seq)
        if window.halted:
            return
        tally.sent()
        waiting = client.emit(plan.subject(seq), plan.message(seq))
        if waiting is not None:
            await window.until(waiting)
    def confirmed(_):
        tally.acked = tally.published
        tally.acked_ns = benchlib.now_ns()

    # The client sends what it emitted before any later command, and the
    # server handles a connection's commands in order: once this is
    # answered, every emitted event was handled.
    barrier = client.stats()
    barrier.addCallbacks(confirmed, tally.failed)
    await window.until(barrier)


async def run(config):
    plan = benchlib.PublishPlan(config)
    tally = benchlib.PublishTally()
    window = Window(plan.window)
    client = await connect(config["uri"])
    publish_all_events = emit_all if config.get("path", PUBLISH_PATH) == "emit" else publish_all
    go = defer.Deferred()

    def stop(capped):
        if capped:
            tally.capped = True
        else:
            tally.stopped = True
        window.halt()
        if not go.called:
            go.callback(None)

    def command(line):
        if line == "go":
            reactor.callFromThread(lambda: go.called or go.callback(None))
        elif line == "stop":
            reactor.callFromThread(stop, False)

    benchlib.watch_commands(command)
    benchlib.emit("ready")
    await go
    plan.go()
    reactor.callLater(max(0, plan.deadline - time.time()), stop, True)
    if not window.halted:
        await publish_all_events(client, plan, window, tally)
    tally.report(outstanding=window.outstanding, path=config.get("path", PUBLISH_PATH))
    os._exit(0)


def main():
    config = benchlib.load_config()

    def failed(failure):
        benchlib.emit("error", error=failure.getErrorMessage(), traceback=failure.getTraceback())
        os._exit(1)

    reactor.callWhenRunning(lambda: defer.ensureDeferred(run(config)).addErrback(failed))
    reactor.callLater(
        max(0, config["deadline"] + 5 - time.time()),
        lambda: (benchlib.emit("error", error="no result by the deadline"), os._exit(1)),
    )
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())

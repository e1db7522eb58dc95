"""
A benchmark subscriber process for Pyro 3's Event Server (Python 2.7): each
connection a Subscriber of Pyro.EventService.Clients with its own daemon,
listening on a thread of its own, as Pyro's stresstest consumer runs twenty
of them.  Threading is left on (Pyro's default: each event may run on a
thread of its own) unless the configuration says otherwise; the slow
subscriber turns it off, or its sleeps would overlap and it would not be
slow at all.
"""

import os
import sys
import threading
import time

import benchlib
from Pyro.EventService.Clients import Subscriber


class BenchSubscriber(Subscriber):
    def __init__(self, uri, spec, tally, lifecycle, threaded):
        Subscriber.__init__(self, esURI=uri)
        self.tally = tally
        self.lifecycle = lifecycle
        self.slow = spec.get("slow_ms", 0) / 1000.0
        self.setThreading(threaded)
        if spec.get("subjects"):
            self.subscribe([str(subject) for subject in spec["subjects"]])
        if spec.get("patterns"):
            self.subscribeMatch([str(pattern) for pattern in spec["patterns"]])

    def event(self, event):
        self.lifecycle.record(self.tally, event.msg)
        if self.slow:
            time.sleep(self.slow)


def main():
    config = benchlib.load_config()
    lifecycle = benchlib.Lifecycle.for_connections(config)
    tallies = lifecycle.tallies
    try:
        for spec, tally in zip(config["connections"], tallies):
            threaded = 0 if spec.get("slow_ms") else config.get("threading", 1)
            subscriber = BenchSubscriber(str(config["uri"]), spec, tally, lifecycle, threaded)
            listener = threading.Thread(target=subscriber.listen)
            listener.daemon = True
            listener.start()
    except Exception as error:
        benchlib.fail("subscribing failed: %r" % (error,))
    benchlib.emit("ready", connections=len(tallies))
    benchlib.watch_commands(lifecycle.command)
    lifecycle.report(lifecycle.wait())
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

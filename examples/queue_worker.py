#!/usr/bin/env python3
"""
Subscriber, Queue, worker: the pattern of the Pyro manual's "Threads,
Subscribers and Queues".  event() may run on several threads at once; here
it only puts each event in a queue.Queue, and one worker thread takes them
out one by one, so the real work is done by a single thread, one event at a
time.

    twistd -n eventd                             # the server
    python queue_worker.py [--count N] [--seconds S] [--work S]
    python stockquotes/publisher.py              # something to work on

It handles the stock quotes of the stockquotes example (every subject
STOCKQUOTE.*).  It finds the server through EVENTD_ENDPOINT, or
tcp:127.0.0.1:7766.

The queue is bounded: when the worker falls behind and the queue is full,
event() waits, eventd's client stops reading, and the server's queue policy
for this subscriber applies (publishers wait, or events are dropped), rather
than this program's memory growing.
"""

import argparse
import queue
import sys
import threading
import time

from eventd.blocking import Subscriber
from eventd.errors import NamingError

QUEUE_SIZE = 100


class QueueingSubscriber(Subscriber):
    """
    Puts every event into a queue, for the worker to take.
    """

    def __init__(self, events):
        Subscriber.__init__(self)
        self.events = events
        self.stopped = threading.Event()
        self.subscribeMatch(r"^STOCKQUOTE\..*$")

    def event(self, event):
        # Wait while the queue is full, but not once stopped: the worker
        # may be gone, and listen() returns only when every event() has.
        while not self.stopped.is_set():
            try:
                self.events.put(event, timeout=0.5)
                return
            except queue.Full:
                pass

    def abort(self):
        self.stopped.set()
        Subscriber.abort(self)


class Worker(threading.Thread):
    """
    Takes events out of the queue and handles them, one at a time, until it
    takes None (or has handled C{limit}; it then stops the subscriber too).
    """

    def __init__(self, events, subscriber, limit=None, work=0.0):
        threading.Thread.__init__(self, name="worker")
        self.events = events
        self.subscriber = subscriber
        self.limit = limit
        self.work = work
        self.handled = 0

    def run(self):
        while self.limit is None or self.handled < self.limit:
            event = self.events.get()
            if event is None:
                break
            self.handle(event)
        self.subscriber.abort()

    def handle(self, event):
        self.handled += 1
        print(f"worker: #{self.handled} {event.subject} = {event.msg}"
              f" ({self.events.qsize()} waiting)", flush=True)
        time.sleep(self.work)  # the slow part of the job


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after handling N events (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--work", type=float, default=0.2, metavar="S",
                        help="how long handling one event takes (default 0.2)")
    args = parser.parse_args()

    events = queue.Queue(QUEUE_SIZE)
    try:
        subscriber = QueueingSubscriber(events)
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    worker = Worker(events, subscriber, args.count, args.work)
    worker.start()
    if args.seconds is not None:
        timer = threading.Timer(args.seconds, subscriber.abort)
        timer.daemon = True
        timer.start()
    print("Listening; one worker handles the events.", flush=True)
    try:
        subscriber.listen()
    except KeyboardInterrupt:
        pass
    # Tell the worker that no more events will come, once it has handled
    # those in the queue (unless it stopped by itself already).
    while worker.is_alive():
        try:
            events.put(None, timeout=0.5)
            break
        except queue.Full:
            pass
    worker.join()
    print("The worker handled", worker.handled, "events.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

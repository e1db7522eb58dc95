"""
A benchmark publisher process for Pyro 3's Event Server (Python 2.7): the
Publisher class of Pyro.EventService.Clients, given the server's URI (no
name server), publishing one event per call as its manual shows.  Each
publish() takes a fresh proxy (a new connection), which is how that class
works.
"""

import sys

import benchlib
from Pyro.EventService.Clients import Publisher


def main():
    config = benchlib.load_config()
    plan = benchlib.PublishPlan(config)
    tally = benchlib.PublishTally()
    try:
        publisher = Publisher(esURI=str(config["uri"]))
    except Exception as error:
        benchlib.fail("cannot use the server's URI: %r" % (error,))

    def publish_batch(seqs):
        for seq in seqs:
            tally.sent()
            publisher.publish(str(plan.subject(seq)), tuple(plan.message(seq)))
            tally.answered()

    benchlib.run_blocking_publisher(plan, tally, publish_batch)


if __name__ == "__main__":
    sys.exit(main())

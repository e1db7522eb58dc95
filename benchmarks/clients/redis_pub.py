"""
A benchmark publisher process for Redis, with redis-py as its documentation
shows: PUBLISH on one client.  Unpaced runs send C{window} PUBLISH commands
per pipeline round trip (a non-transactional pipeline, redis-py's own way to
batch), the counterpart of the window of outstanding publishes the eventd
publisher keeps; a paced run (the latency workload) publishes one at a time.
"""

import json
import sys

import benchlib
import redis


def main():
    config = benchlib.load_config()
    host, port = config["uri"].rsplit(":", 1)
    plan = benchlib.PublishPlan(config)
    tally = benchlib.PublishTally()
    try:
        client = redis.Redis(host=host, port=int(port))
        client.ping()
    except Exception as error:
        benchlib.fail("cannot reach the server: %r" % (error,))

    def publish_batch(seqs):
        if len(seqs) == 1:
            seq = seqs[0]
            tally.sent()
            client.publish(plan.subject(seq), json.dumps(plan.message(seq)))
            tally.answered()
            return
        pipe = client.pipeline(transaction=False)
        for seq in seqs:
            tally.sent()
            pipe.publish(plan.subject(seq), json.dumps(plan.message(seq)))
        pipe.execute()
        for _ in seqs:
            tally.answered()

    benchlib.run_blocking_publisher(
        plan, tally, publish_batch, batch=1 if plan.rate else plan.window
    )


if __name__ == "__main__":
    sys.exit(main())

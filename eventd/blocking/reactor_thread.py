"""
Calling Twisted code from plain, blocking threads.

crochet runs the reactor in a thread of its own, started once per process
the first time it is needed; L{wait_for} runs a call there and waits for its
result.  eventd's blocking clients and its embeddable starter share that one
reactor thread.
"""

from typing import Any, Callable, Optional

import crochet


def wait_for(call: Callable[..., Any], *args: Any, timeout: Optional[float] = None) -> Any:
    """
    Run C{call(*args)} in the reactor thread and wait for its result (or its
    Deferred's), raising its error here.

    @raise crochet.TimeoutError: after C{timeout} seconds without a result
        (the Deferred is then cancelled).
    """
    crochet.setup()
    result = crochet.run_in_reactor(call)(*args)
    try:
        return result.wait(timeout)
    except crochet.TimeoutError:
        result.cancel()
        raise

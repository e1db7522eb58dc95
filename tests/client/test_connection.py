"""
The client's connection, in memory: event order, handlers that make it
wait, and when it stops reading.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from eventd.client.connection import INBOX_HIGH, INBOX_LOW, ClientProtocol
from eventd.wire.commands import Subscribe, deliver_box
from eventd.wire.records import encode_event


def deliver(protocol: ClientProtocol, *payloads: bytes) -> None:
    records = [encode_event("s", 1.0, "raw", payload) for payload in payloads]
    protocol.dataReceived(deliver_box(records))


class ClientProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.handled = []
        self.busy = None
        self.lost = []
        self.protocol = ClientProtocol(self.dispatch, self.lost.append)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def dispatch(self, event):
        self.handled.append(event.payload)
        return self.busy

    def test_events_are_handled_in_order(self):
        deliver(self.protocol, b"1", b"2")
        deliver(self.protocol, b"3")
        self.assertEqual(self.handled, [b"1", b"2", b"3"])

    def test_a_handler_deferred_holds_back_later_events_until_it_fires(self):
        self.busy = Deferred()
        deliver(self.protocol, b"1", b"2", b"3")
        self.assertEqual(self.handled, [b"1"])
        waiting, self.busy = self.busy, None
        waiting.callback(None)
        self.assertEqual(self.handled, [b"1", b"2", b"3"])

    def test_a_failed_handler_deferred_still_lets_later_events_through(self):
        self.busy = Deferred()
        deliver(self.protocol, b"1", b"2")
        waiting, self.busy = self.busy, None
        waiting.errback(RuntimeError("handled elsewhere"))
        self.assertEqual(self.handled, [b"1", b"2"])

    def test_already_fired_deferreds_do_not_recurse(self):
        self.busy = succeed(None)
        deliver(self.protocol, *[b"%d" % n for n in range(20_000)])
        self.assertEqual(len(self.handled), 20_000)

    def test_reading_stops_while_events_pile_up_and_resumes_when_drained(self):
        self.busy = Deferred()
        deliver(self.protocol, *[b"x"] * (INBOX_HIGH + 1))
        self.assertEqual(self.transport.producerState, "paused")
        waiting = self.busy
        self.busy = None
        waiting.callback(None)
        self.assertEqual(len(self.handled), INBOX_HIGH + 1)
        self.assertEqual(self.transport.producerState, "producing")

    def test_reading_goes_on_while_a_call_awaits_its_answer(self):
        """
        A handler that subscribes and waits must get its answer, even if it
        sits behind events we would otherwise not read yet.
        """
        self.busy = Deferred()
        deliver(self.protocol, *[b"x"] * (INBOX_HIGH + 1))
        self.assertEqual(self.transport.producerState, "paused")
        answer = self.protocol.call(Subscribe, subjects=["more"])
        self.assertEqual(self.transport.producerState, "producing")
        [request] = amp.parseString(self.transport.value())
        self.protocol.dataReceived(amp.AmpBox({amp.ANSWER: request[amp.ASK]}).serialize())
        self.assertEqual(self.successResultOf(answer), {})
        self.assertEqual(self.transport.producerState, "paused")

    def test_resumes_only_at_the_low_mark(self):
        self.busy = Deferred()
        deliver(self.protocol, *[b"x"] * (INBOX_HIGH + 1))
        for _ in range(INBOX_HIGH - INBOX_LOW - 1):
            waiting = self.busy
            self.busy = Deferred()
            waiting.callback(None)
        self.assertEqual(self.transport.producerState, "paused")
        waiting, self.busy = self.busy, Deferred()
        waiting.callback(None)
        self.assertEqual(self.transport.producerState, "producing")

    def test_losing_the_connection_is_reported(self):
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.lost, [self.protocol])


class ServerMessagesTests(SynchronousTestCase):
    """
    What the server may say besides events: a heartbeat to answer, a
    goodbye to heed, and how many events it dropped.
    """

    def setUp(self):
        self.events = []
        self.protocol = ClientProtocol(self.events.append, lambda protocol: None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def test_a_heartbeat_is_answered(self):
        self.protocol.dataReceived(amp.AmpBox(_command=b"heartbeat", _ask=b"7").serialize())
        [answer] = amp.parseString(self.transport.value())
        self.assertEqual(answer, amp.AmpBox(_answer=b"7"))

    def test_a_goodbye_is_kept_and_logged(self):
        box = amp.AmpBox(_command=b"goodbye", code=b"SLOW_CONSUMER", reason=b"too slow")
        with capturedLogs() as logged:
            self.protocol.dataReceived(box.serialize())
        self.assertEqual(self.protocol.goodbye, ("SLOW_CONSUMER", "too slow"))
        [line] = [formatEvent(e) for e in logged]
        self.assertIn("closes the connection: SLOW_CONSUMER: too slow", line)
        self.assertEqual(self.transport.value(), b"")

    def test_events_carry_how_many_were_dropped_before_them(self):
        records = [encode_event("s", 1.0, "raw", b"%d" % n) for n in range(3)]
        self.protocol.dataReceived(deliver_box(records, {0: 4, 2: 1}))
        self.assertEqual([e.dropped_before for e in self.events], [4, 0, 1])

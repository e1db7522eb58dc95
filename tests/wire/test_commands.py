"""
Tests for L{eventd.wire.commands}: chunked values and the Deliver box.
"""

import msgpack
from twisted.protocols import amp
from twisted.trial.unittest import SynchronousTestCase

from eventd.errors import BadArguments, LimitExceeded
from eventd.wire.arguments import EmittedBatch, Names
from eventd.wire.commands import Deliver, Publish, deliver_box
from eventd.wire.records import WireEvent, decode_events, encode_event


def payload_of(size: int) -> bytes:
    """
    C{size} bytes that differ from chunk to chunk, so misordered chunks show.
    """
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


def publish_box(payload: bytes) -> amp.AmpBox:
    return Publish.makeArguments(
        {"subjects": ["news"], "codec": "raw", "payload": payload}, None
    )


EVENTS = [
    WireEvent("news", 1.5, "json", b'{"a":1}'),
    WireEvent("Big.Event", 2.25, "raw", payload_of(70_000)),
    WireEvent("été", 3.0, "raw", b""),
]


class ChunkedBytesTests(SynchronousTestCase):
    def assertChunks(self, size: int, chunk_sizes: list[int]) -> None:
        """
        A payload of C{size} bytes goes out as C{payload}, C{payload.2}, ...
        of C{chunk_sizes} bytes, and comes back whole.
        """
        payload = payload_of(size)
        box = publish_box(payload)
        keys = [b"payload"] + [b"payload.%d" % n for n in range(2, len(chunk_sizes) + 1)]
        self.assertEqual([len(box[key]) for key in keys], chunk_sizes)
        self.assertNotIn(b"payload.%d" % (len(chunk_sizes) + 1), box)
        wire = amp.parseString(box.serialize())[0]
        self.assertEqual(Publish.parseArguments(wire, None)["payload"], payload)

    def test_empty_payload_is_one_empty_value(self) -> None:
        self.assertChunks(0, [0])

    def test_payload_of_65535_bytes_is_one_value(self) -> None:
        self.assertChunks(65_535, [65_535])

    def test_payload_of_65536_bytes_is_two_values(self) -> None:
        self.assertChunks(65_536, [65_535, 1])

    def test_payload_of_200000_bytes_is_four_values(self) -> None:
        self.assertChunks(200_000, [65_535, 65_535, 65_535, 3_395])


class DeliverTests(SynchronousTestCase):
    records = [encode_event(*event[:4]) for event in EVENTS]

    def test_deliver_box_is_what_deliver_would_send(self) -> None:
        box = Deliver.makeArguments({"events": EVENTS}, None)
        box[amp.COMMAND] = Deliver.commandName
        self.assertEqual(deliver_box(self.records), box.serialize())

    def test_deliver_box_parses_back_to_the_events_in_order(self) -> None:
        [box] = amp.parseString(deliver_box(self.records))
        self.assertEqual(box[amp.COMMAND], b"deliver")
        self.assertEqual(Deliver.parseArguments(box, None)["events"], EVENTS)

    def test_decode_events_ignores_extra_trailing_elements(self) -> None:
        record = msgpack.packb(["news", 1.5, "raw", b"p", {"future": True}])
        self.assertEqual(
            decode_events(record + self.records[0]),
            [WireEvent("news", 1.5, "raw", b"p"), EVENTS[0]],
        )


class NamesTests(SynchronousTestCase):
    """
    Lists of subjects or patterns: AMP's ListOf(Unicode) on the wire, at
    most a thousand of them.
    """

    def decode(self, value: bytes) -> list[str]:
        return Names().fromString(value)

    def test_the_wire_form_is_amps(self):
        names = ["weather", "news", "straße", ""]
        self.assertEqual(Names().toString(names), amp.ListOf(amp.Unicode()).toString(names))
        self.assertEqual(self.decode(Names().toString(names)), names)

    def test_more_than_a_thousand_are_refused_without_decoding_them_all(self):
        error = self.assertRaises(LimitExceeded, self.decode, b"\x00\x00" * 32767)
        self.assertIn("at most 1000", str(error))
        self.assertEqual(len(self.decode(b"\x00\x00" * 1000)), 1000)

    def test_a_list_ending_inside_an_item_or_a_length_is_refused(self):
        self.assertRaises(BadArguments, self.decode, b"\x00\x05ab")
        self.assertRaises(BadArguments, self.decode, b"\x00\x01a\x00")

    def test_names_must_be_utf8(self):
        self.assertRaises(UnicodeDecodeError, self.decode, b"\x00\x02\xff\xfe")


class EmittedBatchTests(SynchronousTestCase):
    """
    The publishes of an Emit: MessagePack records, whole, with no array
    longer than a publish may ever name subjects.
    """

    def decode(self, value: bytes) -> list[object]:
        return EmittedBatch().fromString(value)

    def test_records_decode_in_order(self):
        records = [(["a", "b"], "raw", b"1"), (["c"], "json", b"2")]
        value = EmittedBatch().toString(records)
        self.assertEqual(self.decode(value), [list(record) for record in records])

    def test_more_than_a_thousand_subjects_are_refused_once_the_length_is_read(self):
        self.assertEqual(len(self.decode(msgpack.packb([["s"] * 1000, "raw", b""]))[0][0]), 1000)
        error = self.assertRaises(
            LimitExceeded, self.decode, msgpack.packb([["s"] * 1001, "raw", b""])
        )
        self.assertIn("names more than 1000 subjects", str(error))

    def test_an_unfinished_record_is_refused(self):
        value = msgpack.packb([["s"], "raw", b"payload"])
        error = self.assertRaises(BadArguments, self.decode, value[:-3])
        self.assertIn("end inside a MessagePack value", str(error))

"""
Tests for L{eventd.codecs}.
"""

from twisted.trial.unittest import SynchronousTestCase

from eventd.codecs import JSON, RAW, codec_named


class JSONCodecTests(SynchronousTestCase):
    def test_round_trip_gives_back_the_message(self) -> None:
        message = {"name": "été", "n": 3, "x": 1.5, "ok": True, "none": None}
        self.assertEqual(JSON.decode(JSON.encode(message)), message)

    def test_tuples_arrive_as_lists(self) -> None:
        self.assertEqual(JSON.decode(JSON.encode({"t": (1, 2)})), {"t": [1, 2]})

    def test_encoding_gives_bytes(self) -> None:
        self.assertIsInstance(JSON.encode([1]), bytes)

    def test_unserializable_message_is_refused_naming_its_type(self) -> None:
        error = self.assertRaises(TypeError, JSON.encode, {1, 2})
        self.assertIn("set", str(error))
        self.assertIn("another codec", str(error))


class RawCodecTests(SynchronousTestCase):
    def test_bytes_pass_through_unchanged(self) -> None:
        data = bytes(range(256))
        self.assertEqual(RAW.decode(RAW.encode(data)), data)

    def test_bytearray_is_sent_as_bytes(self) -> None:
        self.assertEqual(RAW.encode(bytearray(b"ab")), b"ab")

    def test_str_is_refused(self) -> None:
        error = self.assertRaises(TypeError, RAW.encode, "text")
        self.assertIn("str", str(error))


class CodecNamedTests(SynchronousTestCase):
    def test_known_names_give_their_codecs(self) -> None:
        self.assertEqual((codec_named("json"), codec_named("raw")), (JSON, RAW))

    def test_unknown_name_is_refused_listing_known_codecs(self) -> None:
        error = str(self.assertRaises(ValueError, codec_named, "pickle"))
        for name in ("pickle", "json", "raw"):
            self.assertIn(name, error)

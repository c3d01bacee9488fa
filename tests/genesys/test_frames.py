import base64
import json

from streams.genesys.frames import Decoded, DecodeError, Encoding, decode_frame, preview, scrub_nul

EVENT = {"type": "agentassist.insight", "id": "evt-1", "confidence": 0.9}


def test_it_decodes_a_text_frame():
    assert decode_frame(json.dumps(EVENT)) == Decoded(EVENT, Encoding.TEXT)


def test_it_decodes_a_binary_utf8_json_frame():
    assert decode_frame(json.dumps(EVENT).encode()) == Decoded(EVENT, Encoding.BINARY_JSON)


def test_it_decodes_a_binary_json_frame_with_leading_whitespace():
    decoded = decode_frame(b"  \n" + json.dumps(EVENT).encode())
    assert decoded == Decoded(EVENT, Encoding.BINARY_JSON)


def test_it_decodes_a_binary_base64_json_frame():
    raw = base64.b64encode(json.dumps(EVENT).encode())
    assert decode_frame(raw) == Decoded(EVENT, Encoding.BINARY_BASE64)


def test_it_keeps_non_ascii_text_intact_in_every_encoding():
    event = {"type": "x", "text": "Grüße, 東京 — ok"}
    text = json.dumps(event, ensure_ascii=False)
    for raw in (text, text.encode(), base64.b64encode(text.encode())):
        assert decode_frame(raw).payload == event


def test_it_reports_malformed_text_json_as_a_value():
    result = decode_frame('{"type": "agentassist.insight", ')
    assert isinstance(result, DecodeError)
    assert result.encoding is Encoding.TEXT
    assert "not valid JSON" in result.reason


def test_it_reports_binary_that_is_neither_json_nor_base64():
    result = decode_frame(b"!!not*base64!!")
    assert isinstance(result, DecodeError)
    assert "neither JSON nor base64" in result.reason


def test_it_reports_base64_that_is_not_json():
    result = decode_frame(base64.b64encode(b"hello there"))
    assert isinstance(result, DecodeError)
    assert result.encoding is Encoding.BINARY_BASE64
    assert "not valid JSON" in result.reason


def test_it_reports_base64_that_is_not_utf8():
    result = decode_frame(base64.b64encode(b"\xff\xfe\xfa"))
    assert isinstance(result, DecodeError)
    assert "UTF-8" in result.reason


def test_it_reports_binary_json_that_is_not_utf8():
    result = decode_frame(b'{"a": "\xff"}')
    assert isinstance(result, DecodeError)
    assert "UTF-8" in result.reason


def test_it_refuses_json_that_is_not_an_object():
    result = decode_frame("[1, 2, 3]")
    assert isinstance(result, DecodeError)
    assert "JSON list, expected an object" in result.reason


def test_it_survives_absurd_nesting():
    result = decode_frame("[" * 100_000 + "]" * 100_000)
    assert isinstance(result, DecodeError)


def test_it_replaces_nul_characters_that_postgresql_cannot_store():
    decoded = decode_frame('{"type": "a\\u0000b", "nested": [{"k\\u0000": "v"}]}')
    assert decoded.payload == {"type": "a\ufffdb", "nested": [{"k\ufffd": "v"}]}
    assert scrub_nul("plain") == "plain"
    # Only the escape can carry a NUL: a raw one in a string is not JSON at all.
    for raw in ('{"type": "a\x00b"}', b'{"type": "a\x00b"}'):
        assert "not valid JSON" in decode_frame(raw).reason


def test_preview_is_bounded_and_printable():
    assert preview(b"\x00abc\xff" + b"x" * 100, 10) == "\\x00abc\\xffx"[:10]
    assert preview("short", 10) == "short"

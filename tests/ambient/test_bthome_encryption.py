"""Encrypted BTHome v2: the spec's example, wrong keys, the keys file, `ble decode-advert`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from edgeagent_drivers.ambient.ble_keys import load_keys
from edgeagent_drivers.ambient.formats import (
    AdvertPayloadError,
    DecryptionError,
    EncryptedPayloadError,
    decode,
)
from edgeagent_drivers.ambient.secure_adverts import (
    AdvertDecoder,
    DuplicateFrameError,
    ReplayedCounterError,
)
from edgeagent_mocks.ble import encoders
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeagent.cli.main import main
from edgeagent.errors import ConfigError, PayloadError

# https://bthome.io/encryption/ : the worked example.
SPEC_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
SPEC_MAC = "54:48:E6:8F:80:A5"
SPEC_DATA = bytes.fromhex("41a47266c95f730011223378237214")


def test_spec_example_decrypts_to_temperature_and_humidity() -> None:
    frame = decode("fcd2", SPEC_DATA, mac=SPEC_MAC, key=SPEC_KEY)
    assert frame.values == {"temperature": 25.06, "humidity": 50.55}
    assert frame.encrypted is True
    assert frame.counter == int.from_bytes(bytes.fromhex("00112233"), "little")


def test_mock_encoder_matches_the_spec_example() -> None:
    # The test-side sealer (written from the spec) reproduces the spec's bytes exactly.
    plain = bytes.fromhex("4002ca0903bf13")
    assert encoders.bthome_encrypted(plain, SPEC_MAC, SPEC_KEY, 0x33221100) == SPEC_DATA


def test_wrong_key_wrong_mac_or_flipped_bit_fail_the_mic() -> None:
    with pytest.raises(DecryptionError, match="wrong bind key"):
        decode("fcd2", SPEC_DATA, mac=SPEC_MAC, key=bytes(16))
    with pytest.raises(DecryptionError):
        decode("fcd2", SPEC_DATA, mac="54:48:E6:8F:80:A6", key=SPEC_KEY)
    flipped = bytearray(SPEC_DATA)
    flipped[2] ^= 0x01
    with pytest.raises(DecryptionError):
        decode("fcd2", bytes(flipped), mac=SPEC_MAC, key=SPEC_KEY)


def test_encrypted_without_a_key_and_truncated_frames_say_why() -> None:
    with pytest.raises(EncryptedPayloadError, match="no bind key"):
        decode("fcd2", SPEC_DATA)
    with pytest.raises(AdvertPayloadError, match="truncated"):
        decode("fcd2", SPEC_DATA[:8], mac=SPEC_MAC, key=SPEC_KEY)


def test_decoder_refuses_repeated_and_older_counters() -> None:
    decoder = AdvertDecoder({SPEC_MAC: SPEC_KEY})
    plain = bytes.fromhex("4002ca0903bf13")
    first = encoders.bthome_encrypted(plain, SPEC_MAC, SPEC_KEY, 10)
    assert decoder.decode(SPEC_MAC, "fcd2", first).counter == 10
    with pytest.raises(DuplicateFrameError):
        decoder.decode(SPEC_MAC, "fcd2", first)
    newer = encoders.bthome_encrypted(plain, SPEC_MAC, SPEC_KEY, 11)
    assert decoder.decode(SPEC_MAC.lower(), "fcd2", newer).counter == 11
    with pytest.raises(ReplayedCounterError, match="older"):
        decoder.decode(SPEC_MAC, "fcd2", first)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=48), encrypted=st.booleans())
def test_arbitrary_bytes_through_decrypt_and_parse_raise_only_payload_errors(
        body: bytes, encrypted: bool) -> None:
    decoder = AdvertDecoder({SPEC_MAC: SPEC_KEY})
    payload = (bytes([0x41]) if encrypted else b"") + body
    try:
        frame = decoder.decode(SPEC_MAC, "fcd2", payload)
    except PayloadError:
        return
    assert all(isinstance(v, int | float | bool | str) for v in frame.values.values())


@settings(max_examples=200, deadline=None)
@given(objects=st.binary(max_size=24), counter=st.integers(0, 2**32 - 1))
def test_any_sealed_object_bytes_decrypt_then_parse_or_raise_payload_errors(
        objects: bytes, counter: int) -> None:
    sealed = encoders.bthome_encrypted(b"\x40" + objects, SPEC_MAC, SPEC_KEY, counter)
    try:
        frame = decode("fcd2", sealed, mac=SPEC_MAC, key=SPEC_KEY)
    except PayloadError as exc:
        assert not isinstance(exc, DecryptionError)  # the MIC of a sealed frame always holds
        return
    assert frame.counter == counter


# --- the keys file ---


def _keys_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "ble-keys.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_keys_file_loads_keys_by_upper_case_mac(tmp_path: Path) -> None:
    path = _keys_file(tmp_path, '[devices."54:48:e6:8f:80:a5"]\n'
                                f'key = "{SPEC_KEY.hex()}"\n')
    assert load_keys(path) == {SPEC_MAC: SPEC_KEY}


def test_keys_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = _keys_file(tmp_path, "", mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_keys(path)
    assert info.value.key == "keys_file"


@pytest.mark.parametrize(("text", "key", "reason"), [
    ('[devices."54:48:E6:8F:80:A5"]\nkey = "abcd"\n', 'devices."54:48:E6:8F:80:A5".key',
     "has 4"),
    ('[devices."54:48:E6:8F:80:A5"]\nkey = "zz1d39c1d7cc1ab1aee224cd096db932"\n',
     'devices."54:48:E6:8F:80:A5".key', "not hex"),
    ('[devices."not-a-mac"]\nkey = "00"\n', 'devices."not-a-mac"', "not a MAC"),
    ('[devices."54:48:E6:8F:80:A5"]\nkee = "00"\n', 'devices."54:48:E6:8F:80:A5"',
     "exactly one entry"),
])
def test_bad_keys_file_names_the_key_and_never_echoes_a_key(
        tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = _keys_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_keys(path)
    assert info.value.key == key
    assert reason in info.value.reason
    assert "zz1d39" not in str(info.value)


# --- edgeagent ble decode-advert ---


def test_decode_advert_spec_example_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ble", "decode-advert", SPEC_DATA.hex(), "--mac", SPEC_MAC,
                 "--key", SPEC_KEY.hex(), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["encrypted"] is True
    assert doc["objects"] == {"temperature": 25.06, "humidity": 50.55}
    assert SPEC_KEY.hex() not in json.dumps(doc)


def test_decode_advert_plain_bthome_and_pvvx(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode-advert", "4002ca0903bf13"]) == 0
    out = capsys.readouterr().out
    assert "temperature: 25.06" in out and "humidity: 50.55" in out
    pvvx = "a5808fe64854" "d007" "8813" "860b" "5a" "07" "00"
    assert main(["ble", "decode-advert", pvvx, "--uuid", "181a", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "pvvx" and doc["objects"]["temperature"] == 20.0


@pytest.mark.parametrize(("argv", "reason"), [
    (["--mac", SPEC_MAC, "--key", "00" * 16], "MIC check failed"),
    ([], "no bind key"),
])
def test_decode_advert_rejections_exit_1_with_the_reason(
        argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode-advert", SPEC_DATA.hex(), *argv, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and reason in doc["reason"]


@pytest.mark.parametrize(("argv", "reason"), [
    (["4102ca", "--mac", SPEC_MAC, "--key", SPEC_KEY.hex()], "truncated"),
    (["0002ca09"], "only version 2"),
    (["0102", "--uuid", "181a"], "expected 13 (atc1441)"),
])
def test_decode_advert_truncated_or_unsupported_exit_1(
        argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode-advert", *argv]) == 1
    assert reason in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["zz"], [SPEC_DATA.hex(), "--key", SPEC_KEY.hex()],
    [SPEC_DATA.hex(), "--mac", SPEC_MAC, "--key", "1234"],
    [SPEC_DATA.hex(), "--mac", "nope", "--key", SPEC_KEY.hex()],
])
def test_decode_advert_bad_arguments_exit_2(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode-advert", *argv]) == 2
    err = capsys.readouterr().err
    assert "edgeagent:" in err and SPEC_KEY.hex() not in err

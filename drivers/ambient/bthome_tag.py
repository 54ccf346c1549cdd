"""Is this BTHome advert from her tag? Pure: one tag's MAC and bind key, adverts in, verdicts out.

A plain BTHome tag carries no identity of its own: it is hers only when it
comes from her tag's address and its service data decodes as BTHome v2.

An encrypting tag is identified by its key, not its address: a frame that
decrypts (AES-CCM, the MIC matches) with her bind key was sealed by her tag,
whatever address it was sent from (a tag with a rotating random private
address). The nonce holds a MAC: her tag's own address is tried first, then
the address the frame came from. Only frames with a new counter count as
heard: the same counter again is a repeat (the device sends each frame a few
times), an older one a replay; neither may keep a departed tag "present".
With a key, plain frames from her address do not count either (anyone can
send them).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeagent.errors import PayloadError

from . import bthome
from .formats import DecryptionError, EncryptedPayloadError, EnvFrame

_ENCRYPTED = 0x01


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one advert says about the tag.

    `hers`: the advert is from her tag (or her address); `heard`: it counts for
    presence; `counter`: the status counter to increment; `problem`: a health
    message when something is wrong with her tag's adverts ("" when not).
    """

    hers: bool
    heard: bool = False
    counter: str = "ignored_adverts"
    problem: str = ""


NOT_HERS = Verdict(hers=False)


class BthomeTag:
    """One configured BTHome tag: its address, its bind key (or None) and its newest counter."""

    def __init__(self, mac: str, key: bytes | None) -> None:
        self.mac = mac.upper()
        self._key = key
        self._last_counter: int | None = None
        self.encrypted = key is not None
        self.last_address: str | None = None

    def check(self, sender: str, payload: bytes) -> Verdict:
        """The verdict on one BTHome service-data payload from `sender`; never raises."""
        sender = sender.upper()
        from_her_address = sender == self.mac
        if self._key is None:
            return self._plain(payload) if from_her_address else NOT_HERS
        if not payload or not payload[0] & _ENCRYPTED:
            if not from_her_address:
                return NOT_HERS
            return Verdict(True, counter="unencrypted_frames", problem=(
                "sends unencrypted adverts although the keys file has its bind key (a "
                "frame anyone could send; not counted as heard)"))
        frame, problem = self._decrypt(sender, payload)
        if frame is None:
            if not from_her_address:
                return NOT_HERS
            return problem
        return self._fresh(frame, sender)

    def _plain(self, payload: bytes) -> Verdict:
        try:
            bthome.parse(payload)
        except EncryptedPayloadError:
            return Verdict(True, counter="encrypted_payloads", problem=(
                f"adverts are encrypted and the keys file has no bind key for {self.mac}"))
        except PayloadError as exc:
            return Verdict(True, counter="malformed_payloads", problem=f"malformed advert: {exc}")
        self.last_address = self.mac
        return Verdict(True, heard=True, counter="frames")

    def _decrypt(self, sender: str, payload: bytes) -> tuple[EnvFrame | None, Verdict]:
        assert self._key is not None
        failure = Verdict(True, counter="decrypt_failures", problem=(
            "adverts do not decrypt with the bind key in the keys file (wrong key, or the "
            "device was re-keyed)"))
        for mac in dict.fromkeys((self.mac, sender)):
            try:
                return bthome.parse(payload, mac=mac, key=self._key), failure
            except DecryptionError:
                continue
            except PayloadError as exc:
                failure = Verdict(True, counter="malformed_payloads",
                                  problem=f"malformed advert: {exc}")
        return None, failure

    def _fresh(self, frame: EnvFrame, sender: str) -> Verdict:
        counter = frame.counter
        last = self._last_counter
        if counter is None:  # pragma: no cover - a decrypted frame always has one
            return Verdict(True, counter="malformed_payloads", problem="no counter")
        if last is not None and counter == last:
            return Verdict(True, counter="duplicate_frames")
        if last is not None and counter < last:
            return Verdict(True, counter="replayed_counters", problem=(
                "replayed or old frame refused: its counter is older than the newest heard (a "
                "replayed frame, or the device restarted its counter)"))
        self._last_counter = counter
        self.last_address = sender
        return Verdict(True, heard=True, counter="frames")

"""`audio.speech`: says a message to the resident, with espeak-ng or pre-recorded WAV files.

`engine = "espeak-ng"` synthesises the sentence in the home's language
(voices `cmn` for Mandarin, `en` for English; volume as espeak's amplitude).
`engine = "wav"` plays `<wav_dir>/<language>/<message>.wav` with ALSA's
`aplay` (a recorded voice the resident knows); a missing file falls back to
espeak-ng, so a new message is never silent. Either way the player runs as a
subprocess awaited off the event loop: an SOS is stored and sent while the
kit is still talking. One sentence at a time, in order.

`audio.record` is the test double: the same message resolution, but it
records (text, language, WAV seconds) instead of playing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from edgeagent.driver import HealthState
from edgeagent.errors import HardwareUnavailable
from edgeagent.output import Cue, Output, OutputContext, OutputOptions, Signal

VOICES = {"zh_CN": "cmn", "en": "en"}
PLAY_TIMEOUT_S = 60.0  # a player that hangs is killed; the next sentence must not wait forever


class SpeechOptions(OutputOptions):
    engine: Literal["espeak-ng", "wav"] = "espeak-ng"
    wav_dir: Path | None = None
    espeak: str = "espeak-ng"
    aplay: str = "aplay"
    device: str | None = Field(default=None, description="ALSA device for aplay (-D)")
    speed_wpm: int = Field(default=140, ge=80, le=300)


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    language: str
    wav: Path | None
    wav_seconds: float


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class SpeechOutput(Output):
    """Speaks `SPEAK`, `CHIME`-free: the buzzer chimes, this says the words."""

    Options: ClassVar[type[OutputOptions]] = SpeechOptions
    options: SpeechOptions
    audio: ClassVar[bool] = True

    def __init__(self, options: OutputOptions, context: OutputContext) -> None:
        super().__init__(options, context)
        self._lock = asyncio.Lock()

    def open(self) -> None:
        o = self.options
        if o.engine == "wav" and (o.wav_dir is None or not o.wav_dir.is_dir()):
            self.set_health(HealthState.DEGRADED,
                            f"wav_dir {o.wav_dir} is not a folder: speaking with espeak-ng")
        for program in ({o.aplay, o.espeak} if o.engine == "wav" else {o.espeak}):
            if shutil.which(program) is None:
                self.set_health(HealthState.FAILED, f"{program} not found")
                raise HardwareUnavailable(f"{self.name}: {program} not found "
                                          "(apt install espeak-ng alsa-utils)")
        if self.health.state is HealthState.STARTING:
            self.set_health(HealthState.OK)

    def utterance(self, cue: Cue) -> Utterance:
        o = self.options
        if o.engine == "wav" and o.wav_dir is not None and cue.message:
            path = o.wav_dir / cue.language / f"{cue.message}.wav"
            if path.is_file():
                try:
                    return Utterance(cue.text, cue.language, path, wav_seconds(path))
                except (OSError, EOFError, wave.Error):
                    self.count("bad_wav")
        return Utterance(cue.text, cue.language, None, 0.0)

    def command(self, said: Utterance) -> list[str]:
        o = self.options
        if said.wav is not None:
            device = ["-D", o.device] if o.device else []
            return [o.aplay, "-q", *device, str(said.wav)]
        amplitude = str(round(self.context.volume * 2))  # espeak: 0-200, 100 = normal
        return [o.espeak, "-v", VOICES.get(said.language, "en"), "-a", amplitude,
                "-s", str(o.speed_wpm), said.text]

    async def perform(self, cue: Cue) -> None:
        if cue.signal is not Signal.SPEAK or not cue.text:
            return
        said = self.utterance(cue)
        async with self._lock:  # one sentence at a time, in the order asked
            await self.play(said)
        self.count("spoken")

    async def play(self, said: Utterance) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self.command(said), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self.count("players_started")
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=PLAY_TIMEOUT_S)
        except asyncio.CancelledError:  # the agent stops: no player left talking behind it
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
            raise
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            self.count("timeouts")
            self.set_health(HealthState.DEGRADED, "player did not finish in "
                            f"{PLAY_TIMEOUT_S:.0f} s")
            return
        if proc.returncode != 0:
            self.count("failures")
            self.set_health(HealthState.DEGRADED, f"player exit {proc.returncode}: "
                            f"{err.decode(errors='replace').strip()[:200]}")
        elif self.health.state is not HealthState.OK:
            self.set_health(HealthState.OK)


class RecordingOptions(SpeechOptions):
    espeak: str = "true"
    aplay: str = "true"


class RecordingSpeech(SpeechOutput):
    """`audio.record`: what would have been said, for tests and the simulated home."""

    Options: ClassVar[type[OutputOptions]] = RecordingOptions
    audio: ClassVar[bool] = False

    def __init__(self, options: OutputOptions, context: OutputContext) -> None:
        super().__init__(options, context)
        self.said: list[tuple[str, str, float]] = []

    def open(self) -> None:
        self.set_health(HealthState.OK)

    async def play(self, said: Utterance) -> None:
        self.said.append((said.text, said.language, said.wav_seconds))

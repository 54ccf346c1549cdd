"""The unit's sound access, granted only to a kit that speaks.

The shipped unit allows no sound devices (`DevicePolicy=closed`). When the
config has an output that plays sound (`audio.speech`), `edgeagent install`
adds a drop-in allowing the ALSA devices and the `audio` group; when the
last such output is gone, the next install removes it again.
"""

from __future__ import annotations

from edgeagent.config import AgentConfig
from edgeagent.errors import UnknownOutputType
from edgeagent.output import load_output_class

DROPIN_FILE = "/etc/systemd/system/edgeagent.service.d/audio.conf"
GROUP = "audio"
DROPIN_TEXT = (
    "# Written by `edgeagent install`: an [[outputs]] table plays sound (audio.*).\n"
    "# Removed by the next install once no output does.\n"
    "[Service]\n"
    "DeviceAllow=char-alsa rw\n"
    f"SupplementaryGroups={GROUP}\n"
)


def speaking_outputs(config: AgentConfig) -> list[str]:
    """Names of the enabled outputs that need the sound devices."""
    names = []
    for opts in config.outputs:
        if not opts.enabled or not opts.type.startswith("audio."):
            continue
        try:
            needs_sound = load_output_class(opts.type).audio
        except UnknownOutputType:
            needs_sound = True  # validated already; if it vanished, grant rather than mute
        if needs_sound:
            names.append(opts.name)
    return names

"""What the kit says to the resident, by key (the key also names a recorded WAV file).

The English text is the gettext msgid; the catalogs carry the Chinese. The
home's language (`home.language`) picks the catalog, independently of the
language the technician's commands print in.
"""

from __future__ import annotations

import functools
import gettext

from edgeagent.i18n import DOMAIN, LOCALE_DIR, N_

MESSAGES = {
    "prealarm_ask": N_("Are you all right? If you are, press your button."),
    "sos_calling": N_("Calling for help"),
    "sos_acknowledged": N_("The call centre has your call"),
    "sos_link_down": N_("The network is down. Your alarm is stored and will be sent."),
    "checkin_reminder": N_("Good morning. Please press your I'm OK button."),
}


@functools.lru_cache(maxsize=8)
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[language], fallback=True)


def text(message: str, language: str) -> str:
    """The sentence for `message` in `language` (English when not translated)."""
    return _catalog(language).gettext(MESSAGES[message])

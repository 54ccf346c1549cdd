"""The ids of recently accepted downlink commands, kept across restarts.

While the kit's clock is unsynced a command's `ts` cannot be judged, so a
captured command replayed after a reboot is recognised only by its id. The
window is therefore saved (through the `save` callable, the agent's outbox
state) every time an id is added, and loaded when the agent starts.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)

WINDOW = 1000


class ReplayWindow:
    """The last `size` command ids; `save` gets the JSON list after every `add`."""

    def __init__(self, size: int = WINDOW, *, load: Callable[[], str | None] | None = None,
                 save: Callable[[str], None] | None = None) -> None:
        self.size = size
        self._save = save
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.save_errors = 0
        if load is not None:
            self._load(load)

    def _load(self, load: Callable[[], str | None]) -> None:
        try:
            raw = load()
            ids = json.loads(raw) if raw else []
        except Exception:  # an unreadable window must not stop the agent
            log.exception("stored command-id window unreadable; starting with an empty one")
            return
        if isinstance(ids, list):
            for command_id in ids[-self.size:]:
                if isinstance(command_id, str):
                    self._ids[command_id] = None

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, command_id: str) -> None:
        """Remember `command_id` and persist the window (a failure is logged and counted)."""
        self._ids[command_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        if self._save is None:
            return
        try:
            self._save(json.dumps(list(self._ids), separators=(",", ":")))
        except Exception:  # the command still runs; a restart may forget it
            self.save_errors += 1
            log.exception("could not persist the command-id window (%d failures)",
                          self.save_errors)

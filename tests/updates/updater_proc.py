"""`python -m tests.updates.updater_proc ROOT BUNDLE PUBKEY`: an updater the test can SIGKILL.

The service is not restarted for real (the step under test is before or at the
restart); EDGEAGENT_UPDATE_HOLD_AT stops it at a step until it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgeagent.updates.apply import Updater
from edgeagent.updates.bundle import trusted_keys
from edgeagent.updates.health import Baseline, Verdict


def main(root: str, bundle: str, pubkey: str) -> int:
    updater = Updater(Path(root), trusted_keys(Path(pubkey)), restart=lambda: None,
                      probe=lambda _: Verdict(True), baseline=Baseline, health_s=5)
    print(updater.apply(Path(bundle)).as_dict(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

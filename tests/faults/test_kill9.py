"""kill -9 at random instants under load while the broker restarts: no seq is lost.

The figures of the last run are printed (pytest -s) and quoted in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random

import pytest

from tests.faults.kill_trials import run_kill_trials

TRIALS = int(os.environ.get("EDGEAGENT_KILL_TRIALS", "50"))


@pytest.mark.timeout(240)
def test_sigkill_at_random_instants_loses_nothing_and_duplicates_only_unacked(tmp_path):
    seed = int(os.environ.get("EDGEAGENT_FAULT_SEED", random.randrange(1 << 30)))
    report = run_kill_trials(tmp_path, TRIALS, seed)
    print(json.dumps(report.summary()))
    assert report.trials >= 50 or "EDGEAGENT_KILL_TRIALS" in os.environ
    assert report.events > TRIALS, f"too little load to mean anything (seed {seed})"
    assert report.stored_seq_gaps == [], f"outbox numbering has gaps (seed {seed})"
    assert report.lost == [], f"platform never received {report.lost[:20]} (seed {seed})"
    assert report.unexplained_duplicates == [], (
        f"seqs delivered twice although their PUBACK was recorded: "
        f"{report.unexplained_duplicates[:20]} (seed {seed})")
    # The faults really hit the window between PUBLISH and the recorded PUBACK.
    assert report.kills_with_pending > 0
    assert report.broker_flaps > 0

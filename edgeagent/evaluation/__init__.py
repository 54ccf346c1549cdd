"""Alarm-quality evaluation of the safety engine on a recorded (or synthetic) home.

Ordinary life is replayed for false critical alerts; falls are injected at
night on the way to the toilet and during the day, and the alerts in the 4
hours after each are scored. `edgeagent evaluate` and `bench/evaluate_homes.py`
are thin shells over `evaluate_home`, which takes the home in memory.
"""

from edgeagent.evaluation.falls import Activity, FallPoint, day_falls, night_falls
from edgeagent.evaluation.files import HomeFiles, load_activities, load_home, parse_activities
from edgeagent.evaluation.run import (
    FALL_TYPES,
    EngineFactory,
    HomeEvaluation,
    InjectedFall,
    SeenAlert,
    evaluate_home,
    replay_engine,
)

__all__ = [
    "FALL_TYPES", "Activity", "EngineFactory", "FallPoint", "HomeEvaluation", "HomeFiles",
    "InjectedFall", "SeenAlert", "day_falls", "evaluate_home", "load_activities", "load_home",
    "night_falls", "parse_activities", "replay_engine",
]

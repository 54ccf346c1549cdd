"""Every parser that reads outside input, fuzzed in CI with bounded examples.

The same targets run for longer in `bench/fuzz.py`.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.security.fuzz_targets import TARGETS


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_survives_fuzzing(name):
    strategy, target = TARGETS[name]
    runner = settings(max_examples=100, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))(given(strategy)(target))
    runner()

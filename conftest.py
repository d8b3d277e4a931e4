"""Hypothesis profiles for every test directory (tests/ and conformance/).

No profile has a deadline: the project's tests carry no timing thresholds, and a shared
machine would make one flaky. ``ci`` (set by .ci/run) is also derandomized, so a CI run of a
given commit always tries the same examples; a local ``make test`` explores new ones each
time, which is how fuzz finds reach the regression tests.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "local"))

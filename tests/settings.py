"""Settings for the test suite: the project's settings with faster, quieter choices."""

from __future__ import annotations

from settings import *  # noqa: F403

# Hashing passwords with PBKDF2 dominates tests that create users; the algorithm is not under test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Test-only apps: civ_orm_compat's (the seed's User/Post models, the ported code's tables), the
# Gyro reload tests' (UUID keys, a self-reference, a foreign-key cycle) and plan_slice's (a
# diamond, a self-reference).
INSTALLED_APPS = [  # noqa: F405
    *INSTALLED_APPS,  # noqa: F405
    "tests.civ_app",
    "tests.civ_port",
    "tests.gyro_testapp",
    "tests.gyro_planning_app",
]

"""Without a chromium executable the browser tests are skipped, with a reason that says why."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from settings.database import BASE_DIR


def test_browser_tests_skip_with_a_reason_when_chromium_is_absent() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/admin/test_browser.py",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-q",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "ADMIN_TESTS_CHROMIUM": "/nonexistent/chromium"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* skipped", result.stdout), result.stdout
    assert "no chromium at /nonexistent/chromium: install Debian's `chromium` package" in (
        result.stdout
    )
    assert "passed" not in result.stdout and "failed" not in result.stdout

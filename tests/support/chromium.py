"""A real headless browser for page tests: Debian's Chromium, `--dump-dom` after the page ran.

`--virtual-time-budget` lets the page's timers and fetches run (its poll of
the state) before the DOM is printed, without the test sleeping.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no Chromium: scripts/test installs Debian's `chromium` "
                       "(apt-get install chromium)")


def dump_dom(url: str, *, budget_ms: int = 3000, timeout: float = 60.0) -> str:
    """The page's DOM after its scripts ran for `budget_ms` of virtual time."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout

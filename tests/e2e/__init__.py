"""Real-browser end-to-end tests: Playwright drives Debian's chromium against `credshare serve`."""

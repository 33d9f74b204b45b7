"""A link's access log in words its owner reads: the browser and system behind a stored
``User-Agent`` (RFC 9110 §10.1.5: product tokens, ``name/version``, with comments in
parentheses) and what each open came to.

The user agent is whatever the client sent (truncated to 200 characters when logged): it is
read, never trusted, and a string this does not recognise is "Unknown browser". The rules
below recognise the browsers and link previewers that open share links in practice; the order
matters, because most browsers also name the ones they descend from (Edge says "Chrome" and
"Safari", Chrome says "Safari").
"""

from __future__ import annotations

import re

MAX_AGENT_CHARS = 400  # more than is ever logged: anything longer is not looked into

# link previewers and programs: what they are, in words (the first token that matches wins)
_PROGRAMS: tuple[tuple[str, str], ...] = (
    ("slackbot", "Slack link preview"),
    ("facebookexternalhit", "Facebook link preview"),
    ("whatsapp", "WhatsApp link preview"),
    ("twitterbot", "X (Twitter) link preview"),
    ("linkedinbot", "LinkedIn link preview"),
    ("telegrambot", "Telegram link preview"),
    ("discordbot", "Discord link preview"),
    ("skypeuripreview", "Microsoft Teams or Skype link preview"),
    ("googlebot", "Google search crawler"),
    ("bingbot", "Bing search crawler"),
    ("curl/", "curl (a command-line program)"),
    ("wget/", "Wget (a command-line program)"),
    ("python-requests/", "A Python program"),
    ("python-urllib/", "A Python program"),
    ("python-httpx/", "A Python program"),
    ("go-http-client/", "A Go program"),
    ("node-fetch", "A Node.js program"),
    ("okhttp/", "An Android app"),
    ("credshare", "The credshare command-line tool"),
)

# browsers, most specific first: (token before the version, name)
_BROWSERS: tuple[tuple[str, str], ...] = (
    ("EdgA", "Edge"), ("EdgiOS", "Edge"), ("Edg", "Edge"), ("Edge", "Edge"),
    ("OPR", "Opera"), ("OPT", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("FxiOS", "Firefox"), ("Firefox", "Firefox"),
    ("HeadlessChrome", "Headless Chrome"),
    ("CriOS", "Chrome"), ("Chromium", "Chromium"), ("Chrome", "Chrome"),
)


def _system(agent: str) -> str | None:
    """The device or operating system named in the user agent's comment, in words."""
    if "iPhone" in agent:
        return "iPhone"
    if "iPad" in agent:
        return "iPad"
    if "Android" in agent:
        return "Android"
    if "Windows" in agent:
        return "Windows"
    if "CrOS" in agent:
        return "ChromeOS"
    if "Macintosh" in agent or "Mac OS X" in agent:
        return "macOS"
    if "Linux" in agent or "X11" in agent:
        return "Linux"
    return None


def _browser(agent: str) -> str | None:
    for token, name in _BROWSERS:
        found = re.search(rf"\b{token}/(\d{{1,4}})", agent)
        if found:
            return f"{name} {found.group(1)}"
    if "Safari/" in agent and ("Version/" in agent or "Mobile/" in agent):
        version = re.search(r"\bVersion/(\d{1,4})", agent)
        return f"Safari {version.group(1)}" if version else "Safari"
    if re.search(r"\bMSIE \d|\bTrident/", agent):
        return "Internet Explorer"
    return None


def browser_name(agent: str | None) -> str:
    """The browser (with its major version) and system a stored user agent names, e.g.
    "Chrome 131 on Windows", "Safari 17 on iPhone", "Slack link preview"; "Unknown browser"
    (on the system, when one is named) for anything else, including nothing at all."""
    agent = (agent or "").strip()
    if not agent or len(agent) > MAX_AGENT_CHARS:
        return "Unknown browser"
    lowered = agent.lower()
    for token, name in _PROGRAMS:
        if token in lowered:
            return name
    browser, system = _browser(agent), _system(agent)
    if browser is None:
        return f"Unknown browser on {system}" if system else "Unknown browser"
    return f"{browser} on {system}" if system else browser


_OUTCOMES = {
    "viewed": "Opened: the shared fields were shown",
    "viewed (API)": "Opened by a program (the JSON interface): the shared fields were sent",
    "bundle downloaded": "Downloaded the file for checking offline",
    "bundle downloaded (API)": "Downloaded the file for checking offline, by a program",
    "receipt": "Took the signed verification receipt",
    "receipt (API)": "Took the signed verification receipt, by a program",
    "passcode asked": "Asked for the passcode: nothing shown yet",
    "wrong passcode": "Wrong passcode: nothing shown",
    "locked": "Refused: the link is locked by wrong passcodes",
    "revoked": "Refused: you revoked the link",
    "expired": "Refused: the link had expired",
    "used up": "Refused: every allowed view was used",
    "asked to retry": "Asked to try again: someone else was entering the passcode",
}


def outcome_words(outcome: str | None) -> str:
    """What one open came to, in a sentence (the logged code stays on the page as data)."""
    text = str(outcome or "")
    if text in _OUTCOMES:
        return _OUTCOMES[text]
    base = text.removesuffix(" again")
    if base != text and base in _OUTCOMES:
        return f"{_OUTCOMES[base]} (again, by the same browser: not counted as a new view)"
    return (text[:1].upper() + text[1:]) if text else "Not recorded"

"""List-Unsubscribe (RFC 2369) with one-click (RFC 8058), and reading the mailto's replies.

Every e-mail carries an https link (POSTed by the mailbox provider's unsubscribe button) and a
mailto whose subject is "unsubscribe <token>": a reply to it carries the same signed token as
the link, so the service that reads its unsubscribe mailbox opts the customer out alike.
"""

import re
from typing import Final
from urllib.parse import quote

ONE_CLICK: Final = "List-Unsubscribe=One-Click"
"""The List-Unsubscribe-Post header's value, and the body a one-click POST carries."""
SUBJECT_WORD: Final = "unsubscribe"

# A token as feedloop.common.links writes them: key id, payload and tag, joined by dots.
_TOKEN = r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"
_IN_SUBJECT = re.compile(rf"(?:^|\s){SUBJECT_WORD}\s+({_TOKEN})\s*$", re.IGNORECASE)
_IN_ADDRESS = re.compile(rf"^{SUBJECT_WORD}\+({_TOKEN})@", re.IGNORECASE)


def list_unsubscribe(url: str, mailto: str, token: str) -> str:
    """The List-Unsubscribe value: the https link first, then the mailto carrying the token."""
    subject = quote(f"{SUBJECT_WORD} {token}", safe="")
    return f"<{url}>, <mailto:{mailto}?subject={subject}>"


def token_in_reply(subject: str, recipients: list[str]) -> str | None:
    """The unsubscribe token a reply to the mailto carries: in its subject (as we wrote it,
    after any "Re:"), or in a recipient's local part (unsubscribe+<token>@domain); else None."""
    found = _IN_SUBJECT.search(subject.strip())
    if found:
        return found.group(1)
    for recipient in recipients:
        found = _IN_ADDRESS.match(recipient.strip().strip("<>"))
        if found:
            return found.group(1)
    return None

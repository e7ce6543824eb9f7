"""Checks of what people type that every domain shares: names and notification channels. Pure.

(Health checks, the signal domain, are `watchkeeper.checks`.)"""

from __future__ import annotations

CHANNEL_LIMIT = 500  # contacts.channel is a String(500)
MAX_CHANNELS = 20


def check_name(name: str, what: str, limit: int = 100) -> str:
    """A name a person gave: 1 to `limit` printable characters (a control
    character would not show right in a list, and an escape code would act in
    a terminal). ValueError saying which rule it breaks."""
    if not name.strip():
        raise ValueError(f"a {what} needs a name")
    if len(name) > limit:
        raise ValueError(f"a {what} name is at most {limit} characters")
    if not name.isprintable():
        raise ValueError(f"a {what} name may not hold control characters: {name!r}")
    return name


def check_channel(channel: str) -> str:
    """An Apprise URL such as mailto://ops@example.com: a scheme, '://', and a target."""
    channel = channel.strip()
    scheme, _, rest = channel.partition("://")
    if not scheme.isalnum() or not rest or len(channel) > CHANNEL_LIMIT or not channel.isprintable():
        raise ValueError(f"{channel[:100]!r} is not an Apprise URL such as mailto://ops@example.com or slack://...")
    return channel


def is_unicode(text: str) -> bool:
    """Whether `text` can be stored: no lone surrogate (JSON's "\\ud800" decodes to one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

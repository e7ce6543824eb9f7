"""The Kamailio registrar and baresip phones every voice test here may ask for (phones.py)."""

from tests.notify.voice.phones import phones, registrar

__all__ = ["phones", "registrar"]

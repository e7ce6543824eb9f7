"""Where `serve` listens: the port taken before anything is set up, and the public URL it implies."""

from __future__ import annotations

import errno
import socket

from watchkeeper.config import Settings


class CannotListen(Exception):
    """The address `serve` was given cannot be listened on; the message says what to do."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, for uvicorn to serve on.

    Bound before migrations run and the first token is made, so a start that
    cannot listen changes nothing: the one-time token is shown by a start that works."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host!r}: not an address or host name here ({exc.strerror})") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port} on {host} is in use (another watchkeeper serve?); "
                f"stop it, or start on another port with --port {port + 1}"
            ) from exc
        if exc.errno == errno.EACCES:
            raise CannotListen(f"no permission to listen on port {port}; use one above 1023, e.g. --port 8080") from exc
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def listening_url(host: str, port: int) -> str:
    """The URL of a server listening on host:port, as others on the network would write it."""
    if host in ("0.0.0.0", "::", ""):  # every address: name the machine rather than an address nobody can reach
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def with_public_url(settings: Settings, host: str, port: int) -> tuple[Settings, str | None]:
    """Settings whose public URL is where this server listens, unless one is set; and a warning if it was not."""
    if "public_url" in settings.model_fields_set:
        return settings, None
    url = listening_url(host, port)
    warning = (
        f"WATCHKEEPER_PUBLIC_URL is not set: the answer links of customer enquiries will start with {url}; "
        "set it to the address customers reach this server at"
    )
    return settings.model_copy(update={"public_url": url}), warning

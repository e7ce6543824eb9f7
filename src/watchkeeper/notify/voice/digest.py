"""HTTP digest authentication as SIP uses it (RFC 3261 22.4, RFC 2617, RFC 7616's MD5):
the answer to a 401's WWW-Authenticate or a 407's Proxy-Authenticate."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?')


class DigestError(ValueError):
    """A challenge this client cannot answer; the text says why."""


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None


def parse_challenge(value: str) -> Challenge:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"the server asks for {scheme or 'no'} authentication, not Digest")
    params: dict[str, str] = {}
    for found in _PARAM.finditer(rest):
        quoted = found.group(3)
        params[found.group(1).lower()] = quoted.replace('\\"', '"') if quoted is not None else found.group(2)
    if "nonce" not in params or "realm" not in params:
        raise DigestError("a Digest challenge without its realm or nonce")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise DigestError(f"the server asks for the {algorithm} digest algorithm; only MD5 is supported")
    qop = tuple(part.strip().lower() for part in params.get("qop", "").split(",") if part.strip())
    if qop and "auth" not in qop:
        raise DigestError(f"the server offers qop {','.join(qop)}; only auth is supported")
    return Challenge(params["realm"], params["nonce"], "MD5", qop, params.get("opaque"))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def response(
    *, user: str, password: str, realm: str, nonce: str, method: str, uri: str, qop: str | None, nc: str, cnonce: str
) -> str:
    """RFC 2617 3.2.2.1: the request-digest, with qop=auth or without qop (RFC 2069's form)."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop is None:
        return _md5(f"{ha1}:{nonce}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(challenge: Challenge, *, user: str, password: str, method: str, uri: str, nc: int = 1) -> str:
    """The Authorization (or Proxy-Authorization) value answering `challenge` for one request."""
    qop = "auth" if challenge.qop else None
    cnonce = secrets.token_hex(8)
    count = f"{nc:08x}"
    digest = response(
        user=user,
        password=password,
        realm=challenge.realm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=count,
        cnonce=cnonce,
    )
    parts = [
        f"username={_quote(user)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(digest)}",
        "algorithm=MD5",
    ]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    if qop:
        parts += [f"qop={qop}", f"nc={count}", f"cnonce={_quote(cnonce)}"]
    return "Digest " + ", ".join(parts)

"""The few HTML pages the server answers a link with (an enquiry's answer, a page's acknowledgement):
plain, not indexed, each a title and a paragraph or a form."""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse


def page(title: str, body: str, code: int = 200) -> HTMLResponse:
    """A page titled `title` around `body`, HTML the caller has escaped."""
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='robots' content='noindex'></head><body style='font-family:sans-serif;"
        f"max-width:40em;margin:3em auto'><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=code,
    )


def too_many(wait: int) -> HTMLResponse:
    """429 to an address that sent too many links that are not valid, with when to try again."""
    answer = page(
        "Too many attempts",
        f"<p>Too many links that are not valid came from your address; try again in {wait} seconds.</p>",
        429,
    )
    answer.headers["Retry-After"] = str(wait)
    return answer

"""What the access log says of requests that carry a credential in their URL."""

from __future__ import annotations

import logging

import pytest

from watchkeeper.config import Settings
from watchkeeper.web.app import create_app

KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "NDI6ZXhwZWN0ZWQ6MTc5.c2lnbmF0dXJlLW9mLWEtbGluaw"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/api/v1/intake/alertmanager/{KEY}", "/api/v1/intake/alertmanager/***"),
        (f"/api/v1/intake/generic/{KEY}?x=1", "/api/v1/intake/generic/***?x=1"),
        (f"/enquiries/answer?token={TOKEN}", "/enquiries/answer?token=***"),
        (f"/enquiries/{TOKEN}", "/enquiries/***"),
        ("/api/v1/services?limit=5", "/api/v1/services?limit=5"),
    ],
)
def test_the_access_log_shows_no_intake_key_or_enquiry_token(tmp_path, caplog, path, shown):
    create_app(settings=Settings(database_url=f"sqlite:///{tmp_path / 'wk.db'}"))
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # The call uvicorn's HTTP protocols make for every request.
        access.info('%s - "%s %s HTTP/%s" %d', "10.1.2.3:51000", "POST", path, "1.1", 200)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert line == f'10.1.2.3:51000 - "POST {shown} HTTP/1.1" 200'
    assert KEY not in line and TOKEN not in line

"""The OpenAPI pages work offline: every script, style and icon they load is served by the server itself."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from watchkeeper.web.app import create_app


@pytest.fixture
def client(tmp_path):
    from watchkeeper.config import Settings
    from watchkeeper.db import make_engine, upgrade

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'wk.db'}")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return TestClient(create_app(settings=settings, engine=engine))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_what_the_server_itself_serves(client, page):
    html = client.get(page)
    assert html.status_code == 200
    assert "http://" not in html.text and "https://" not in html.text and "//cdn" not in html.text
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html.text) + re.findall(
        r"""url: ?["']([^"']+)""", html.text
    )
    assert len(urls) >= 2
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url


def test_the_openapi_document_names_the_docs_assets_nowhere(client):
    assert "/docs-static" not in client.get("/openapi.json").text

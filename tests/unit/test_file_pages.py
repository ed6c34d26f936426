"""The runner's file:// pages as Grid browsers get them: URL mapping, roots, read-only serving."""

from __future__ import annotations

import pytest
import requests

from farm.plugin.worker.file_pages import FilePageRefused, FilePages


def test_pages_under_the_roots_are_served_and_read_back_as_file_urls(tmp_path):
    suite, other = tmp_path / "suite", tmp_path / "other"
    (suite / "docs").mkdir(parents=True)
    other.mkdir()
    (suite / "docs" / "a b.html").write_text("<title>a</title>")
    (other / "secret.txt").write_text("no")
    pages = FilePages([suite])
    try:
        url = pages.to_http((suite / "docs" / "a b.html").as_uri() + "?q=1#top")
        assert url.startswith(pages.origin + "/") and url.endswith("/docs/a%20b.html?q=1#top")
        served = url.replace("localhost", "127.0.0.1").split("#")[0]
        assert requests.get(served, timeout=5).text == "<title>a</title>"
        assert pages.to_file(url) == (suite / "docs" / "a b.html").as_uri() + "?q=1#top"
        assert pages.to_file("http://example.invalid/x") == "http://example.invalid/x"
        outside = pages.origin.replace("localhost", "127.0.0.1") + str(other / "secret.txt")
        assert requests.get(outside, timeout=5).status_code == 404  # a crafted URL gets nothing outside the roots
        assert requests.get(pages.origin.replace("localhost", "127.0.0.1") + str(suite) + "/", timeout=5).status_code == 404  # no listing
        assert requests.post(served, timeout=5).status_code == 501  # read-only
        with pytest.raises(FilePageRefused, match="outside the suite's folders"):
            pages.to_http((other / "secret.txt").as_uri())
        with pytest.raises(FilePageRefused, match="another machine"):
            pages.to_http("file://fileserver/share/x.html")
    finally:
        pages.close()

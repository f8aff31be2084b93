"""The local Browser through the real boto3 client: each session its own headless Chromium, ended for good."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from local.browser import START, STOP, LocalBrowser
from local.chromium import chromium_path
from local.data_plane import DataPlane

BROWSER = "local_browser-abcdefghij"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalBrowser, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    local = LocalBrowser(BROWSER, executable=str(chromium_path()), profiles_dir=tmp_path / "browser")
    with DataPlane(browser=local) as plane:
        yield local, plane.endpoint_url
    local.close()


def client(url: str, **config: object):
    return boto3.client(
        "bedrock-agentcore", region_name="us-east-1", endpoint_url=url, config=Config(**config)
    )


def test_a_session_is_a_chromium_of_its_own_until_it_is_stopped(browser):
    local, url = browser
    api = client(url)
    first = api.start_browser_session(browserIdentifier=BROWSER, name="a", sessionTimeoutSeconds=900)
    second = api.start_browser_session(browserIdentifier=BROWSER, name="b")
    ws = first["streams"]["automationStream"]["streamEndpoint"]
    assert ws.startswith("ws://127.0.0.1:") and ws != second["streams"]["automationStream"]["streamEndpoint"]
    chromium = local.chromium_of(first["sessionId"])
    assert chromium is not None and chromium.user_data_dir.is_dir()
    with urllib.request.urlopen(f"http://{ws.split('/')[2]}/json/version", timeout=10) as response:
        assert json.loads(response.read())["webSocketDebuggerUrl"] == ws  # a real DevTools endpoint
    got = api.get_browser_session(browserIdentifier=BROWSER, sessionId=first["sessionId"])
    assert (got["status"], got["name"], got["sessionTimeoutSeconds"]) == ("READY", "a", 900)

    api.stop_browser_session(browserIdentifier=BROWSER, sessionId=first["sessionId"])
    assert not chromium.running() and not chromium.user_data_dir.exists()
    got = api.get_browser_session(browserIdentifier=BROWSER, sessionId=first["sessionId"])
    assert got["status"] == "TERMINATED" and "streams" not in got
    with pytest.raises(ClientError) as again:
        api.stop_browser_session(browserIdentifier=BROWSER, sessionId=first["sessionId"])
    assert again.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert local.ledger.stopped_sessions() == [first["sessionId"]]
    assert [call.operation for call in local.ledger.requests].count(START) == 2


def test_a_session_ends_after_its_timeout(browser):
    local, url = browser
    session = client(url).start_browser_session(browserIdentifier=BROWSER, sessionTimeoutSeconds=1)[
        "sessionId"
    ]
    assert local.ledger.wait_for(lambda: local.ledger.stopped_sessions() == [session])
    assert local.chromium_of(session) is None and local.ledger.calls(STOP) == []  # ended by the service


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ({"browserIdentifier": "other_browser-abcdefghij"}, "ResourceNotFoundException"),
        ({"browserIdentifier": BROWSER, "sessionTimeoutSeconds": 0}, "ValidationException"),
    ],
)
def test_bad_starts_are_refused_like_the_service(browser, call, code):
    local, url = browser
    with pytest.raises(ClientError) as refused:
        client(url, parameter_validation=False).start_browser_session(**call)
    assert refused.value.response["Error"]["Code"] == code
    assert local.ledger.started_sessions() == []


def test_an_unsigned_call_is_refused(browser):
    local, url = browser
    with pytest.raises(ClientError) as refused:
        client(url, signature_version=UNSIGNED).start_browser_session(browserIdentifier=BROWSER)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert local.ledger.started_sessions() == []

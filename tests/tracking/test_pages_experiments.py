"""The experiments page, through Django's client and in Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient


def test_home_redirects_to_the_experiments_page(client: Any, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/experiments/"


def test_experiment_list_filters_by_name_substring(api: ApiClient, client: Any) -> None:
    for name in ("fraud-detection", "Churn model", "detection-v2"):
        api.post("experiments/create", {"name": name})
    page = client.get("/experiments/", {"q": "DETECT"}).content.decode()
    assert "fraud-detection" in page
    assert "detection-v2" in page
    assert "Churn model" not in page


@pytest.mark.live
def test_experiments_page_in_chromium(page: Any, screenshot: Any, mlflow_client: Any) -> None:
    mlflow_client.create_experiment("browser-check")
    page.goto("/experiments/")
    assert page.get_by_role("cell", name="browser-check").is_visible()
    # the theme toggle switches, and says what it will switch to next
    toggle = page.get_by_role("button", name="Switch to dark theme")
    toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.get_by_role("button", name="Switch to light theme").is_visible()
    screenshot("dark")

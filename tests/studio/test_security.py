"""Hardening: security headers, the content security policy in Chromium, HTTPS settings, CSRF, JSON-only API
bodies, request size limits, and filter strings that try SQL injection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from studio.auth import tokens
from studio.security import with_eval
from tests.conftest import ApiClient
from tracking.models import Run

ROOT = Path(__file__).resolve().parents[2]
CREATE = "/ajax-api/2.0/mlflow/experiments/create"


def _error(response: Any, status: int, error_code: str) -> str:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = orjson.loads(response.content)
    assert body["error_code"] == error_code, body
    return body["message"]


def _directives(policy: str) -> dict[str, list[str]]:
    pairs = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in pairs}


# --- headers ---------------------------------------------------------------------------------------------------------


def test_pages_carry_the_policy_and_the_security_headers(client: Client, db: None) -> None:
    response = client.get("/experiments/")
    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["object-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["base-uri"] == policy["form-action"] == policy["default-src"] == ["'self'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    # Local http: no HSTS, and cookies are not limited to HTTPS.
    assert "Strict-Transport-Security" not in response


def test_json_replies_get_no_page_policy_and_artifact_files_keep_their_sandbox(api: ApiClient, run_id: str) -> None:
    reply = api.client.get("/api/2.0/mlflow/experiments/search", {"max_results": 5})
    assert reply.status_code == 200
    assert "Content-Security-Policy" not in reply
    assert reply["X-Content-Type-Options"] == "nosniff"
    root = api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    html = b"<script>window.parent.__xss = 1</script>"
    put = api.client.put(f"/api/2.0/mlflow-artifacts/artifacts/{root}/r.html", html, "application/octet-stream")
    assert put.status_code == 200
    raw = api.client.get(f"/runs/{run_id}/artifacts/raw/r.html")
    assert raw.status_code == 200
    assert raw["Content-Security-Policy"].startswith("sandbox;")
    assert raw["X-Frame-Options"] == "SAMEORIGIN"


def test_only_the_comparison_page_allows_eval_for_plotlys_webgl_traces(client: Client, db: None) -> None:
    compare = _directives(client.get("/compare/")["Content-Security-Policy"])
    assert compare["script-src"] == ["'self'", "'unsafe-eval'"]
    for url in ("/experiments/", "/models/", "/deployments/", "/trash/"):
        assert "'unsafe-eval'" not in client.get(url)["Content-Security-Policy"], url


def test_eval_is_added_to_the_script_sources_or_to_those_of_default_src() -> None:
    assert with_eval("default-src 'self'; script-src 'self'") == "default-src 'self'; script-src 'self' 'unsafe-eval'"
    assert with_eval("default-src 'self' ; img-src data:") == (
        "default-src 'self'; img-src data:; script-src 'self' 'unsafe-eval'"
    )
    assert with_eval("script-src 'self' 'unsafe-eval'") == "script-src 'self' 'unsafe-eval'"


def test_the_policy_can_be_replaced_or_turned_off(client: Client, db: None, settings: Any) -> None:
    settings.STUDIO_CONTENT_SECURITY_POLICY = "default-src 'self' https://cdn.example.com"
    assert client.get("/experiments/")["Content-Security-Policy"] == "default-src 'self' https://cdn.example.com"
    settings.STUDIO_CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in client.get("/experiments/")


# --- HTTPS settings --------------------------------------------------------------------------------------------------

_PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "SESSION_COOKIE_HTTPONLY",
         "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "CSRF_COOKIE_HTTPONLY"]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


def _studio_env(tmp_path: Path, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "DJANGO_SETTINGS"))}
    return {**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_DATA_DIR": str(tmp_path), **env}


def _settings_under(tmp_path: Path, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=ROOT,
        env=_studio_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_https_settings_are_off_by_default_and_follow_the_environment(tmp_path: Path) -> None:
    local = _settings_under(tmp_path)
    assert local["SESSION_COOKIE_SECURE"] is local["CSRF_COOKIE_SECURE"] is local["SECURE_SSL_REDIRECT"] is False
    assert (local["SECURE_HSTS_SECONDS"], local["SECURE_PROXY_SSL_HEADER"], local["CSRF_TRUSTED_ORIGINS"]) == (
        0,
        None,
        [],
    )
    assert local["SESSION_COOKIE_HTTPONLY"] is True
    assert (local["SESSION_COOKIE_SAMESITE"], local["CSRF_COOKIE_SAMESITE"]) == ("Lax", "Lax")
    assert local["CSRF_COOKIE_HTTPONLY"] is False  # studio.js reads it for X-CSRFToken

    deployed = _settings_under(
        tmp_path,
        STUDIO_HTTPS="on",
        STUDIO_TRUSTED_PROXY_HEADER="X-Forwarded-Proto",
        STUDIO_CSRF_TRUSTED_ORIGINS="https://studio.example.com, https://ml.example.com",
    )
    assert deployed["SESSION_COOKIE_SECURE"] is deployed["CSRF_COOKIE_SECURE"] is True
    assert deployed["SECURE_HSTS_SECONDS"] == 31536000
    assert deployed["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is deployed["SECURE_SSL_REDIRECT"] is True
    assert deployed["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert deployed["CSRF_TRUSTED_ORIGINS"] == ["https://studio.example.com", "https://ml.example.com"]

    tuned = _settings_under(tmp_path, STUDIO_HTTPS="on", STUDIO_HSTS_SECONDS="600", STUDIO_SSL_REDIRECT="off")
    assert (tuned["SECURE_HSTS_SECONDS"], tuned["SECURE_SSL_REDIRECT"]) == (600, False)
    assert tuned["SECURE_PROXY_SSL_HEADER"] is None  # never trusted unless named


def test_check_deploy_with_https_leaves_only_the_deliberate_choices(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=_studio_env(tmp_path, STUDIO_HTTPS="on"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    warnings = set(re.findall(r"\(security\.(W\d+)\)", done.stdout + done.stderr))
    # W019: X_FRAME_OPTIONS is SAMEORIGIN, not DENY (the artifact preview frames Studio's raw views);
    # W021: HSTS preload is an operator's commitment (STUDIO_HSTS_PRELOAD=on).
    assert warnings == {"W019", "W021"}, done.stdout + done.stderr


@pytest.fixture
def https_client(settings: Any) -> Client:
    """A client on a Studio with the HTTPS settings of STUDIO_HTTPS=on behind a proxy (the middleware reads its
    redirect settings when it is built, so the client is made after they change)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return Client()


def test_https_redirects_plain_http_except_the_probe(https_client: Client, db: None) -> None:
    redirected = https_client.get("/experiments/")
    assert (redirected.status_code, redirected["Location"]) == (301, "https://testserver/experiments/")
    assert https_client.get("/health").status_code == 200
    proxied = https_client.get("/experiments/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


# --- CSRF ------------------------------------------------------------------------------------------------------------


def test_cross_site_unsafe_requests_are_refused_without_auth(client: Client, db: None) -> None:
    body = orjson.dumps({"name": "from-elsewhere"})
    refused = client.post(CREATE, body, "application/json", headers={"Sec-Fetch-Site": "cross-site"})
    _error(refused, 403, "PERMISSION_DENIED")
    page = client.post("/experiments/create/", {"name": "from-elsewhere"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 403
    same = client.post(CREATE, body, "application/json", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200
    assert (
        client.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "from-elsewhere"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "csrf"}'),  # what a cross-site form with enctype="text/plain" sends
        ("application/x-www-form-urlencoded", b"name=csrf"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\ncsrf\r\n--x--'),
        ("", b'{"name": "csrf"}'),
    ],
)
def test_api_bodies_must_be_json(api: ApiClient, content_type: str, body: bytes) -> None:
    api.post("registered-models/create", {"name": "csrf"})
    model = b'{"name": "csrf", "description": "forged"}'
    calls = [
        ("post", CREATE, body),
        ("patch", "/ajax-api/2.0/mlflow/registered-models/update", model),
        ("delete", "/ajax-api/2.0/mlflow/registered-models/delete", model),
    ]
    for method, url, payload in calls:
        response = getattr(api.client, method)(url, payload, content_type=content_type)
        assert "Content-Type must be application/json" in _error(response, 400, "INVALID_PARAMETER_VALUE")
    assert api.get("registered-models/get", {"name": "csrf"})["registered_model"].get("description", "") == ""
    assert api.client.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "csrf"}).status_code == 404


def test_json_with_a_charset_and_empty_bodies_pass(client: Client, db: None) -> None:
    created = client.post(CREATE, b'{"name": "fine"}', content_type="application/json; charset=utf-8")
    assert created.status_code == 200
    # No body, no content type: a missing field, not a content type error.
    empty = client.post(CREATE, b"", content_type="")
    assert "Missing value for required parameter 'name'" in _error(empty, 400, "INVALID_PARAMETER_VALUE")


@pytest.fixture
def alice(db: None, settings: Any) -> User:
    settings.STUDIO_AUTH = True
    return User.objects.create_user("alice", password="correct horse battery")


def test_session_api_posts_need_the_csrf_token_but_tokens_do_not(alice: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    without = browser.post(CREATE, b'{"name": "a"}', content_type="application/json")
    assert "CSRF" in _error(without, 403, "PERMISSION_DENIED")
    page = browser.get("/experiments/")  # renders a form, so Django sets the csrftoken cookie the scripts read
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    created = browser.post(CREATE, b'{"name": "a"}', content_type="application/json", headers={"X-CSRFToken": token})
    assert created.status_code == 200, created.content
    # An API client's credentials are not ambient: no CSRF token is asked of it.
    _, secret = tokens.create_token(user=alice, name="ci")
    script = Client(enforce_csrf_checks=True)
    by_token = script.post(CREATE, b'{"name": "b"}', "application/json", headers={"Authorization": f"Bearer {secret}"})
    assert by_token.status_code == 200, by_token.content


def test_page_forms_need_the_csrf_token(alice: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post("/experiments/create/", {"name": "forged"}).status_code == 403
    assert browser.post("/signout/").status_code == 403
    assert browser.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "forged"}).status_code == 404


# Posted by static/tracking/artifacts.js as JSON with the X-CSRFToken header, to a JSON-only API endpoint.
_SCRIPT_POSTED_FORMS = {"tracking/artifacts/delete_dialog.html"}


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    templates = ROOT / "templates"
    missing = []
    for path in sorted(templates.rglob("*.html")):
        text = path.read_text()
        forms = re.findall(r"<form\b[^>]*>.*?</form>", text, flags=re.S | re.I)
        for form in forms:
            opening = form[: form.index(">") + 1]
            if re.search(r"method=\"post\"", opening, flags=re.I) and "csrf_token" not in form:
                missing.append(str(path.relative_to(templates)))
    assert set(missing) == _SCRIPT_POSTED_FORMS, missing


# --- request sizes ---------------------------------------------------------------------------------------------------


def test_an_oversized_api_body_is_413_in_mlflows_envelope(client: Client, db: None, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = orjson.dumps({"name": "big", "tags": [{"key": "k", "value": "v" * 2000}]})
    assert "STUDIO_MAX_REQUEST_BYTES" in _error(
        client.post(CREATE, big, "application/json"), 413, "REQUEST_ENTITY_TOO_LARGE"
    )
    assert client.post(CREATE, b'{"name": "small"}', "application/json").status_code == 200


def test_an_oversized_body_read_by_an_access_rule_is_413_too(alice: User, settings: Any) -> None:
    # log-batch's rule reads the run id from the body before the view runs.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _, secret = tokens.create_token(user=alice, name="ci")
    big = orjson.dumps({"run_id": "r" * 32, "params": [{"key": "k", "value": "v" * 2000}]})
    response = Client().post(
        "/api/2.0/mlflow/runs/log-batch", big, "application/json", headers={"Authorization": f"Bearer {secret}"}
    )
    _error(response, 413, "REQUEST_ENTITY_TOO_LARGE")


def test_a_form_with_too_many_fields_is_refused(client: Client, db: None, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = {f"f{i}": "x" for i in range(20)}
    assert client.post("/experiments/create/", {"name": "many", **fields}).status_code == 400
    assert client.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "many"}).status_code == 404


# --- filter strings --------------------------------------------------------------------------------------------------

INJECTIONS = [
    "params.x = '1' OR 1=1 --'",
    "params.x = '1' OR '1'='1'",
    "attributes.run_name LIKE '%'; DROP TABLE tracking_run; --'",
    "tags.`x'; DELETE FROM tracking_run; --` = 'y'",
    "metrics.loss < 1 UNION SELECT * FROM auth_user",
    "attributes.run_name = 'a' AND 1=(SELECT COUNT(*) FROM auth_user)",
    "params.`x` = '' OR run_uuid IS NOT NULL",
    "attributes.status = 'FINISHED\\' OR 1=1 --'",
]


@pytest.mark.parametrize("filter_string", INJECTIONS)
def test_sql_in_filter_strings_is_refused_or_matches_nothing(
    api: ApiClient, experiment_id: str, filter_string: str
) -> None:
    for name in ("one", "two"):
        run = api.post("runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"]["run_id"]
        api.post("runs/log-parameter", {"run_id": run, "key": "x", "value": "2"})
    searches = [
        ("POST", "runs/search", {"experiment_ids": [experiment_id], "filter": filter_string}, "runs"),
        ("POST", "experiments/search", {"filter": filter_string}, "experiments"),
        ("GET", "registered-models/search", {"filter": filter_string}, "registered_models"),
        ("GET", "model-versions/search", {"filter": filter_string}, "model_versions"),
        ("POST", "logged-models/search", {"experiment_ids": [experiment_id], "filter": filter_string}, "models"),
    ]
    for method, endpoint, payload, key in searches:
        reply = api.call(method, endpoint, payload, status=None)
        if "error_code" in reply:
            assert reply["error_code"] == "INVALID_PARAMETER_VALUE", (endpoint, reply)
        else:
            assert not reply.get(key), (endpoint, reply)
    # The pages parse the same filters: a 400 page or no rows, never a 500.
    page = api.client.get(f"/experiments/{experiment_id}/runs/", {"filter": filter_string})
    assert page.status_code in (200, 400)
    assert Run.objects.count() == 2
    assert {"tracking_run", "auth_user"} <= set(connection.introspection.table_names())


# --- the policy in Chromium ------------------------------------------------------------------------------------------

_PDF = (
    "%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
_RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.mark.parametrize(
    ("method", "url", "body", "content_type"),
    [
        ("get", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=a%00b", None, None),
        ("post", "/api/2.0/mlflow/experiments/create", b'{"name": "a\\u0000b"}', "application/json"),
        (
            "post",
            "/api/2.0/mlflow/runs/log-batch",
            b'{"run_id": "x", "tags": [{"key": "k", "value": "\\u0000"}]}',
            "application/json",
        ),
        ("get", "/api/2.0/mlflow/logged-models/a%00b", None, None),
        ("get", "/experiments/?q=a%00b", None, None),
        ("post", "/experiments/create/", b"name=a%00b", "application/x-www-form-urlencoded"),
    ],
)
def test_nul_characters_are_refused_before_reaching_the_database(
    client: Client, db: None, method: str, url: str, body: bytes | None, content_type: str | None
) -> None:
    """PostgreSQL cannot store NUL in text and psycopg raises on it: a 400 (MLflow's envelope on the API), not a 500."""
    response = client.get(url) if method == "get" else client.post(url, body, content_type=content_type)
    assert response.status_code == 400, response.content
    if url.startswith("/api/"):
        assert orjson.loads(response.content)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "NUL" in response.content.decode()
    assert (
        client.post(
            "/api/2.0/mlflow/experiments/create", b'{"name": "a\\\\u0000b"}', content_type="application/json"
        ).status_code
        == 200
    )  # a backslash and "u0000": plain text


def test_the_gateway_answers_404_for_an_endpoint_name_with_nul(client: Client, db: None) -> None:
    from deployments.gateway import ROUTES

    assert ROUTES.get("a\x00b") is None


@pytest.mark.live
@pytest.mark.csp
def test_pages_and_charts_run_under_the_policy_in_chromium(page: Any, screenshot: Any, tracking_uri: str) -> None:
    import mlflow
    from playwright.sync_api import expect

    from tests.tracking.test_pages_compare import log_three_runs

    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(_RECORD_VIOLATIONS)
    run_ids = log_three_runs()
    client = mlflow.MlflowClient()
    experiment_id = client.get_run(run_ids[0]).info.experiment_id
    client.log_text(run_ids[0], "<h1>Report</h1><p style='color: red'>inline style</p>", "report.html")
    client.log_text(run_ids[0], "a,b\n1,2\n", "table.csv")
    client.log_text(run_ids[0], _PDF, "paper.pdf")
    client.create_registered_model("csp-model", description="A **model**")

    visits = [
        ("/experiments/", None),
        (f"/experiments/{experiment_id}/", "#runs-table tbody tr"),
        (f"/runs/{run_ids[0]}/?tab=metrics", '[data-metric-key="loss"] path.js-line'),
        ("/compare/?runs=" + ",".join(run_ids), "[data-parallel] .axis-title"),
        (f"/runs/{run_ids[0]}/artifacts/?path=report.html", "iframe.artifact-frame"),
        (f"/runs/{run_ids[0]}/artifacts/?path=table.csv", "[data-preview] table.data"),
        # The PDF preview is an <object> (Chromium's viewer refuses sandboxed frames): object-src 'self', not 'none'.
        (f"/runs/{run_ids[0]}/artifacts/?path=paper.pdf", "[data-preview] object.artifact-frame"),
        ("/models/", None),
        ("/models/csp-model/", None),
        ("/deployments/", None),
        ("/trash/", None),
        ("/storage/", None),
        ("/signin/", None),
        ("/admin/", "#content"),
        ("/admin/tracking/experiment/", "#result_list"),
        (f"/admin/tracking/experiment/{experiment_id}/change/", "#content-main form"),
    ]
    admin = User.objects.create_superuser("root", password="correct horse battery")
    session = Client()
    session.force_login(admin)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": tracking_uri}])
    for url, ready in visits:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if ready:
            expect(page.locator(ready).first).to_be_attached()
        violations = page.evaluate("window.__csp")
        assert not violations, (url, violations)
        if url.startswith("/compare/"):
            screenshot("compare-under-csp")
    reported = [text for text in console if "Content Security Policy" in text]
    assert not reported, reported


@pytest.mark.live
def test_page_scripts_send_the_csrf_token_when_signed_in_in_chromium(
    page: Any, live_server: Any, api: ApiClient, run_id: str, settings: Any
) -> None:
    from playwright.sync_api import expect

    root = api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    for name in ("keep.txt", "drop.txt"):
        put = api.client.put(f"/api/2.0/mlflow-artifacts/artifacts/{root}/{name}", b"x", "application/octet-stream")
        assert put.status_code == 200
    settings.STUDIO_AUTH = True
    admin = User.objects.create_superuser("root", password="correct horse battery")
    session = Client()
    session.force_login(admin)
    page.context.add_cookies(
        [{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_server.url}]
    )

    page.goto(f"/runs/{run_id}/artifacts/?path=drop.txt")
    page.locator("[data-preview]").get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog", name="Delete this file?").get_by_role("button", name="Delete permanently").click()
    expect(page.locator("[data-deleted-notice]")).to_have_text(re.compile(r"^Deleted drop\.txt"))
    # The same request without the header (what another site's script could make the browser send) is refused.
    status = page.evaluate(
        """(runId) => fetch("/ajax-api/2.0/studio/runs/delete-artifact", {method: "POST",
             headers: {"Content-Type": "application/json"}, body: JSON.stringify({run_id: runId, path: "keep.txt"})})
           .then((r) => r.status)""",
        run_id,
    )
    assert status == 403
    listing = session.get(f"/runs/{run_id}/artifacts/list").json()
    assert [entry["name"] for entry in listing["entries"]] == ["keep.txt"]

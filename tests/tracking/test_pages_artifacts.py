"""The artifacts component: its routes through Django's client (local disk and S3), and in Chromium with artifacts
logged by the real mlflow client."""

from __future__ import annotations

import io
import json
import re
import struct
import urllib.parse
import wave
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import ApiClient
from tests.tracking.test_artifacts_s3 import prefix, s3_endpoint  # noqa: F401 - fixtures for the S3 tests
from tracking.artifacts import browse, get_artifact_store, proxy_path
from tracking.models import Run
from tracking.views.artifacts import run_artifacts_context

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.9
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.0
mlflow_version: 3.17.2
model_uuid: 0f1e2d3c
run_id: abc123
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
utc_time_created: '2025-01-02 03:04:05.000000'
"""
HTML = (
    "<!doctype html><html><head><title>report</title></head><body><p id='msg'>static text</p>"
    "<img id='pic' src='pic.png' alt='pic'><script>document.getElementById('msg').textContent='script ran'</script>"
    "</body></html>"
)


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real PNG of a red rectangle, written with zlib."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf_bytes(text: str = "Hello PDF") -> bytes:
    """A minimal valid one-page PDF, with a correct cross-reference table."""
    stream = f"BT /F1 24 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of a square wave, written with the wave module."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(frames)))
    return buffer.getvalue()


SAMPLES: dict[str, bytes] = {
    "notes.txt": b"hello artifacts\nsecond line\n",
    "code/train.py": b"def train():\n    return 42\n",
    "metrics.json": b'{"accuracy": 0.9, "labels": ["a", "b"]}',
    "config.yaml": b"lr: 0.01\nlayers: [64, 32]\n",
    "model/MLmodel": MLMODEL.encode(),
    "model/model.pkl": b"\x80\x04\x95\x00\x00binary\x00pickle",
    "data/table.csv": b"name,score\nalpha,1\nbeta,2\n",
    "data/table.tsv": b"name\tscore\ngamma\t3\n",
    "plots/pic.png": png_bytes(),
    "report/index.html": HTML.encode(),
    "report/pic.png": png_bytes(),
    "docs/paper.pdf": pdf_bytes(),
    "audio/tone.wav": wav_bytes(),
    "video/clip.webm": b"\x1a\x45\xdf\xa3not really a webm",
    "empty.txt": b"",
}


def write(run_id: str, path: str, data: bytes) -> None:
    """Put a file among a run's artifacts through the store, as the proxy would."""
    root = proxy_path(Run.objects.get(pk=run_id).artifact_uri)
    get_artifact_store().write(f"{root}/{path}", io.BytesIO(data))


@pytest.fixture
def artifacts_run(run_id: str) -> str:
    """A run with one artifact of each kind."""
    for path, data in SAMPLES.items():
        write(run_id, path, data)
    return run_id


def url(run_id: str, endpoint: str = "", path: str | None = None) -> str:
    base = f"/runs/{run_id}/artifacts/{endpoint}"
    return base if path is None else f"{base}?{urllib.parse.urlencode({'path': path})}"


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- the tree ------------------------------------------------------------------------------------------------------


def test_list_root_puts_folders_first_with_sizes(client: Client, artifacts_run: str) -> None:
    listing = client.get(url(artifacts_run, "list")).json()
    names = [entry["name"] for entry in listing["entries"]]
    assert names == [
        "audio", "code", "data", "docs", "model", "plots", "report", "video",
        "config.yaml", "empty.txt", "metrics.json", "notes.txt",
    ]  # fmt: skip
    assert listing["total"] == 12
    notes = next(entry for entry in listing["entries"] if entry["name"] == "notes.txt")
    assert notes == {"name": "notes.txt", "path": "notes.txt", "is_dir": False, "size": len(SAMPLES["notes.txt"])}
    assert listing["entries"][0] == {"name": "audio", "path": "audio", "is_dir": True, "size": None}


def test_list_subfolder_names_paths_from_the_root(client: Client, artifacts_run: str) -> None:
    listing = client.get(url(artifacts_run, "list", "model")).json()
    assert [(e["path"], e["is_dir"]) for e in listing["entries"]] == [
        ("model/MLmodel", False),
        ("model/model.pkl", False),
    ]


def test_list_of_a_run_without_artifacts_is_empty(client: Client, run_id: str) -> None:
    assert client.get(url(run_id, "list")).json() == {"path": "", "entries": [], "total": 0}


def test_list_caps_a_huge_folder(client: Client, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browse, "LIST_LIMIT", 5)
    for i in range(8):
        write(run_id, f"many/{i}.txt", b"x")
    listing = client.get(url(run_id, "list", "many")).json()
    assert (len(listing["entries"]), listing["total"]) == (5, 8)


def test_list_errors(client: Client, artifacts_run: str) -> None:
    missing = client.get(url(artifacts_run, "list", "nope"))
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.get(url("0" * 32, "list")).status_code == 404


# --- previews ------------------------------------------------------------------------------------------------------


def preview(client: Client, run_id: str, path: str, status: int = 200) -> str:
    response = client.get(url(run_id, "preview", path))
    assert response.status_code == status, response.content[:300]
    return response.content.decode()


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        ("notes.txt", "Text", "hello artifacts\nsecond line"),
        ("code/train.py", "Code", "def train():\n    return 42"),
        ("config.yaml", "YAML", "layers: [64, 32]"),
        ("model/model.pkl", "Binary file", "No preview for this kind of file"),
        ("empty.txt", "Empty file", "This file is empty."),
    ],
)
def test_text_previews(client: Client, artifacts_run: str, path: str, kind: str, expected: str) -> None:
    page = preview(client, artifacts_run, path)
    assert f'<h2 class="artifact-title">{path}</h2>' in page
    assert kind in page
    assert expected in page
    assert f'href="/runs/{artifacts_run}/artifacts/download/{path}" download' in page


def test_json_is_pretty_printed(client: Client, artifacts_run: str) -> None:
    page = preview(client, artifacts_run, "metrics.json")
    assert "{\n  &quot;accuracy&quot;: 0.9,\n  &quot;labels&quot;: [\n    &quot;a&quot;," in page


def test_invalid_json_is_shown_as_it_is(client: Client, run_id: str) -> None:
    write(run_id, "broken.json", b'{"a": ')
    page = preview(client, run_id, "broken.json")
    assert "Not valid JSON" in page
    assert "{&quot;a&quot;: " in page


def test_mlmodel_shows_a_summary_and_the_file(client: Client, artifacts_run: str) -> None:
    page = preview(client, artifacts_run, "model/MLmodel")
    assert "MLflow model" in page
    assert re.search(r"<th scope=\"row\">Flavors</th><td class=\"wrap\">python_function, sklearn 1.5.0</td>", page)
    assert "x: double" in page  # the signature's inputs
    assert 'Outputs</th><td class="wrap">long' in page
    assert "loader_module: mlflow.sklearn" in page


def test_text_preview_escapes_markup(client: Client, run_id: str) -> None:
    write(run_id, "x.txt", b"<script>alert(1)</script>")
    page = preview(client, run_id, "x.txt")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("path", "header", "row"), [("data/table.csv", "score", "beta"), ("data/table.tsv", "score", "gamma")]
)
def test_tables_show_header_and_rows(client: Client, artifacts_run: str, path: str, header: str, row: str) -> None:
    page = preview(client, artifacts_run, path)
    assert f'<th scope="col">{header}</th>' in page
    assert f"<td>{row}</td>" in page
    assert re.search(r"All \d rows?\.", page)


def test_large_table_shows_the_first_rows(client: Client, run_id: str) -> None:
    rows = "".join(f"row{i},{i}\n" for i in range(200_000))  # ~2.5 MB: more than the table's head
    write(run_id, "big.csv", ("name,value\n" + rows).encode())
    page = preview(client, run_id, "big.csv")
    assert page.count("<tr>") == browse.TABLE_ROWS + 1  # the header and the first rows
    assert f"The first {browse.TABLE_ROWS} rows (from the first 1.0\xa0MB of" in page
    assert "<td>row99</td>" in page
    assert "<td>row100</td>" not in page


def test_large_text_file_shows_its_head_and_size(client: Client, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    line = b"0123456789abcdef" * 4 + b"\n"
    write(run_id, "train.log", line * 40_000)  # 2.6 MB
    reads: list[tuple[int, int | None]] = []
    original = type(get_artifact_store()).open

    def spy(self: Any, path: str, start: int = 0, length: int | None = None) -> Any:
        reads.append((start, length))
        return original(self, path, start, length)

    monkeypatch.setattr(type(get_artifact_store()), "open", spy)
    page = preview(client, run_id, "train.log")
    assert reads == [(0, browse.TEXT_HEAD_BYTES)], "only the head is read"
    assert "Showing the first 256.0\xa0KB of 2.5\xa0MB" in page
    shown = re.search(r"<code>(.*)</code>", page, re.S).group(1)
    assert len(shown) == browse.TEXT_HEAD_BYTES


def test_head_cut_inside_a_character_still_decodes(client: Client, run_id: str) -> None:
    data = "é".encode() * (browse.TEXT_HEAD_BYTES // 2) + b"xx"  # the head ends... exactly between characters
    write(run_id, "accents.txt", b"a" + data)  # ...and now inside one
    page = preview(client, run_id, "accents.txt")
    assert "\ufffd" not in page


def test_unknown_extension_is_sniffed(client: Client, run_id: str) -> None:
    write(run_id, "LICENSE", b"Apache License\nVersion 2.0\n")
    write(run_id, "weights.bin", b"\x00\x01\x02")
    assert "Apache License" in preview(client, run_id, "LICENSE")
    assert "No preview for this kind of file" in preview(client, run_id, "weights.bin")


@pytest.mark.parametrize(
    ("path", "markup"),
    [
        ("plots/pic.png", '<img src="{raw}plots/pic.png" alt="pic.png">'),
        ("report/index.html", '<iframe class="artifact-frame" src="{raw}report/index.html" sandbox=""'),
        ("docs/paper.pdf", '<object class="artifact-frame" data="{raw}docs/paper.pdf" type="application/pdf"'),
        ("audio/tone.wav", '<audio class="artifact-audio" controls preload="metadata" src="{raw}audio/tone.wav"'),
        ("video/clip.webm", '<video controls preload="metadata" src="{raw}video/clip.webm"'),
    ],
)  # fmt: skip
def test_media_previews_embed_the_raw_file(client: Client, artifacts_run: str, path: str, markup: str) -> None:
    assert markup.format(raw=f"/runs/{artifacts_run}/artifacts/raw/") in preview(client, artifacts_run, path)


def test_html_frame_is_sandboxed_without_scripts_or_same_origin(client: Client, artifacts_run: str) -> None:
    page = preview(client, artifacts_run, "report/index.html")
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert 'sandbox=""' in frame
    assert "allow-scripts" not in frame
    assert "allow-same-origin" not in frame


def test_large_image_is_offered_as_a_download(client: Client, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browse, "EMBED_MAX_BYTES", 10)
    write(run_id, "huge.png", png_bytes(100, 100))
    page = preview(client, run_id, "huge.png")
    assert "<img" not in page
    assert "is too large to show here" in page
    assert f'href="/runs/{run_id}/artifacts/download/huge.png" download' in page


def test_folder_preview_lists_children_and_offers_a_zip(client: Client, artifacts_run: str) -> None:
    page = preview(client, artifacts_run, "model")
    assert 'data-select-path="model/MLmodel"' in page
    assert f'href="/runs/{artifacts_run}/artifacts/zip?path=model" download>Download folder as zip' in page
    root = preview(client, artifacts_run, "")
    assert f'href="/runs/{artifacts_run}/artifacts/zip" download>Download all as zip' in root
    assert "12 items" in root


def test_root_preview_of_a_run_without_artifacts(client: Client, run_id: str) -> None:
    page = preview(client, run_id, "")
    assert "No artifacts have been logged." in page
    assert "Download all as zip" not in page
    assert client.get(url(run_id, "zip")).status_code == 404


def test_preview_errors_are_inline_fragments(client: Client, artifacts_run: str) -> None:
    page = preview(client, artifacts_run, "missing.txt", status=404)
    assert 'class="field-error" role="alert">No such artifact: &#x27;missing.txt&#x27;' in page
    assert "Invalid path" in preview(client, artifacts_run, "../etc/passwd", status=400)


# --- files ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("metrics.json", "application/json"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("data/table.csv", "text/csv; charset=utf-8"),
        ("config.yaml", "application/yaml"),
        ("plots/pic.png", "image/png"),
        ("docs/paper.pdf", "application/pdf"),
        ("audio/tone.wav", "audio/wav"),
        ("model/model.pkl", "application/octet-stream"),
    ],
)
def test_download_headers(client: Client, artifacts_run: str, path: str, content_type: str) -> None:
    response = client.get(url(artifacts_run, f"download/{path}"))
    assert response.status_code == 200
    assert response.streaming
    assert streamed(response) == SAMPLES[path]
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
    assert response["Content-Length"] == str(len(SAMPLES[path]))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Accept-Ranges"] == "bytes"


def test_download_of_a_unicode_name(client: Client, run_id: str) -> None:
    write(run_id, "résumé des scores.txt", b"ok")
    response = client.get(f"/runs/{run_id}/artifacts/download/r%C3%A9sum%C3%A9%20des%20scores.txt")
    assert streamed(response) == b"ok"
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%20des%20scores.txt" in response["Content-Disposition"]


def test_raw_html_is_served_sandboxed(client: Client, artifacts_run: str) -> None:
    response = client.get(url(artifacts_run, "raw/report/index.html"))
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="index.html"'
    policy = response["Content-Security-Policy"]
    assert policy.startswith("sandbox;")
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # the preview frames it; other sites cannot


def test_raw_text_shows_as_plain_text(client: Client, artifacts_run: str) -> None:
    for path in ("config.yaml", "model/MLmodel", "code/train.py"):
        assert client.get(url(artifacts_run, f"raw/{path}"))["Content-Type"] == "text/plain; charset=utf-8"


def test_raw_pdf_is_not_sandboxed_for_the_viewer(client: Client, artifacts_run: str) -> None:
    response = client.get(url(artifacts_run, "raw/docs/paper.pdf"))
    assert response["Content-Type"] == "application/pdf"
    assert "sandbox" not in response["Content-Security-Policy"]
    assert streamed(response).startswith(b"%PDF-1.4")


@pytest.mark.parametrize(
    ("header", "status", "content_range", "part"),
    [
        ("bytes=0-3", 206, "bytes 0-3/{size}", slice(0, 4)),
        ("bytes=10-", 206, "bytes 10-{last}/{size}", slice(10, None)),
        ("bytes=-4", 206, "bytes {tail}-{last}/{size}", slice(-4, None)),
        (None, 200, None, slice(None)),
    ],
)
def test_range_requests(
    client: Client, artifacts_run: str, header: str | None, status: int, content_range: str | None, part: slice
) -> None:
    data = SAMPLES["audio/tone.wav"]
    headers = {"Range": header} if header else {}
    response = client.get(url(artifacts_run, "raw/audio/tone.wav"), headers=headers)
    assert response.status_code == status
    assert streamed(response) == data[part]
    assert response["Content-Length"] == str(len(data[part]))
    if content_range:
        assert response["Content-Range"] == content_range.format(size=len(data), last=len(data) - 1, tail=len(data) - 4)


def test_unsatisfiable_range_is_416(client: Client, artifacts_run: str) -> None:
    response = client.get(url(artifacts_run, "raw/notes.txt"), headers={"Range": "bytes=999-"})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(SAMPLES['notes.txt'])}"


def test_head_request_sends_headers_only(client: Client, artifacts_run: str) -> None:
    response = client.head(url(artifacts_run, "raw/audio/tone.wav"))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(SAMPLES["audio/tone.wav"]))
    assert streamed(response) == b""


def test_file_errors(client: Client, artifacts_run: str) -> None:
    assert client.get(url(artifacts_run, "download/missing.txt")).status_code == 404
    folder = client.get(url(artifacts_run, "download/model"))
    assert folder.status_code == 400
    assert folder["Content-Type"] == "text/plain; charset=utf-8"
    assert client.get(url("0" * 32, "download/notes.txt")).status_code == 404
    assert client.post(url(artifacts_run, "download/notes.txt")).status_code == 405


# --- zips ----------------------------------------------------------------------------------------------------------


def unzip(response: Any) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(streamed(response)))
    assert archive.testzip() is None
    return {name: archive.read(name) for name in archive.namelist()}


def test_folder_zip_streams_the_folder(client: Client, artifacts_run: str) -> None:
    response = client.get(url(artifacts_run, "zip", "model"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="model.zip"'
    assert unzip(response) == {"model/MLmodel": SAMPLES["model/MLmodel"], "model/model.pkl": SAMPLES["model/model.pkl"]}


def test_root_zip_has_every_file(client: Client, artifacts_run: str) -> None:
    response = client.get(url(artifacts_run, "zip"))
    assert response["Content-Disposition"] == 'attachment; filename="r-artifacts.zip"'
    assert unzip(response) == {f"r-artifacts/{path}": data for path, data in SAMPLES.items()}


def test_zip_is_sent_while_it_is_built(client: Client, run_id: str) -> None:
    for i in range(3):
        write(run_id, f"big/{i}.bin", bytes([i]) * (3 * 1024 * 1024))
    response = client.get(url(run_id, "zip", "big"))
    chunks = list(response.streaming_content)
    assert max(len(chunk) for chunk in chunks) <= 2 * 1024 * 1024, "never one file, let alone the archive, at once"
    assert len(chunks) > 3
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.getinfo("big/2.bin").file_size == 3 * 1024 * 1024
    assert archive.read("big/1.bin") == b"\x01" * (3 * 1024 * 1024)


def test_zip_errors(client: Client, artifacts_run: str, run_id: str) -> None:
    assert client.get(url(artifacts_run, "zip", "nope")).status_code == 404
    assert client.get(url(artifacts_run, "zip", "notes.txt")).status_code == 400


# --- bad paths -----------------------------------------------------------------------------------------------------

TRAVERSALS = ["../secret.txt", "/etc/passwd", "%2e%2e/secret.txt", "%252e%252e/secret.txt", "model/../../secret.txt"]


@pytest.mark.parametrize("bad", TRAVERSALS)
@pytest.mark.parametrize("endpoint", ["list", "preview", "zip"])
def test_traversal_in_the_query_is_refused(client: Client, artifacts_run: str, endpoint: str, bad: str) -> None:
    assert client.get(url(artifacts_run, endpoint, bad)).status_code == 400


@pytest.mark.parametrize(
    "bad", ["%2e%2e/secret.txt", "%252e%252e/secret.txt", "model/%2e%2e/%2e%2e/secret.txt", "a%5c..%5csecret.txt"]
)
@pytest.mark.parametrize("endpoint", ["raw", "download"])
def test_traversal_in_the_file_url_is_refused(client: Client, artifacts_run: str, endpoint: str, bad: str) -> None:
    response = client.get(f"/runs/{artifacts_run}/artifacts/{endpoint}/{bad}")
    assert response.status_code == 400
    assert streamed(response) == b"Invalid path"


def test_a_run_root_does_not_reach_its_neighbours(
    client: Client, api: ApiClient, artifacts_run: str, experiment_id: str
) -> None:
    other = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    write(other, "secret.txt", b"other run")
    assert client.get(url(artifacts_run, f"download/..%2F..%2F{other}%2Fartifacts%2Fsecret.txt")).status_code in (
        400,
        404,
    )
    assert client.get(url(artifacts_run, "download/secret.txt")).status_code == 404


# --- the page and the contract with the run page --------------------------------------------------------------------


def test_full_page_renders_the_browser(client: Client, artifacts_run: str) -> None:
    page = client.get(url(artifacts_run)).content.decode()
    assert "<h1>Artifacts of r</h1>" in page
    assert f'data-list-url="/runs/{artifacts_run}/artifacts/list"' in page
    assert f'data-preview-url="/runs/{artifacts_run}/artifacts/preview"' in page
    assert f'href="/runs/{artifacts_run}/">r</a>' in page  # the breadcrumb back to the run
    assert "tracking/artifacts.js" in page
    assert "tracking/artifacts.css" in page


def test_full_page_of_a_missing_run_is_404(client: Client, db: None) -> None:
    assert client.get(url("f" * 32)).status_code == 404


def test_run_artifacts_context_names_the_component_urls(artifacts_run: str) -> None:
    context = run_artifacts_context(Run.objects.get(pk=artifacts_run))
    base = f"/runs/{artifacts_run}/artifacts/"
    assert context == {
        "artifacts": {
            "label": "Artifacts",
            "page_url": base,
            "list_url": base + "list",
            "preview_url": base + "preview",
            "zip_url": base + "zip",
        }
    }


def test_each_endpoint_makes_a_fixed_number_of_queries(
    client: Client, run_id: str, django_assert_max_num_queries: Any
) -> None:
    for i in range(300):
        write(run_id, f"f/{i:03d}.txt", b"x")
    for endpoint, path in [("list", "f"), ("preview", "f"), ("preview", "f/001.txt"), ("zip", "f"), ("", None)]:
        with django_assert_max_num_queries(3):
            response = client.get(url(run_id, endpoint, path))
            streamed(response)
        assert response.status_code == 200


# --- S3 ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def s3_run(prefix: str, run_id: str) -> str:  # noqa: F811 - the S3 fixture imported above
    for path, data in SAMPLES.items():
        write(run_id, path, data)
    return run_id


def test_s3_preview_list_and_range(client: Client, s3_run: str) -> None:
    listing = client.get(url(s3_run, "list", "model")).json()
    assert [e["path"] for e in listing["entries"]] == ["model/MLmodel", "model/model.pkl"]
    assert "sklearn 1.5.0" in preview(client, s3_run, "model/MLmodel")
    assert "<td>beta</td>" in preview(client, s3_run, "data/table.csv")
    assert 'sandbox=""' in preview(client, s3_run, "report/index.html")
    response = client.get(url(s3_run, "raw/audio/tone.wav"), headers={"Range": "bytes=0-11"})
    assert response.status_code == 206
    assert streamed(response) == SAMPLES["audio/tone.wav"][:12]
    assert client.get(url(s3_run, "download/missing.txt")).status_code == 404
    assert client.get(url(s3_run, "preview", "%2e%2e/x")).status_code == 400


def test_s3_large_text_reads_only_the_head(client: Client, prefix: str, run_id: str) -> None:  # noqa: F811
    write(run_id, "big.log", b"x" * (browse.TEXT_HEAD_BYTES * 3))
    page = preview(client, run_id, "big.log")
    assert "Showing the first 256.0\xa0KB of 768.0\xa0KB" in page


def test_s3_zip_of_a_folder_and_the_root(client: Client, s3_run: str) -> None:
    assert unzip(client.get(url(s3_run, "zip", "data"))) == {
        "data/table.csv": SAMPLES["data/table.csv"],
        "data/table.tsv": SAMPLES["data/table.tsv"],
    }
    assert set(unzip(client.get(url(s3_run, "zip")))) == {f"r-artifacts/{path}" for path in SAMPLES}


# --- in Chromium ---------------------------------------------------------------------------------------------------

WEBM_RECORDER = """async () => {
  // A short WebM made by the browser itself (canvas + MediaRecorder): no video tool or download needed.
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 48;
  const context = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start();
  for (let frame = 0; frame < 12; frame += 1) {
    context.fillStyle = frame % 2 ? "#c00" : "#00c";
    context.fillRect(0, 0, 64, 48);
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(chunks, { type: "video/webm" }).arrayBuffer());
  let binary = "";
  bytes.forEach((byte) => { binary += String.fromCharCode(byte); });
  return btoa(binary);
}"""


def log_every_kind(tmp_path: Path, webm: bytes | None) -> str:
    """A run with one artifact of each kind, logged through the real mlflow client; returns its id."""
    import base64  # noqa: F401 - keeps the imports of the browser test together

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    import numpy as np
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    (tmp_path / "train.py").write_text("def train():\n    return 42\n")
    (tmp_path / "paper.pdf").write_bytes(pdf_bytes())
    (tmp_path / "tone.wav").write_bytes(wav_bytes())
    # An MLmodel written by mlflow's own Model class, as log_model writes it (without training and pickling a model,
    # which would triple this test's time; in MLflow 3, log_model puts files in a logged model, not the run).
    (tmp_path / "model").mkdir()
    model = Model(artifact_path="model")
    model.add_flavor("python_function", loader_module="mlflow.sklearn", model_path="model.pkl", python_version="3.11")
    model.add_flavor("sklearn", pickled_model="model.pkl", sklearn_version="1.5.0", serialization_format="cloudpickle")
    model.signature = ModelSignature(inputs=Schema([ColSpec("double", "x")]), outputs=Schema([ColSpec("long")]))
    model.save(str(tmp_path / "model" / "MLmodel"))
    (tmp_path / "model" / "model.pkl").write_bytes(b"\x80\x05not a real pickle\x00")
    (tmp_path / "model" / "requirements.txt").write_text("scikit-learn==1.5.0\n")
    mlflow.set_experiment("artifact-browser")
    with mlflow.start_run(run_name="browse") as run:
        mlflow.log_text("hello artifacts\nsecond line\n", "notes.txt")
        mlflow.log_artifact(str(tmp_path / "train.py"), "code")
        mlflow.log_dict({"accuracy": 0.9, "labels": ["a", "b"]}, "metrics.json")
        mlflow.log_dict({"lr": 0.01, "layers": [64, 32]}, "config.yaml")
        mlflow.log_artifacts(str(tmp_path / "model"), "model")
        mlflow.log_text("name,score\nalpha,1\nbeta,2\n", "data/table.csv")
        mlflow.log_text("name\tscore\ngamma\t3\n", "data/table.tsv")
        mlflow.log_image(np.tile(np.array([255, 0, 0], dtype=np.uint8), (30, 40, 1)), artifact_file="plots/red.png")
        figure, axes = plt.subplots(figsize=(3, 2))
        axes.plot([1, 2, 3], [3, 1, 2])
        mlflow.log_figure(figure, "plots/figure.png")
        plt.close(figure)
        mlflow.log_text(HTML, "report/index.html")
        mlflow.log_image(np.zeros((8, 8, 3), dtype=np.uint8), artifact_file="report/pic.png")
        mlflow.log_artifact(str(tmp_path / "paper.pdf"), "docs")
        mlflow.log_artifact(str(tmp_path / "tone.wav"), "audio")
        if webm:
            (tmp_path / "clip.webm").write_bytes(webm)
            mlflow.log_artifact(str(tmp_path / "clip.webm"), "video")
    return run.info.run_id


def tree_open(page: Any, path: str) -> None:
    """Click through the tree down to ``path`` (folders are buttons, files links) and wait for its preview."""
    from playwright.sync_api import expect

    tree = page.locator(".artifact-tree")
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        item = tree.locator(f'[data-path="{"/".join(parts[:depth])}"]')
        if depth < len(parts):
            if item.get_attribute("aria-expanded") != "true":
                item.click()
                expect(item).to_have_attribute("aria-expanded", "true")
        else:
            item.click()
            expect(item).to_have_attribute("aria-current", "true")
    expect(page.locator(".artifact-preview .artifact-title")).to_have_text(path)
    expect(page.locator(".artifact-preview")).not_to_have_attribute("aria-busy", "true")


@pytest.mark.live
def test_artifact_previews_in_chromium(page: Any, screenshot: Any, tracking_uri: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto("/experiments/")
    webm = page.evaluate(WEBM_RECORDER)
    run_id = log_every_kind(tmp_path, __import__("base64").b64decode(webm))
    page.goto(f"/runs/{run_id}/artifacts/")
    tree, pane = page.locator(".artifact-tree"), page.locator(".artifact-preview")
    expect(tree.get_by_role("link", name=re.compile(r"^notes\.txt"))).to_be_visible()
    expect(pane.get_by_role("link", name="Download all as zip")).to_be_visible()

    tree_open(page, "notes.txt")
    expect(pane.locator("pre")).to_have_text("hello artifacts\nsecond line\n")
    assert page.url.endswith("?path=notes.txt")
    tree_open(page, "code/train.py")
    expect(pane.locator("pre")).to_contain_text("def train():\n    return 42")
    tree_open(page, "metrics.json")
    expect(pane.locator("pre")).to_contain_text('{\n  "accuracy": 0.9,\n  "labels": [\n    "a",')
    tree_open(page, "config.yaml")
    expect(pane.locator("pre")).to_contain_text("lr: 0.01")
    tree_open(page, "model/MLmodel")
    expect(pane.locator(".artifact-summary")).to_contain_text("python_function, sklearn 1.5.0")
    expect(pane.locator(".artifact-summary")).to_contain_text("x: double")
    expect(pane.locator(".artifact-summary")).to_contain_text("Flavors")
    screenshot("mlmodel")
    tree_open(page, "data/table.csv")
    expect(pane.locator("table td").first).to_have_text("alpha")
    expect(pane.locator("[data-table-note]")).to_contain_text("All 2 rows.")
    tree_open(page, "data/table.tsv")
    expect(pane.get_by_role("cell", name="gamma")).to_be_visible()

    for image in ("plots/red.png", "plots/figure.png"):
        tree_open(page, image)
        img = pane.get_by_role("img", name=image.rsplit("/", 1)[1])
        expect(img).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert pane.get_by_role("img").evaluate("img => img.naturalWidth") == 300  # matplotlib's 3 in at 100 dpi
    screenshot("image")

    tree_open(page, "report/index.html")
    frame = page.frame_locator("iframe.artifact-frame")
    expect(frame.locator("#msg")).to_have_text("static text")  # the page's script did not run
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe.artifact-frame'); return f && f.contentDocument === null; }"
    )  # and the frame is of another (opaque) origin: the page cannot reach into Studio, nor Studio into it
    expect(frame.locator("#pic")).to_have_js_property("naturalWidth", 8)  # a relative image beside the report loads
    screenshot("html")

    tree_open(page, "docs/paper.pdf")
    expect(pane.locator('object[type="application/pdf"]')).to_be_attached()
    assert page.request.get(pane.locator("object").get_attribute("data")).body().startswith(b"%PDF-1.4")
    screenshot("pdf")

    tree_open(page, "audio/tone.wav")
    audio = pane.locator("audio")
    page.wait_for_function("(audio) => audio.readyState >= 1", arg=audio.element_handle())
    assert abs(audio.evaluate("audio => audio.duration") - 0.5) < 0.01
    screenshot("audio")

    tree_open(page, "video/clip.webm")
    video = pane.locator("video")
    page.wait_for_function("(video) => video.readyState >= 1", arg=video.element_handle())
    assert video.evaluate("video => [video.videoWidth, video.videoHeight]") == [64, 48]
    screenshot("video")


@pytest.mark.live
def test_artifact_links_keyboard_and_downloads_in_chromium(
    page: Any, screenshot: Any, tracking_uri: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    run_id = log_every_kind(tmp_path, None)
    # a link opens the same file: the folders on its way are opened and it is selected
    page.goto(f"/runs/{run_id}/artifacts/?path=data/table.csv")
    pane = page.locator(".artifact-preview")
    expect(pane.locator(".artifact-title")).to_have_text("data/table.csv")
    expect(page.locator('.artifact-tree [data-path="data/table.csv"]')).to_have_attribute("aria-current", "true")
    screenshot("table-1280")

    # back goes to the previous selection
    tree_open(page, "notes.txt")
    page.go_back()
    expect(pane.locator(".artifact-title")).to_have_text("data/table.csv")

    # keyboard: arrows move through the tree, right opens a folder and left closes it
    root = page.locator('.artifact-tree [data-path=""]')
    root.focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator('.artifact-tree [data-path="audio"]')).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator('.artifact-tree [data-path="audio"]')).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowRight")
    expect(page.locator('.artifact-tree [data-path="audio/tone.wav"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(pane.locator(".artifact-title")).to_have_text("audio/tone.wav")
    page.keyboard.press("ArrowLeft")
    expect(page.locator('.artifact-tree [data-path="audio"]')).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator('.artifact-tree [data-path="audio"]')).to_have_attribute("aria-expanded", "false")

    # a bad path in the URL is explained in the pane, not a broken page
    page.goto(f"/runs/{run_id}/artifacts/?path=../../etc/passwd")
    expect(pane.get_by_role("alert")).to_have_text("Invalid path")

    # one file, and a folder as a zip
    page.goto(f"/runs/{run_id}/artifacts/?path=metrics.json")
    with page.expect_download() as download:
        pane.get_by_role("link", name="Download", exact=True).click()
    assert download.value.suggested_filename == "metrics.json"
    assert json.loads(Path(download.value.path()).read_text()) == {"accuracy": 0.9, "labels": ["a", "b"]}
    tree_open(page, "model")
    with page.expect_download() as download:
        pane.get_by_role("link", name="Download folder as zip").click()
    assert download.value.suggested_filename == "model.zip"
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert sorted(names) == ["model/MLmodel", "model/model.pkl", "model/requirements.txt"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all as zip").first.click()
    assert download.value.suggested_filename == "browse-artifacts.zip"
    assert "browse-artifacts/docs/paper.pdf" in zipfile.ZipFile(download.value.path()).namelist()

    page.set_viewport_size({"width": 768, "height": 1000})
    tree_open(page, "model/MLmodel")
    screenshot("mlmodel-768")
    tree_open(page, "data/table.csv")
    screenshot("table-768")
    page.get_by_role("button", name="Switch to dark theme").click()
    tree_open(page, "code/train.py")
    screenshot("code-768-dark")


@pytest.mark.live
def test_artifacts_tab_of_the_run_page_in_chromium(page: Any, screenshot: Any, tracking_uri: str) -> None:
    import mlflow
    from playwright.sync_api import expect

    mlflow.set_experiment("artifact-tab")
    with mlflow.start_run(run_name="tabbed") as run:
        mlflow.log_text("hello from the tab\n", "notes.txt")
        mlflow.log_dict({"a": 1}, "nested/deeper/values.json")
    page.goto(f"/runs/{run.info.run_id}/?tab=artifacts&path=nested/deeper/values.json")
    pane = page.locator("#panel-artifacts .artifact-preview")
    expect(pane.locator(".artifact-title")).to_have_text("nested/deeper/values.json")
    expect(pane.locator("pre")).to_have_text('{\n  "a": 1\n}')
    tree_open(page, "notes.txt")
    expect(pane.locator("pre")).to_have_text("hello from the tab\n")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query == {"tab": ["artifacts"], "path": ["notes.txt"]}  # the tab stays, the selection is added
    screenshot("run-tab")

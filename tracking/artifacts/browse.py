"""Browsing a folder of the artifact store: listings, and previews that read only the head of a file.

Everything takes a ``root`` (a store path: a run's artifact folder, a model version's files) and a ``path`` relative
to it from the client, checked with :func:`safe_path`. Nothing here reads a whole file into memory: a preview reads
at most :data:`TEXT_HEAD_BYTES` (or :data:`TABLE_HEAD_BYTES` for a table); folder zips are in
:mod:`tracking.artifacts.zips`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import posixpath
from dataclasses import dataclass, field

import yaml

from studio.errors import not_found
from tracking.artifacts import ArtifactStore, get_artifact_store, safe_path

TEXT_HEAD_BYTES = 256 * 1024  # a text, code, JSON or YAML preview reads this much at most
TABLE_HEAD_BYTES = 1024 * 1024  # a CSV or TSV preview reads this much at most...
TABLE_ROWS = 100  # ...and shows this many rows below the header
TABLE_CELL_CHARS = 500  # longer cells are cut (a cell can be a whole document)
EMBED_MAX_BYTES = 20 * 1024 * 1024  # images and HTML pages above this are offered as a download instead
SNIFF_BYTES = 8 * 1024  # read to tell text from binary for a file whose name says nothing
LIST_LIMIT = 1000  # entries of one folder sent to the tree; the rest are counted, and the zip has them all

# Kind of preview and Content-Type, by extension (lower case) or, for extension-less MLflow files, by name. Spelled
# out rather than left to `mimetypes`, whose answers depend on the machine's /etc/mime.types.
_TEXT, _CODE, _JSON, _YAML, _TABLE = "text", "code", "json", "yaml", "table"
_TYPES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(["txt", "log", "err", "out", "md", "rst", "cfg", "conf", "ini", "properties"],
                    (_TEXT, "text/plain")),
    **dict.fromkeys(["r", "ts", "scala", "go", "rs", "kt", "swift"], (_CODE, "text/plain")),
    **{ext: (_CODE, mime) for ext, mime in [
        ("py", "text/x-python"), ("sh", "text/x-shellscript"), ("sql", "application/sql"), ("js", "text/javascript"),
        ("css", "text/css"), ("xml", "application/xml"), ("java", "text/x-java"), ("c", "text/x-c"),
        ("h", "text/x-c"), ("cpp", "text/x-c++"), ("jsonl", "application/jsonl"),
    ]},
    "toml": (_TEXT, "application/toml"),
    "json": (_JSON, "application/json"),
    "ipynb": (_JSON, "application/x-ipynb+json"),
    "geojson": (_JSON, "application/geo+json"),
    **dict.fromkeys(["yaml", "yml", "MLproject"], (_YAML, "application/yaml")),
    "MLmodel": ("mlmodel", "application/yaml"),
    "csv": (_TABLE, "text/csv"),
    "tsv": (_TABLE, "text/tab-separated-values"),
    **{ext: ("image", mime) for ext, mime in [
        ("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"), ("gif", "image/gif"),
        ("webp", "image/webp"), ("avif", "image/avif"), ("bmp", "image/bmp"), ("ico", "image/x-icon"),
        ("svg", "image/svg+xml"),
    ]},
    **dict.fromkeys(["html", "htm"], ("html", "text/html")),
    "pdf": ("pdf", "application/pdf"),
    **{ext: ("audio", mime) for ext, mime in [
        ("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("ogg", "audio/ogg"), ("oga", "audio/ogg"), ("opus", "audio/ogg"),
        ("flac", "audio/flac"), ("m4a", "audio/mp4"), ("aac", "audio/aac"), ("weba", "audio/webm"),
    ]},
    **{ext: ("video", mime) for ext, mime in [
        ("mp4", "video/mp4"), ("m4v", "video/mp4"), ("webm", "video/webm"), ("ogv", "video/ogg"),
        ("mov", "video/quicktime"),
    ]},
}  # fmt: skip
KIND_LABELS = {
    "folder": "Folder",
    _TEXT: "Text",
    _CODE: "Code",
    _JSON: "JSON",
    _YAML: "YAML",
    "mlmodel": "MLflow model",
    _TABLE: "Table",
    "image": "Image",
    "html": "HTML page",
    "pdf": "PDF",
    "audio": "Audio",
    "video": "Video",
    "binary": "Binary file",
    "empty": "Empty file",
}
TEXT_KINDS = frozenset([_TEXT, _CODE, _JSON, _YAML, "mlmodel"])


@dataclass(frozen=True)
class BrowseEntry:
    """A file or folder of a listing; ``path`` is relative to the root."""

    name: str
    path: str
    is_dir: bool
    size: int | None = None


@dataclass(frozen=True)
class Listing:
    """One folder's children (at most :data:`LIST_LIMIT`) and how many there are in all."""

    path: str
    entries: list[BrowseEntry]
    total: int

    @property
    def hidden(self) -> int:
        """How many children were left out."""
        return self.total - len(self.entries)


@dataclass
class Preview:
    """What the preview pane shows for one path: a ``kind`` and the part of the file that kind needs."""

    path: str
    name: str
    kind: str  # folder, text, code, json, yaml, mlmodel, table, image, html, pdf, audio, video, binary, empty
    size: int | None = None
    text: str = ""
    truncated: bool = False  # only the first `head_bytes` bytes were read
    head_bytes: int = 0
    note: str = ""  # why the preview is not what the kind promises (invalid JSON, unparsable table)
    too_large: bool = False  # an image or page above EMBED_MAX_BYTES: offered as a download
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more_rows: bool = False
    summary: list[tuple[str, str]] = field(default_factory=list)  # MLmodel: flavors, signature, ...
    listing: Listing | None = None

    @property
    def kind_label(self) -> str:
        """The kind in words, for the pane's heading."""
        return KIND_LABELS.get(self.kind, self.kind)


def extension(name: str) -> str:
    extension = posixpath.splitext(name)[1].lstrip(".")
    return extension.lower() if extension else name


def preview_kind(name: str) -> str:
    """The preview a file name calls for; "" when only its content can tell (text or binary)."""
    return _TYPES.get(extension(name), ("", ""))[0]


def content_type(name: str) -> str:
    """The Content-Type a file is downloaded with (text types say UTF-8, as MLflow writes them)."""
    mime = _TYPES.get(extension(name), ("", "application/octet-stream"))[1]
    return f"{mime}; charset=utf-8" if mime.startswith("text/") else mime


def store_path(root: str, path: str) -> str:
    """The store path of ``path`` under ``root``; a traversing path is refused (400)."""
    relative = safe_path(path)
    return posixpath.join(root, relative) if relative else root


def stat(*, root: str, path: str, store: ArtifactStore | None = None) -> BrowseEntry:
    """The file or folder at ``path`` under ``root``: 404 when there is nothing."""
    store = store or get_artifact_store()
    relative = safe_path(path)
    entry = store.stat(store_path(root, relative))
    if entry is None:
        raise not_found(f"No such artifact: '{relative}'" if relative else "No artifacts have been logged here")
    return BrowseEntry(posixpath.basename(relative), relative, entry.is_dir, entry.size)


def list_folder(*, root: str, path: str = "", limit: int | None = None) -> Listing:
    """The children of a folder, folders first then by name; a missing root lists as empty, a missing folder 404s."""
    store = get_artifact_store()
    relative = safe_path(path)
    if relative and store.stat(store_path(root, relative)) is None:
        raise not_found(f"No such artifact: '{relative}'")
    children = store.list(store_path(root, relative))
    limit = LIST_LIMIT if limit is None else limit
    children.sort(key=lambda entry: (not entry.is_dir, entry.name.casefold(), entry.name))
    entries = [
        BrowseEntry(entry.name, posixpath.join(relative, entry.name), entry.is_dir, entry.size)
        for entry in children[:limit]
    ]
    return Listing(relative, entries, len(children))


def read_head(store: ArtifactStore, path: str, limit: int) -> bytes:
    """At most ``limit`` bytes from the start of a store file (one ranged read on S3)."""
    chunks = store.open(path, 0, limit)
    try:
        return b"".join(chunks)[:limit]
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def _decode(head: bytes, truncated: bool) -> str | None:
    """UTF-8 text, or None for binary content. A head cut inside a character loses that character only."""
    if b"\x00" in head[:SNIFF_BYTES]:
        return None
    for cut in range(4 if truncated else 1):
        with contextlib.suppress(UnicodeDecodeError):
            return head[: len(head) - cut].decode("utf-8")
    # Not UTF-8 but not binary either (Latin-1 logs): show it with replacement characters rather than not at all.
    return head.decode("utf-8", errors="replace")


def build_preview(*, root: str, path: str) -> Preview:
    """The preview of the file or folder at ``path`` under ``root``."""
    store = get_artifact_store()
    if not safe_path(path) and store.stat(root) is None:  # nothing logged yet: an empty root, not an error
        return Preview("", "", "folder", listing=Listing("", [], 0))
    entry = stat(root=root, path=path, store=store)
    preview = Preview(entry.path, entry.name or "", "folder" if entry.is_dir else preview_kind(entry.name))
    if entry.is_dir:
        preview.listing = list_folder(root=root, path=entry.path)
        return preview
    preview.size = entry.size or 0
    if preview.kind in ("image", "html"):
        preview.too_large = preview.size > EMBED_MAX_BYTES
    elif preview.kind in ("pdf", "audio", "video"):
        pass  # the browser reads these itself, in ranges
    elif preview.size == 0:
        preview.kind = "empty"
    else:
        _read_content(store, store_path(root, entry.path), preview)
    return preview


def _read_content(store: ArtifactStore, full_path: str, preview: Preview) -> None:
    """Fill a text or table preview from the file's head; a file whose name says nothing is sniffed."""
    limit = TABLE_HEAD_BYTES if preview.kind == _TABLE else TEXT_HEAD_BYTES
    head = read_head(store, full_path, limit if preview.kind else SNIFF_BYTES)
    truncated = (preview.size or 0) > len(head)
    text = _decode(head, truncated)
    if text is None:
        preview.kind = "binary"
        return
    if not preview.kind:
        preview.kind = _TEXT
        if truncated:  # it was only sniffed: read the preview's share
            head = read_head(store, full_path, TEXT_HEAD_BYTES)
            truncated = (preview.size or 0) > len(head)
            text = _decode(head, truncated) or ""
    preview.truncated, preview.head_bytes = truncated, len(head)
    if preview.kind == _TABLE:
        _fill_table(preview, text)
    elif preview.kind == _JSON and not truncated:
        _fill_json(preview, text)
    elif preview.kind == "mlmodel" and not truncated:
        _fill_mlmodel(preview, text)
    else:
        preview.text = text


def _fill_json(preview: Preview, text: str) -> None:
    try:
        preview.text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError as exc:
        preview.text, preview.note = text, f"Not valid JSON ({exc}); shown as it is."


def _fill_mlmodel(preview: Preview, text: str) -> None:
    preview.text = text
    try:
        model = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        preview.note = f"Not valid YAML ({str(exc).splitlines()[0]})."
        return
    if isinstance(model, dict):
        preview.summary = mlmodel_summary(model)


def mlmodel_summary(model: dict) -> list[tuple[str, str]]:
    """The lines of an MLmodel file worth a glance: flavors, signature, ids, versions."""
    summary: list[tuple[str, str]] = []
    flavors = model.get("flavors")
    if isinstance(flavors, dict):
        described = []
        for name, flavor in flavors.items():
            versions = [v for k, v in (flavor or {}).items() if k.endswith("_version") and k != "python_version"]
            version = versions[0] if versions else ""
            described.append(f"{name} {version}".strip() if name != "python_function" else name)
        summary.append(("Flavors", ", ".join(described)))
        python = (flavors.get("python_function") or {}).get("python_version")
        if python:
            summary.append(("Python", str(python)))
    signature = model.get("signature")
    if isinstance(signature, dict):
        for key, label in (("inputs", "Inputs"), ("outputs", "Outputs")):
            if signature.get(key):
                summary.append((label, _signature_text(signature[key])))
    for key, label in (
        ("model_uuid", "Model UUID"),
        ("model_id", "Logged model"),
        ("run_id", "Run"),
        ("artifact_path", "Artifact path"),
        ("utc_time_created", "Created (UTC)"),
        ("mlflow_version", "MLflow version"),
        ("model_size_bytes", "Size in bytes"),
    ):
        if model.get(key):
            summary.append((label, str(model[key])))
    return summary


def _signature_text(spec: object) -> str:
    """A signature's columns as ``name: type`` pairs; MLflow stores them as a JSON string."""
    try:
        columns = json.loads(spec) if isinstance(spec, str) else spec
    except ValueError:
        return str(spec)
    if not isinstance(columns, list):
        return str(spec)
    parts = []
    for column in columns:
        if isinstance(column, dict):
            kind = str(column.get("type", ""))
            if kind == "tensor":
                spec_of = column.get("tensor-spec") or {}
                kind = f"tensor {spec_of.get('dtype', '')} {spec_of.get('shape', '')}"
            parts.append(f"{column['name']}: {kind}" if column.get("name") else str(kind))
    return ", ".join(parts)


def _fill_table(preview: Preview, text: str) -> None:
    """The header and first :data:`TABLE_ROWS` rows; a partial last line of a truncated head is dropped."""
    if preview.truncated and "\n" in text:
        text = text[: text.rindex("\n")]
    delimiter = "\t" if extension(preview.name) == "tsv" else ","
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(rows) > TABLE_ROWS:
                break
            rows.append([cell if len(cell) <= TABLE_CELL_CHARS else cell[:TABLE_CELL_CHARS] + "…" for cell in row])
    except csv.Error as exc:
        preview.kind, preview.note = _TEXT, f"Not a readable table ({exc}); shown as text."
        preview.text = text
        return
    preview.header = rows[0] if rows else []
    preview.rows = rows[1 : TABLE_ROWS + 1]
    preview.more_rows = len(rows) > TABLE_ROWS + 1 or preview.truncated

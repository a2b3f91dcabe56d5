"""A small typed client for rootlab's REST API (`rootlab serve`, docs/api.md).

    from rootlab_client import Client, view, tree_lines
    lab = Client()                                  # $ROOTLAB_URL, else http://127.0.0.1:7878
    result = lab.run_preset("seed-tmpfs")
    print("\\n".join(tree_lines(view(result, "container after mount", "c1")["trees"][0])))

The images API: `lab.images()`, `lab.image(name)`, `lab.layers(name)` (what each layer added,
modified and deleted, and the efficiency), and, as the server's operator allows, `lab.pull(ref)`
and `lab.import_image(path_or_bytes)`.

Every experiment runs for real on the server, in a disposable namespace sandbox. Errors the server
answers (4xx/5xx, and a stream's `error` event) raise `RootlabError` with the server's code,
message and field list. The JSON shapes are typed as `TypedDict`s of the parts a client reads; the
OpenAPI document (`Client.openapi()`) has them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Optional, TypedDict, Union, cast
from urllib.parse import quote

import requests

if TYPE_CHECKING:  # pandas is optional: only the *_frame helpers need it.
    import pandas

__all__ = [
    "Client", "RootlabError", "FieldError", "Health", "PresetSummary", "Preset", "Validation",
    "RunResult", "Snapshot", "View", "Mount", "Tree", "Entry", "Layer", "RunEvent",
    "ImageSummary", "ImageDetail", "LayerInfo", "LayerView", "LayerRow", "ChangedPath",
    "MergedEntry", "WastedFile", "LayerEntryKind", "ImageAdded", "Archive",
    "snapshot", "view", "tree_lines", "mount_diff", "tree_diff", "mounts_frame", "mount_diff_frame",
]

DEFAULT_URL = "http://127.0.0.1:7878"


class FieldError(TypedDict):
    field: str
    message: str


class RootlabError(Exception):
    """An error the server answered: HTTP status (0 for a stream's `error` event), code, message,
    and the fields it names (`invalid_spec` lists each problem)."""

    def __init__(self, status: int, code: str, message: str, fields: list[FieldError]):
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class Workers(TypedDict):
    configured: int
    alive: int
    busy: int
    last_error: Optional[str]


class Health(TypedDict):
    status: Literal["ok", "degraded", "down"]
    version: str
    workers: Workers
    sandbox: dict[str, Any]
    limits: dict[str, Any]


class PresetSummary(TypedDict):
    id: str
    lesson: int
    title: str
    summary: str
    explanation: str


class Preset(PresetSummary):
    spec: dict[str, Any]


class Validation(TypedDict):
    valid: bool
    fields: list[FieldError]


class Mount(TypedDict):
    id: int
    parent: int
    target: str
    source: str
    fstype: str
    propagation: str
    options: str


class _EntryRequired(TypedDict):
    path: str
    kind: str


class Entry(_EntryRequired, total=False):
    link_target: Optional[str]
    layer: Optional[str]
    whiteout: bool
    opaque: bool
    preview: Optional[str]


class _TreeRequired(TypedDict):
    root: str
    entries: list[Entry]


class Tree(_TreeRequired, total=False):
    truncated: bool
    error: Optional[str]


class View(TypedDict):
    actor: str
    mounts: list[Mount]
    trees: list[Tree]


class Layer(TypedDict):
    name: str
    tree: Tree


class _SnapshotRequired(TypedDict):
    label: str
    views: list[View]


class Snapshot(_SnapshotRequired, total=False):
    layers: list[Layer]


class _RunResultRequired(TypedDict):
    status: Literal["completed", "limit_exceeded", "failed"]
    snapshots: list[Snapshot]
    steps: list[dict[str, Any]]


class RunResult(_RunResultRequired, total=False):
    message: Optional[str]
    kernel_release: str
    duration_us: int
    limits: dict[str, Any]


class _ImageSummaryRequired(TypedDict):
    name: str
    digest: str
    layers: int
    size: int
    source: str


class ImageSummary(_ImageSummaryRequired, total=False):
    """A stored image (GET /images): `name` is what specs name it by (`tools`, `busybox`,
    `name:tag`), `layers` how many it has, `size` its unpacked bytes, `source` one of `builtin`,
    `import`, `pull`, `commit`, `created` its config's RFC 3339 time when it has one."""

    created: Optional[str]


class ImageAdded(ImageSummary):
    """An image a pull or an import stored, with what the store dropped or changed on the way in
    (device nodes, FIFOs, setuid/setgid bits)."""

    warnings: list[str]


class _LayerInfoRequired(TypedDict):
    diff_id: str
    size: int
    entries: int


class LayerInfo(_LayerInfoRequired, total=False):
    """One layer of an image: `diff_id` the digest of its uncompressed tar, `size` the bytes of its
    regular files, `entries` its tar's entries; `digest`/`blob_size` of the blob as shipped and
    `created_by` (the build step) when known."""

    digest: Optional[str]
    blob_size: Optional[int]
    created_by: Optional[str]


class _ImageDetailRequired(TypedDict):
    name: str
    digest: str
    size: int
    source: str
    architecture: str
    os: str
    layers: list[LayerInfo]


class ImageDetail(_ImageDetailRequired, total=False):
    """One image (GET /images/{name}): its summary, its config's essentials, and its layers
    bottom (the base) first. Unlike `ImageSummary`, `layers` is the list of them."""

    created: Optional[str]
    env: list[str]
    entrypoint: list[str]
    cmd: list[str]
    working_dir: Optional[str]


# What a layer entry is, in overlayfs terms (an OCI `.wh.<name>` is a "whiteout" at <name>).
LayerEntryKind = Literal["file", "dir", "symlink", "hardlink", "whiteout"]


class ChangedPath(TypedDict):
    path: str
    kind: LayerEntryKind
    size: int


class _LayerRowRequired(TypedDict):
    index: int
    size: int
    entries: int
    wasted_bytes: int
    added: list[ChangedPath]
    modified: list[ChangedPath]
    deleted: list[ChangedPath]
    opaque: list[str]


class LayerRow(_LayerRowRequired, total=False):
    """One layer of the layer view: what it adds (paths no layer below has), modifies (paths it
    ships again) and deletes (whiteouts' targets and what they hid, the contents of its opaque
    directories, with the kind and size they had), and its bytes the final view does not show."""

    created_by: Optional[str]
    upper: bool


class _MergedEntryRequired(TypedDict):
    path: str
    layer: int
    kind: LayerEntryKind
    size: int


class MergedEntry(_MergedEntryRequired, total=False):
    """A path of the merged (final) view and the index of the topmost layer that ships it."""

    target: Optional[str]


class WastedFile(TypedDict):
    path: str
    copies: int
    bytes: int


class LayerView(TypedDict):
    """GET /images/{name}/layers: the layers bottom first, the merged tree, and the bytes shipped
    (`total_bytes`) that the final view does not show (`wasted_bytes`, `wasted` per path);
    `efficiency` = 1 - wasted_bytes / total_bytes."""

    layers: list[LayerRow]
    merged: list[MergedEntry]
    total_bytes: int
    wasted_bytes: int
    wasted: list[WastedFile]
    efficiency: float


# An archive to import: a path to the file, or its bytes.
Archive = Union[str, "os.PathLike[str]", bytes]


# One server-sent event of POST /run/stream: {"event": "queued" | "started" | "step_started" |
# "step_finished" | "finished", ...}. An "error" event is raised as RootlabError instead.
RunEvent = dict[str, Any]


class Client:
    """rootlab serve at `base_url` (default: $ROOTLAB_URL, else http://127.0.0.1:7878)."""

    def __init__(self, base_url: Optional[str] = None, timeout: float = 60.0,
                 session: Optional[requests.Session] = None):
        self.base_url = (base_url or os.environ.get("ROOTLAB_URL") or DEFAULT_URL).rstrip("/")
        self.api = self.base_url + "/api/v1"
        self.timeout = timeout
        self.session = session or requests.Session()
        # The id and cancel token of the last run started with `stream`.
        self.last_run: Optional[tuple[str, str]] = None

    def _json(self, method: str, url: str, body: Any = None) -> Any:
        r = self.session.request(method, url, json=body, timeout=self.timeout)
        _raise_for_error(r)
        return r.json()

    def health(self) -> Health:
        """GET /healthz: the server's summary (workers, sandbox capabilities, limits). Answered
        also when the status is "down" (HTTP 503)."""
        r = self.session.get(self.base_url + "/healthz", timeout=self.timeout)
        if r.status_code not in (200, 503):
            _raise_for_error(r)
        return cast(Health, r.json())

    def presets(self) -> list[PresetSummary]:
        return cast(list[PresetSummary], self._json("GET", self.api + "/presets"))

    def preset(self, preset_id: str) -> Preset:
        return cast(Preset, self._json("GET", f"{self.api}/presets/{preset_id}"))

    def validate(self, spec: Mapping[str, Any]) -> Validation:
        """POST /validate: whether the spec is valid, and what is wrong with it (nothing runs)."""
        return cast(Validation, self._json("POST", self.api + "/validate", spec))

    def run(self, spec: Mapping[str, Any]) -> RunResult:
        """POST /run: run the experiment, return its result (whatever its status)."""
        return cast(RunResult, self._json("POST", self.api + "/run", spec))

    def run_preset(self, preset_id: str) -> RunResult:
        return cast(RunResult, self._json("POST", f"{self.api}/presets/{preset_id}/run"))

    def stream(self, spec: Mapping[str, Any]) -> Iterator[RunEvent]:
        """POST /run/stream: yield each event as it happens; the last is "finished", whose
        "result" is the RunResult. A server-side failure (timeout, cancel, ...) raises.
        While it streams, `last_run` holds the run's id and cancel token (see `cancel`)."""
        with self.session.post(self.api + "/run/stream", json=spec, stream=True,
                               timeout=self.timeout) as r:
            _raise_for_error(r)
            self.last_run = (r.headers.get("X-Run-Id", ""), r.headers.get("X-Cancel-Token", ""))
            for line in r.iter_lines():
                if not line.startswith(b"data: "):
                    continue
                event: RunEvent = json.loads(line[6:])
                if "error" in event:
                    err = event["error"]
                    raise RootlabError(0, err["code"], err["message"], err.get("fields", []))
                yield event

    def cancel(self, run_id: str, token: str) -> None:
        """DELETE /runs/{run_id}: only the client that started the run holds its token (a
        stream's X-Run-Id and X-Cancel-Token headers, kept in `last_run`)."""
        r = self.session.delete(f"{self.api}/runs/{run_id}",
                                headers={"X-Cancel-Token": token}, timeout=self.timeout)
        _raise_for_error(r)

    def images(self) -> list[ImageSummary]:
        """GET /images: the built-ins, then every stored name."""
        return cast(list[ImageSummary], self._json("GET", self.api + "/images"))

    def image(self, name: str) -> ImageDetail:
        """GET /images/{name}: the image's config essentials and its layers (bottom first).
        `name` is `tools`, `name[:tag]` or `sha256:<hex>`; an unknown one raises 404 `not_found`."""
        return cast(ImageDetail, self._json("GET", f"{self.api}/images/{_segment(name)}"))

    def layers(self, name: str) -> LayerView:
        """GET /images/{name}/layers: what each layer added, modified and deleted, the merged
        tree with each path's layer, the wasted bytes and the efficiency."""
        return cast(LayerView, self._json("GET", f"{self.api}/images/{_segment(name)}/layers"))

    def pull(self, reference: str, name: Optional[str] = None) -> ImageAdded:
        """POST /images/pull: pull `reference` (`registry[:port]/name[:tag][@sha256:...]`) into
        the server's store, as `name` if given. Only from registries the operator allows
        (`--allow-registry`); else 403 `forbidden` naming `reference`; 502 when the registry fails."""
        body: dict[str, str] = {"reference": reference}
        if name is not None:
            body["name"] = name
        return cast(ImageAdded, self._json("POST", self.api + "/images/pull", body))

    def import_image(self, archive: Archive, name: Optional[str] = None) -> ImageAdded:
        """POST /images/import: upload a `docker save`/`podman save` tar or an OCI layout tar
        (gzip allowed), given as a path or as bytes, and store it as `name` (default: the
        archive's own name). Only with `--allow-import` (else 403 `forbidden`); 413 past the
        server's size limit; 422 for an archive the store refuses (the message says why)."""
        params = {"name": name} if name is not None else None
        headers = {"Content-Type": "application/x-tar"}
        url = self.api + "/images/import"
        if isinstance(archive, bytes):
            r = self.session.post(url, data=archive, params=params, headers=headers,
                                  timeout=self.timeout)
        else:
            with open(archive, "rb") as f:
                r = self.session.post(url, data=f, params=params, headers=headers,
                                      timeout=self.timeout)
        _raise_for_error(r)
        return cast(ImageAdded, r.json())

    def openapi(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._json("GET", self.api + "/openapi.json"))


def _segment(name: str) -> str:
    """An image name as one URL path segment: `library/nginx:1.27` -> `library%2Fnginx%3A1.27`."""
    return quote(name, safe="")


def _raise_for_error(r: requests.Response) -> None:
    if r.ok:
        return
    try:
        err = r.json()["error"]
        raise RootlabError(r.status_code, err["code"], err["message"], err.get("fields", []))
    except (ValueError, KeyError, TypeError):
        raise RootlabError(r.status_code, "http", r.text[:200], []) from None


def snapshot(result: RunResult, label: str) -> Snapshot:
    """The snapshot with this label; KeyError naming the labels there are."""
    for s in result["snapshots"]:
        if s["label"] == label:
            return s
    raise KeyError(f"no snapshot {label!r}: {[s['label'] for s in result['snapshots']]}")


def view(result: RunResult, label: str, actor: str) -> View:
    """What `actor` ("host", a container's name) saw in the snapshot `label`."""
    snap = snapshot(result, label)
    for v in snap["views"]:
        if v["actor"] == actor:
            return v
    raise KeyError(f"no view of {actor!r} in {label!r}: {[v['actor'] for v in snap['views']]}")


def tree_lines(tree: Tree) -> list[str]:
    """A snapshot tree drawn the way `tree` draws it, with layers, whiteouts and link targets."""
    lines = [(tree["root"] or ".") + (f"  ({tree['error']})" if tree.get("error") else "")]
    base = tree["root"].rstrip("/")
    entries = tree["entries"]
    rels = [e["path"][len(base) + 1:] if base and e["path"].startswith(base + "/") else e["path"].lstrip("/")
            for e in entries]

    def parent(rel: str) -> str:
        return rel.rsplit("/", 1)[0] if "/" in rel else ""

    last = {r: not any(parent(x) == parent(r) for x in rels[i + 1:]) for i, r in enumerate(rels)}
    for e, r in zip(entries, rels):
        prefix, ancestor = "", parent(r)
        while ancestor:
            prefix = ("    " if last.get(ancestor, True) else "│   ") + prefix
            ancestor = parent(ancestor)
        extra = " -> " + (e.get("link_target") or "") if e["kind"] == "symlink" else ""
        extra += f"  [{e['layer']}]" if e.get("layer") else ""
        extra += "  (whiteout)" if e.get("whiteout") else ""
        extra += "  (opaque)" if e.get("opaque") else ""
        name = r.rsplit("/", 1)[-1] + ("/" if e["kind"] == "dir" else "")
        lines.append(prefix + ("└── " if last[r] else "├── ") + name + extra)
    if tree.get("truncated"):
        lines.append("... (truncated)")
    return lines


MountKey = tuple[str, str, str]


def mount_diff(before: View, after: View) -> list[tuple[str, str, str, str]]:
    """Mounts added ("+") and removed ("-") between two views: (change, target, fstype, source)."""
    def keys(v: View) -> set[MountKey]:
        return {(m["target"], m["fstype"], m["source"]) for m in v["mounts"]}

    a, b = keys(before), keys(after)
    return [("+", *k) for k in sorted(b - a)] + [("-", *k) for k in sorted(a - b)]


def tree_diff(before: Tree, after: Tree) -> list[str]:
    """Paths added ("+ path") and removed ("- path") between two walks of the same path."""
    a = {e["path"] for e in before["entries"]}
    b = {e["path"] for e in after["entries"]}
    return sorted("+ " + p for p in b - a) + sorted("- " + p for p in a - b)


MOUNT_COLUMNS = ["id", "parent", "target", "source", "fstype", "propagation", "options"]


def mounts_frame(v: View) -> pandas.DataFrame:
    """A view's mount table as a pandas DataFrame with findmnt-style columns."""
    import pandas as pd

    return pd.DataFrame(v["mounts"], columns=MOUNT_COLUMNS)


def mount_diff_frame(before: View, after: View) -> pandas.DataFrame:
    import pandas as pd

    return pd.DataFrame(mount_diff(before, after), columns=["change", "target", "fstype", "source"])

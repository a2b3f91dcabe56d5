"""Live tests of the images API: a real `rootlab serve` over real HTTP.

The default server (run.sh's: no pulls, no imports; lesson 7's `debian-lesson` imported before it
started) lists, inspects and shows the layers of its images and refuses pulls and imports. A second
server, started here with a store of its own (ROOTLAB_STATE_DIR in a temp dir), imports archives
and pulls from a real registry (`docker-registry`, Distribution) on 127.0.0.1 holding a small image
built with umoci and pushed with skopeo; a run then uses the pulled image as its host.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from conftest import start

TIMEOUT = 60


def error_of(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    return error


def fields_of(error: dict) -> list[str]:
    return [f["field"] for f in error["fields"]]


def segment(name: str) -> str:
    """An image name as one path segment (`library/nginx:1.27` -> `library%2Fnginx%3A1.27`)."""
    return quote(name, safe="")


def run_on(api: str, image: str, *argv: str) -> requests.Response:
    spec = {"title": "on " + image, "host": {"image": image}, "steps": [{"op": "run", "argv": list(argv)}]}
    return requests.post(api + "/run", json=spec, timeout=TIMEOUT)


# ---------------------------------------------------------------- the default server


def test_list_shows_the_builtins_and_the_lesson_image(server):
    r = requests.get(server.api + "/images", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    images = {i["name"]: i for i in r.json()}
    assert [i["name"] for i in r.json()[:2]] == ["tools", "busybox"]
    assert images["tools"]["source"] == images["busybox"]["source"] == "builtin"
    lesson = images["debian-lesson:latest"]
    assert lesson["layers"] == 3 and lesson["source"] == "import", lesson
    assert lesson["digest"].startswith("sha256:") and lesson["size"] > 0


def test_inspect_and_layers_of_the_lesson_image(server):
    r = requests.get(server.api + "/images/debian-lesson", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["name"] == "debian-lesson:latest" and detail["os"] == "linux"
    assert len(detail["layers"]) == 3
    created_by = [layer["created_by"] for layer in detail["layers"]]
    assert all(created_by), created_by
    assert "debootstrap" in created_by[0] and "rm /etc/debian_version" in created_by[2]
    # The same image by its full name, `:` encoded.
    by_tag = requests.get(server.api + "/images/" + segment("debian-lesson:latest"), timeout=TIMEOUT)
    assert by_tag.status_code == 200 and by_tag.json()["digest"] == detail["digest"]

    r = requests.get(server.api + "/images/debian-lesson/layers", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    view = r.json()
    assert [row["index"] for row in view["layers"]] == [0, 1, 2]
    assert [row["created_by"] for row in view["layers"]] == created_by
    base, top = view["layers"][0], view["layers"][2]
    assert "etc/debian_version" in [a["path"] for a in base["added"]]
    # The top layer's whiteout deletes it: listed as deleted, gone from the merged tree.
    assert "etc/debian_version" in [d["path"] for d in top["deleted"]]
    merged = {e["path"]: e for e in view["merged"]}
    assert "etc/debian_version" not in merged
    assert merged["usr/share/doc/tree"]["layer"] == 2 and merged["etc/os-release"]["layer"] == 0
    assert 0 < view["wasted_bytes"] < view["total_bytes"]
    assert view["efficiency"] == pytest.approx(1 - view["wasted_bytes"] / view["total_bytes"])


def test_pull_and_import_are_forbidden_by_default(server):
    r = requests.post(server.api + "/images/pull", json={"reference": "127.0.0.1:5000/busybox:1"},
                      timeout=TIMEOUT)
    error_of(r, 403, "forbidden")
    r = requests.post(server.api + "/images/import?name=x", data=b"not a tar",
                      headers={"Content-Type": "application/x-tar"}, timeout=TIMEOUT)
    error_of(r, 403, "forbidden")


def test_an_unknown_image_is_404_naming_name(server):
    for name in ("no-such-image", "library/no-such-image:1.0"):
        for tail in ("", "/layers"):
            r = requests.get(server.api + "/images/" + segment(name) + tail, timeout=TIMEOUT)
            assert fields_of(error_of(r, 404, "not_found")) == ["name"]


def test_a_run_on_an_unknown_host_image_is_422(server):
    error = error_of(run_on(server.api, "no-such-image:1", "/bin/true"), 422, "invalid_spec")
    assert "host.image" in fields_of(error), error


# ---------------------------------------------------------------- a server that pulls and imports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*argv: str) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{argv}: {out.stderr}"
    return out.stdout


class Lab:
    """The second server, its registry, and what was pushed there."""

    def __init__(self, server, registry: str, archive: Path):
        self.server = server
        self.api = server.api
        self.registry = registry
        self.reference = f"{registry}/lab/busybox:v1"
        self.archive = archive


@pytest.fixture(scope="module")
def lab():
    missing = [tool for tool in ("docker-registry", "skopeo", "umoci") if not shutil.which(tool)]
    if missing or not Path("/bin/busybox").exists():
        pytest.skip(f"needs {missing or 'busybox-static'} (Debian: docker-registry skopeo umoci busybox-static)")
    # mkdtemp makes a 0700 dir; the sandbox uid must reach the store below it.
    work = Path(tempfile.mkdtemp(prefix="rootlab-images-"))
    work.chmod(0o755)
    registry_proc = server = None
    try:
        # A real registry with filesystem storage on a free port.
        port = free_port()
        registry = f"127.0.0.1:{port}"
        config = work / "registry.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
            f"http:\n  addr: {registry}\n"
        )
        registry_proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"http://{registry}/v2/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert registry_proc.poll() is None, "docker-registry exited"
            assert time.monotonic() < deadline, "docker-registry did not answer"
            time.sleep(0.05)

        # A one-layer image (busybox alone), pushed there and tarred as an oci-archive.
        layout, bundle = work / "layout", work / "bundle"
        sh("umoci", "init", "--layout", str(layout))
        sh("umoci", "new", "--image", f"{layout}:t")
        sh("umoci", "unpack", "--image", f"{layout}:t", str(bundle))
        (bundle / "rootfs" / "bin").mkdir(exist_ok=True)
        shutil.copy("/bin/busybox", bundle / "rootfs" / "bin" / "busybox")
        sh("umoci", "repack", "--image", f"{layout}:t", str(bundle))
        sh("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:t",
           f"docker://{registry}/lab/busybox:v1")
        archive = work / "image.tar"
        sh("tar", "-C", str(layout), "-cf", str(archive), ".")

        state = work / "state"
        state.mkdir(mode=0o755)
        server = start(
            "--rate-limit", "0", "--workers", "1", "--allow-import", "50000000",
            "--allow-registry", registry, "--insecure-registry", registry,
            env={"ROOTLAB_STATE_DIR": str(state)},
        )
        yield Lab(server, registry, archive)
    finally:
        if server is not None and server.proc.poll() is None:
            assert server.stop() == 0
        if registry_proc is not None:
            registry_proc.terminate()
            try:
                registry_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                registry_proc.kill()
                registry_proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def test_pull_from_an_allowed_registry(lab):
    r = requests.post(lab.api + "/images/pull", json={"reference": lab.reference}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["name"] == lab.reference and added["source"] == "pull", added
    assert added["layers"] == 1 and added["warnings"] == []
    listed = {i["name"]: i for i in requests.get(lab.api + "/images", timeout=TIMEOUT).json()}
    assert listed[lab.reference]["digest"] == added["digest"]
    detail = requests.get(lab.api + "/images/" + segment(lab.reference), timeout=TIMEOUT)
    assert detail.status_code == 200, detail.text
    assert detail.json()["source"] == "pull" and len(detail.json()["layers"]) == 1


def test_a_run_on_the_pulled_image(lab):
    r = run_on(lab.api, lab.reference, "/bin/busybox", "echo", "hi")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "completed", result.get("message")
    assert result["image"]["name"] == lab.reference
    step = result["steps"][0]
    assert step["outcome"]["status"] == "ok", step
    assert step["output"]["stdout"] == "hi\n"


def test_import_an_oci_archive(lab):
    r = requests.post(lab.api + "/images/import", params={"name": "lab/imported:v1"},
                      data=lab.archive.read_bytes(), headers={"Content-Type": "application/x-tar"},
                      timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["name"] == "lab/imported:v1" and added["source"] == "import", added
    assert added["layers"] == 1
    detail = requests.get(lab.api + "/images/" + segment("lab/imported:v1"), timeout=TIMEOUT).json()
    layers = requests.get(lab.api + "/images/" + segment("lab/imported:v1") + "/layers",
                          timeout=TIMEOUT).json()
    assert "bin/busybox" in [a["path"] for a in layers["layers"][0]["added"]]
    assert layers["efficiency"] == 1.0
    # The same layer as the one pushed to the registry (when the pull test stored it).
    pulled = requests.get(lab.api + "/images/" + segment(lab.reference), timeout=TIMEOUT)
    if pulled.status_code == 200:
        assert [l["diff_id"] for l in detail["layers"]] == [l["diff_id"] for l in pulled.json()["layers"]]


def test_a_pull_from_a_registry_not_allowed_is_403(lab):
    r = requests.post(lab.api + "/images/pull", json={"reference": "127.0.0.2:5000/lab/busybox:v1"},
                      timeout=TIMEOUT)
    assert fields_of(error_of(r, 403, "forbidden")) == ["reference"]


def test_an_archive_the_store_refuses_is_422(lab):
    r = requests.post(lab.api + "/images/import", data=b"not a tar at all",
                      headers={"Content-Type": "application/x-tar"}, timeout=TIMEOUT)
    error_of(r, 422, "invalid_spec")


def test_an_archive_over_the_limit_is_a_json_413(lab):
    r = requests.post(lab.api + "/images/import", data=b"\0" * 50_000_001,
                      headers={"Content-Type": "application/x-tar"}, timeout=TIMEOUT)
    error_of(r, 413, "payload_too_large")

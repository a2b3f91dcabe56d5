"""The images API through the client, against real servers: the default one (built-ins, lesson
7's `debian-lesson` when the store has it, pulls and imports refused) and one of its own with
imports allowed and a store of its own (a temp ROOTLAB_STATE_DIR)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import rootlab_binary, start_rootlab
from rootlab_client import Client, RootlabError

# A registry this test allows but where nothing listens (port 1): pulls reach it and fail.
DEAD_REGISTRY = "127.0.0.1:1"


@pytest.fixture
def lab(server_url):
    return Client(server_url, timeout=30)


def state_dir() -> Path:
    """A fresh state dir the sandbox uid can reach (mkdtemp makes it 0700)."""
    d = Path(tempfile.mkdtemp(prefix="rootlab-client-"))
    d.chmod(0o755)
    return d


@pytest.fixture(scope="module")
def archive():
    """An OCI layout tar of the built-in busybox, as `rootlab images export` writes it."""
    d = state_dir()
    try:
        out = d / "busybox.tar"
        subprocess.run([rootlab_binary(), "images", "export", "busybox", str(out)], check=True,
                       env={**os.environ, "ROOTLAB_STATE_DIR": str(d / "state")}, capture_output=True)
        yield out
    finally:
        shutil.rmtree(d)


@pytest.fixture(scope="module")
def importer():
    """A server that imports archives up to 50 MB and pulls only from DEAD_REGISTRY."""
    d = state_dir()
    try:
        flags = ("--workers", "1", "--allow-import", "50000000",
                 "--allow-registry", DEAD_REGISTRY, "--insecure-registry", DEAD_REGISTRY)
        with start_rootlab(*flags, env={"ROOTLAB_STATE_DIR": str(d)}) as url:
            yield Client(url, timeout=60)
    finally:
        shutil.rmtree(d)


def raised(call, *args, **kwargs) -> RootlabError:
    with pytest.raises(RootlabError) as err:
        call(*args, **kwargs)
    return err.value


# ---------------------------------------------------------------- the default server


def test_images_lists_the_builtins_first(lab):
    images = lab.images()
    assert [i["name"] for i in images[:2]] == ["tools", "busybox"]
    for image in images:
        assert image["digest"].startswith("sha256:") and image["layers"] >= 1, image
    assert {i["source"] for i in images[:2]} == {"builtin"}


def test_image_and_layers_of_a_builtin(lab):
    detail = lab.image("busybox")
    assert detail["name"] == "busybox" and detail["os"] == "linux"
    assert len(detail["layers"]) == 1 and detail["layers"][0]["diff_id"].startswith("sha256:")
    view = lab.layers("busybox")
    assert len(view["layers"]) == 1 and view["wasted_bytes"] == 0 and view["efficiency"] == 1.0
    assert any(e["path"] == "bin/busybox" and e["layer"] == 0 for e in view["merged"])


def test_layers_of_the_lesson_image(lab):
    if "debian-lesson:latest" not in [i["name"] for i in lab.images()]:
        pytest.skip("no debian-lesson in the default store (scripts/lesson-images.sh puts it there)")
    detail = lab.image("debian-lesson:latest")
    assert [bool(layer.get("created_by")) for layer in detail["layers"]] == [True, True, True]
    view = lab.layers("debian-lesson")
    top = view["layers"][2]
    assert "etc/debian_version" in [d["path"] for d in top["deleted"]]
    assert "etc/debian_version" not in [e["path"] for e in view["merged"]]
    assert 0 < view["efficiency"] < 1 and view["wasted_bytes"] > 0


def test_an_unknown_image_is_404_naming_name(lab):
    # `/` and `:` travel encoded in one path segment: the server answers for the image, not with
    # "no such endpoint".
    for name in ("no-such-image", "library/no-such-image:1.0"):
        for call in (lab.image, lab.layers):
            err = raised(call, name)
            assert (err.status, err.code) == (404, "not_found")
            assert [f["field"] for f in err.fields] == ["name"], err


def test_pull_and_import_are_forbidden_by_default(lab):
    err = raised(lab.pull, "127.0.0.1:5000/busybox:1")
    assert (err.status, err.code) == (403, "forbidden")
    err = raised(lab.import_image, b"not even a tar", name="x")
    assert (err.status, err.code) == (403, "forbidden")


# ---------------------------------------------------------------- a server that imports


def test_import_a_path_and_bytes(importer, archive):
    added = importer.import_image(archive, name="lab/busybox:v1")
    assert added["name"] == "lab/busybox:v1" and added["source"] == "import"
    assert added["layers"] == 1 and added["warnings"] == []
    again = importer.import_image(archive.read_bytes(), name="lab/again:v2")
    assert again["digest"] == added["digest"]
    names = [i["name"] for i in importer.images()]
    assert "lab/busybox:v1" in names and "lab/again:v2" in names
    detail = importer.image("lab/busybox:v1")
    assert detail["digest"] == added["digest"] and detail["layers"][0]["blob_size"]
    assert importer.image(added["digest"])["digest"] == added["digest"]
    assert [row["index"] for row in importer.layers("lab/busybox:v1")["layers"]] == [0]
    result = importer.run({"host": {"image": "lab/busybox:v1"},
                           "steps": [{"op": "run", "argv": ["/bin/busybox", "echo", "hi"]}]})
    assert result["status"] == "completed", result.get("message")
    assert result["steps"][0]["output"]["stdout"] == "hi\n"


def test_import_errors(importer, archive):
    err = raised(importer.import_image, b"not a tar")
    assert (err.status, err.code) == (422, "invalid_spec") and "archive" in err.message
    err = raised(importer.import_image, archive, name="Not A Name")
    assert (err.status, err.code) == (422, "invalid_spec")
    assert [f["field"] for f in err.fields] == ["name"]
    # Past --allow-import: 413 (the body's code is the server's business: e2e/api/test_images.py).
    assert raised(importer.import_image, b"\0" * 50_000_001).status == 413


def test_pull_errors(importer):
    err = raised(importer.pull, "example.com/library/busybox:1")
    assert (err.status, err.code) == (403, "forbidden")
    assert [f["field"] for f in err.fields] == ["reference"]
    err = raised(importer.pull, f"{DEAD_REGISTRY}/busybox:1", name="Not A Name")
    assert (err.status, err.code) == (422, "invalid_spec")
    assert [f["field"] for f in err.fields] == ["name"]
    err = raised(importer.pull, f"{DEAD_REGISTRY}/busybox:1", name="dead:1")
    assert (err.status, err.code) == (502, "upstream_failed")

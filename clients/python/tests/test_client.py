"""The client against a real server: every method, the errors it raises, and the helpers on real
results (lesson 2's tmpfs, lesson 7's layers)."""

import pytest

from rootlab_client import (
    Client, RootlabError, mount_diff, mount_diff_frame, mounts_frame, snapshot, tree_diff, tree_lines, view,
)

TMPFS = {
    "title": "tmpfs on /tmp",
    "host": {"root_propagation": "private",
             "files": [{"type": "file", "path": "/tmp/kept.txt", "content": "host file"}]},
    "steps": [
        {"op": "container", "name": "c1"},
        {"op": "snapshot", "label": "before", "paths": ["/tmp"]},
        {"op": "tmpfs", "in": "c1", "target": "/tmp", "source": "none"},
        {"op": "snapshot", "label": "after", "paths": ["/tmp"]},
    ],
}


@pytest.fixture
def lab(server_url):
    return Client(server_url, timeout=30)


def test_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("ROOTLAB_URL", "http://example.invalid:1/")
    assert Client().api == "http://example.invalid:1/api/v1"
    monkeypatch.delenv("ROOTLAB_URL")
    assert Client().base_url == "http://127.0.0.1:7878"


def test_health(lab):
    health = lab.health()
    assert health["status"] == "ok", health
    assert health["workers"]["alive"] == health["workers"]["configured"] == 2


def test_presets(lab):
    ids = [p["id"] for p in lab.presets()]
    assert "seed-tmpfs" in ids
    preset = lab.preset("seed-tmpfs")
    assert preset["lesson"] == 2 and preset["spec"]["steps"]


def test_unknown_preset_raises_the_servers_error(lab):
    with pytest.raises(RootlabError) as err:
        lab.preset("no-such-preset")
    assert err.value.status == 404 and err.value.code == "not_found"


def test_validate_names_the_field(lab):
    v = lab.validate({"steps": [{"op": "tmpfs", "target": "relative/path"}]})
    assert not v["valid"] and v["fields"][0]["field"] == "steps[0].target"
    assert lab.validate(TMPFS) == {"valid": True, "fields": []}


def test_invalid_run_raises_with_fields(lab):
    with pytest.raises(RootlabError) as err:
        lab.run({"steps": [{"op": "tmpfs", "target": "relative/path"}]})
    assert err.value.status == 422 and err.value.code == "invalid_spec"
    assert err.value.fields[0]["field"] == "steps[0].target"


def test_run_and_helpers(lab):
    result = lab.run(TMPFS)
    assert result["status"] == "completed", result.get("message")
    before, after = view(result, "before", "c1"), view(result, "after", "c1")
    added = mount_diff(before, after)
    assert ("+", "/tmp", "tmpfs", "none") in added
    assert tree_diff(before["trees"][0], after["trees"][0]) == ["- /tmp/kept.txt"]
    assert tree_lines(view(result, "after", "host")["trees"][0]) == ["/tmp", "└── kept.txt"]
    frame = mounts_frame(after)
    assert list(frame.columns) == ["id", "parent", "target", "source", "fstype", "propagation", "options"]
    assert len(frame.query("target == '/tmp' and fstype == 'tmpfs'")) == 1
    assert len(mount_diff_frame(before, after)) == len(added)
    with pytest.raises(KeyError, match="before"):
        snapshot(result, "no such label")


def test_layers_tree_shows_whiteout(lab):
    spec = {
        "host": {"root_propagation": "private"},
        "layers": [{"name": "base", "entries": [{"type": "file", "path": "old.conf", "content": "old"}]},
                   {"name": "upper", "entries": []}],
        "steps": [
            {"op": "mkdir", "path": "/merged"},
            {"op": "overlay", "target": "/merged", "lowers": ["base"], "upper": "upper"},
            {"op": "delete", "path": "/merged/old.conf"},
            {"op": "snapshot", "label": "after", "views": ["host"], "paths": ["/merged"], "layers": True},
        ],
    }
    result = lab.run(spec)
    upper = next(layer for layer in snapshot(result, "after")["layers"] if layer["name"] == "upper")
    assert any("old.conf" in line and "(whiteout)" in line for line in tree_lines(upper["tree"]))


def test_run_preset_and_stream(lab):
    assert lab.run_preset("seed-tmpfs")["status"] == "completed"
    events = list(lab.stream(lab.preset("seed-tmpfs")["spec"]))
    kinds = [e["event"] for e in events]
    assert kinds[0] in ("queued", "started") and kinds[-1] == "finished"
    assert "step_finished" in kinds
    assert events[-1]["result"]["status"] == "completed"


def test_a_stream_is_cancelled_with_its_token(lab):
    spec = {"steps": [{"op": "run", "argv": ["sleep", "20"]}]}
    ended = None
    try:
        for event in lab.stream(spec):
            if event["event"] == "step_started":
                assert lab.last_run is not None
                lab.cancel(*lab.last_run)
            if event["event"] == "finished":
                ended = event["result"]["status"]
    except RootlabError as e:
        ended = e.code
    assert ended == "cancelled"


def test_cancel_unknown_run_raises(lab):
    with pytest.raises(RootlabError) as err:
        lab.cancel("0" * 32, "0" * 32)
    assert err.value.status == 404


def test_openapi(lab):
    assert lab.openapi()["openapi"].startswith("3.")

"""policy.py must refuse what it is there to catch: each case breaks one rule in a copy of a
rendered overlay and expects an error naming it. Usage: policy_selftest.py RENDERED.yaml."""

import copy
import sys

import yaml

from policy import check


def container(docs):
    dep = next(d for d in docs if d["kind"] == "Deployment")
    return dep["spec"]["template"]["spec"], dep["spec"]["template"]["spec"]["containers"][0]


def case_probe(docs):
    container(docs)[1]["readinessProbe"]["httpGet"]["path"] = "/healthz"


def case_latest(docs):
    c = container(docs)[1]
    c["image"] = c["image"].rsplit(":", 1)[0] + ":latest"


def case_privileged(docs):
    container(docs)[1]["securityContext"]["privileged"] = True


def case_capability(docs):
    container(docs)[1]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]


def case_host_users(docs):
    container(docs)[0]["hostUsers"] = True


def case_masked_proc(docs):
    del container(docs)[1]["securityContext"]["procMount"]


def case_namespace_label(docs):
    ns = next(d for d in docs if d["kind"] == "Namespace")
    ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"


def case_egress(docs):
    np = next(d for d in docs if d["kind"] == "NetworkPolicy")
    np["spec"]["egress"] = [{}]


def case_no_emptydir(docs):
    pod, _ = container(docs)
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "tmp"]


def case_replicas_beside_hpa(docs):
    next(d for d in docs if d["kind"] == "Deployment")["spec"]["replicas"] = 3


CASES = {
    case_probe: "readinessProbe must GET /readyz",
    case_latest: "is :latest",
    case_privileged: "privileged",
    case_capability: "adds capabilities",
    case_host_users: "hostUsers must be false",
    case_masked_proc: "procMount must be Unmasked",
    case_namespace_label: "enforce label",
    case_egress: "egress must be closed",
    case_no_emptydir: "no emptyDir at ['/tmp']",
    case_replicas_beside_hpa: "replicas must be set exactly when no HPA owns the count",
}


def main(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert check(docs) == [], check(docs)
    failed = 0
    for case, expected in CASES.items():
        broken = copy.deepcopy(docs)
        case(broken)
        errors = check(broken)
        if not any(expected in e for e in errors):
            print(f"policy self-test {case.__name__}: expected {expected!r}, got {errors}", file=sys.stderr)
            failed += 1
    print(f"policy self-test: {len(CASES) - failed} of {len(CASES)} broken copies refused")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

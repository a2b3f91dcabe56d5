"""Rules a schema cannot express, checked on one rendered overlay (kustomize output).

Usage: policy.py OVERLAY_NAME RENDERED.yaml. Prints one line per broken rule and exits 1 if any.
Each rule is here because a mistake in it deploys without error and fails later: probes blind to a
broken sandbox, an image that cannot be pulled, a namespace that refuses the pods.
"""

import sys

import yaml

# The only securityContext settings that may be looser than the restricted Pod Security Standard:
# docs in deploy/k8s/README.md ("The security context").
SANDBOX_EXCEPTIONS = {
    ("seccompProfile", "type"): "Unconfined",
    ("appArmorProfile", "type"): "Unconfined",
    ("procMount",): "Unmasked",
}


def get(obj, *path):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def check(docs):
    errors = []
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)

    def need(cond, message):
        if not cond:
            errors.append(message)

    namespaces = {ns["metadata"]["name"]: ns for ns in by_kind.get("Namespace", [])}
    need(len(namespaces) == 1, f"one Namespace expected, found {sorted(namespaces)}")
    for ns in namespaces.values():
        label = get(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce")
        need(label == "privileged", f"Namespace {ns['metadata']['name']}: enforce label is {label!r}")

    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] != "Namespace":
            need(meta.get("namespace") in namespaces, f"{doc['kind']}/{meta['name']} is outside the Namespace")
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of"):
            need(key in meta.get("labels", {}), f"{doc['kind']}/{meta['name']} has no label {key}")

    deployments = by_kind.get("Deployment", [])
    need(len(deployments) == 1, "one Deployment expected")
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        where = f"Deployment/{dep['metadata']['name']}"
        need(pod.get("hostUsers") is False, f"{where}: hostUsers must be false (procMount Unmasked needs it)")
        need(get(pod, "securityContext", "runAsNonRoot") is True, f"{where}: runAsNonRoot")
        need(pod.get("automountServiceAccountToken") is False, f"{where}: the server needs no API token")
        annotations = get(dep, "spec", "template", "metadata", "annotations") or {}
        need(annotations.get("prometheus.io/scrape") == "true", f"{where}: no scrape annotation")
        mounts_needed = {"/tmp", "/var/lib/rootlab"}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            cw = f"{where} container {c['name']}"
            image = c["image"]
            need(":" in image.rsplit("/", 1)[-1] or "@" in image, f"{cw}: image {image!r} has no tag")
            need(not image.endswith(":latest"), f"{cw}: image {image!r} is :latest")
            need(c.get("imagePullPolicy") in ("IfNotPresent", "Never"), f"{cw}: imagePullPolicy")
            ports = {p.get("name") for p in c.get("ports", [])}
            need("http" in ports, f"{cw}: no port named http")
            for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
                need(get(c, probe, "httpGet", "path") == path, f"{cw}: {probe} must GET {path}")
                need(get(c, probe, "httpGet", "port") == "http", f"{cw}: {probe} must use the named port")
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    need(get(c, "resources", kind, res) is not None, f"{cw}: no {kind}.{res}")
            sc = c.get("securityContext", {})
            need(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation")
            need(sc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem")
            need(get(sc, "capabilities", "drop") == ["ALL"], f"{cw}: capabilities must drop ALL")
            need(not get(sc, "capabilities", "add"), f"{cw}: adds capabilities")
            need(not sc.get("privileged"), f"{cw}: privileged")
            for path, value in SANDBOX_EXCEPTIONS.items():
                need(get(sc, *path) == value, f"{cw}: {'.'.join(path)} must be {value}")
            for m in c.get("volumeMounts", []):
                if m["mountPath"] in mounts_needed and "emptyDir" in volumes.get(m["name"], {}):
                    mounts_needed.discard(m["mountPath"])
            need(not mounts_needed, f"{cw}: no emptyDir at {sorted(mounts_needed)}")

    for svc in by_kind.get("Service", []):
        for port in svc["spec"]["ports"]:
            need(port.get("targetPort") == "http", f"Service/{svc['metadata']['name']}: targetPort must be 'http'")
    need(len(by_kind.get("PodDisruptionBudget", [])) == 1, "one PodDisruptionBudget expected")
    need(len(by_kind.get("NetworkPolicy", [])) == 1, "one NetworkPolicy expected")
    for np in by_kind.get("NetworkPolicy", []):
        need(np["spec"].get("egress") == [] and "Egress" in np["spec"]["policyTypes"],
             f"NetworkPolicy/{np['metadata']['name']}: egress must be closed")
    for dep in deployments:
        has_hpa = bool(by_kind.get("HorizontalPodAutoscaler"))
        need(("replicas" in dep["spec"]) != has_hpa,
             f"Deployment/{dep['metadata']['name']}: replicas must be set exactly when no HPA owns the count")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        metrics = [get(m, "resource", "name") for m in hpa["spec"].get("metrics", [])]
        need(metrics == ["cpu"], f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: scales on {metrics}")
    for ing in by_kind.get("Ingress", []):
        ann = ing["metadata"].get("annotations", {})
        need(ann.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off",
             f"Ingress/{ing['metadata']['name']}: SSE needs proxy-buffering off")
        need(int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60")) > 30,
             f"Ingress/{ing['metadata']['name']}: read timeout must outlast a run (30 s)")
        env = {e["name"]: e.get("value") for d in deployments for c in d["spec"]["template"]["spec"]["containers"]
               for e in c.get("env", [])}
        need(env.get("ROOTLAB_TRUST_FORWARDED_FOR") == "true",
             "behind an Ingress the Deployment must set ROOTLAB_TRUST_FORWARDED_FOR=true")
    return errors


def main(name, path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    errors = check(docs)
    for e in errors:
        print(f"policy {name}: {e}", file=sys.stderr)
    if errors:
        return 1
    kinds = sorted({d["kind"] for d in docs})
    print(f"policy {name}: {len(docs)} objects ({', '.join(kinds)}) keep the rules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

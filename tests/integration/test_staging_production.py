"""Staging and production: two simulated clusters from the shipped staging-production
inventory, stood up by the real site.yml from nothing (then a second run that changes
nothing), and releases shipped through promote.yml.

Both clusters read one platform repository (staging's git server), each its own
clusters/<env> path; the inventory is the shipped one with this test's ports and state.
"""

import os
import subprocess
import time

import pytest
import yaml
from conftest import ROOT, assert_ok, free_block, free_port, run_playbook

INVENTORY = os.path.join(ROOT, "inventories", "staging-production", "hosts.yml")
SITE = os.path.join(ROOT, "playbooks", "site.yml")
PROMOTE = os.path.join(ROOT, "playbooks", "promote.yml")
TEARDOWN = os.path.join(ROOT, "playbooks", "teardown.yml")
IMAGE = "ghcr.io/stefanprodan/podinfo"
ENVIRONMENTS = ("staging", "production")
BACKEND = "ghcr.io/gitops-progressive/backend"
BACKEND_ENV_PATH = "spec.template.spec.containers[name=backend].env[name=ERROR_FRACTION].value"
# A short analysis: two steps of 25 % every 10 s, Flagger checking every 2 s.
CANARY = dict(interval="10s", threshold=2, maxWeight=50, stepWeight=25, progressDeadlineSeconds=60,
              metrics=[dict(name="request-success-rate", thresholdRange={"min": 70}, interval="15s")])
# podinfo's canary also has Flagger's rollback gate at the load tester: a test opens it to
# fail the release image automation made (a tag alone carries no fault on this platform).
ROLLBACK_GATE = dict(name="rollback-gate", type="rollback", url="http://flagger-loadtester.flagger-system/rollback/check")
# podinfo follows new tags in staging (image automation); backend ships through promote.yml
# (with the apps role's default conformance and load-test webhooks).
VARIABLES = dict(
    flagger_control_loop_interval="2s", cluster_nodes=1, apps_enabled=["podinfo", "backend"],
    apps_catalog=dict(
        podinfo=dict(namespace="demo", image=IMAGE, tag="6.7.0", port=9898, env={"ERROR_FRACTION": "0"},
                     canary=dict(CANARY, webhooks=[ROLLBACK_GATE]), automation=dict(semver=">=6.7.0")),
        backend=dict(namespace="demo", image=BACKEND, tag="1.0.0", port=9898, env={"ERROR_FRACTION": "0"},
                     canary=CANARY)))


def shipped_inventory(state_dir):
    """The shipped inventory with this test's state directory and free ports for every host."""
    with open(INVENTORY) as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"]["platform_state_dir"] = str(state_dir)
    inventory["all"]["vars"]["cluster_state_dir"] = str(state_dir)
    for env in ENVIRONMENTS:
        host = inventory["all"]["children"][env]["hosts"]["%s-sim" % env]
        host.update({name: free_port() for name in (
            "flux_events_port", "flux_receiver_port", "flux_storage_port", "flux_chart_port", "flagger_port",
            "flagger_loadtester_port", "flagger_prometheus_port", "flagger_traffic_port")})
        host["flux_controller_port_base"] = free_block(12)
    # Image automation in staging: its registry, and scans every few seconds.
    inventory["all"]["children"]["staging"]["hosts"]["staging-sim"].update(
        flux_image_automation=True, flux_registry_port=free_port(), apps_image_scan_interval="5s",
        apps_image_automation_interval="5s")
    git_port = free_port()
    for env in ENVIRONMENTS:
        inventory["all"]["children"][env]["hosts"]["%s-sim" % env]["flux_git_port"] = git_port
    path = os.path.join(str(state_dir), "hosts.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    return path, inventory


@pytest.fixture(scope="module")
def environments(tmp_path_factory):
    state = tmp_path_factory.mktemp("staging-production")
    inventory, data = shipped_inventory(state)
    try:
        started = time.monotonic()
        first = run_playbook(SITE, VARIABLES, inventory=inventory)
        seconds = time.monotonic() - started
        yield dict(inventory=inventory, data=data, state=str(state), first=first, seconds=seconds,
                   bare=os.path.join(str(state), "staging", "flux", "git", "platform.git"),
                   kubeconfigs={env: os.path.join(str(state), "%s.kubeconfig" % env) for env in ENVIRONMENTS})
    finally:
        down = run_playbook(TEARDOWN, VARIABLES, inventory=inventory)
    assert_ok(down)
    for env in ENVIRONMENTS:
        assert not os.path.exists(os.path.join(str(state), env, "flux")), "%s's Flux state is left" % env


def git(environments, *args):
    return subprocess.run(["git", "--git-dir", environments["bare"]] + list(args),
                          capture_output=True, text=True, check=True).stdout


def client(environments, env):
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=environments["kubeconfigs"][env])


def custom(kube, group, version, namespace, plural, name):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(group, version, namespace, plural, name)


def primary_image(kube, app="backend"):
    import kubernetes

    deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("%s-primary" % app, "demo")
    return deployment.spec.template.spec.containers[0].image


def overlay_image(environments, env, image=BACKEND):
    kustomization = yaml.safe_load(git(environments, "show", "main:apps/%s/kustomization.yaml" % env))
    return {entry["name"]: entry.get("newTag") for entry in kustomization["images"]}[image]


def fresh_tag():
    """A tag newer than every earlier one (tenths of a second since the epoch)."""
    return "6.8.%d" % int(time.time() * 10)


def promote(environments, **variables):
    run = run_playbook(PROMOTE, dict(VARIABLES, promote_app="backend", promote_namespace="demo", **variables),
                       inventory=environments["inventory"])
    return run, run.custom_stats.get("promote", {})


def test_site_stands_both_environments_up_from_nothing_and_a_second_run_changes_nothing(environments):
    assert_ok(environments["first"])
    assert {"clusters/staging/apps.yaml", "clusters/production/apps.yaml",
            "infrastructure/staging/releases/flagger/releases.yaml",
            "infrastructure/production/releases/flagger/releases.yaml", "apps/base/podinfo/canary.yaml",
            "apps/staging/podinfo-env.yaml", "apps/production/podinfo-env.yaml"} <= set(
        git(environments, "ls-tree", "-r", "--name-only", "main").split())
    for env in ENVIRONMENTS:
        kube = client(environments, env)
        sync = custom(kube, "kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations", "flux-system")
        assert sync["spec"]["path"] == "./clusters/%s" % env
        apps = custom(kube, "kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations", "apps")
        assert apps["spec"]["path"] == "./apps/%s" % env
        for name in ("flagger", "flagger-loadtester"):
            release = custom(kube, "helm.toolkit.fluxcd.io", "v2", "flagger-system", "helmreleases", name)
            ready = [c for c in release["status"]["conditions"] if c["type"] == "Ready"][0]
            assert ready["status"] == "True", (env, name, ready)
        flagger = custom(kube, "helm.toolkit.fluxcd.io", "v2", "flagger-system", "helmreleases", "flagger")
        assert flagger["status"]["history"][0]["chartVersion"] == "1.41.0"
        canary = custom(kube, "flagger.app", "v1beta1", "demo", "canaries", "podinfo")
        assert canary["status"]["phase"] in ("Initialized", "Succeeded"), (env, canary["status"])
    # One git server, both clusters' Receivers called on every push.
    with open(os.path.join(environments["state"], "staging", "flux", "push-hooks")) as handle:
        assert len(handle.read().splitlines()) == 2
    assert not os.path.exists(os.path.join(environments["state"], "production", "flux", "git"))

    second = assert_ok(run_playbook(SITE, VARIABLES, inventory=environments["inventory"]))
    for env in ENVIRONMENTS:
        assert second.host_stats("%s-sim" % env)["changed"] == 0, (env, second.changed_tasks())


def test_a_healthy_version_is_promoted_in_staging_then_in_production(environments):
    tag = fresh_tag()
    run, records = promote(environments, promote_images={BACKEND: tag})
    assert_ok(run)
    assert records["staging"]["verdict"] == "promoted" and records["production"]["verdict"] == "promoted", records
    staging_commit, production_commit = records["staging"]["commit"], records["production"]["commit"]
    assert staging_commit and production_commit and staging_commit != production_commit
    # Production's commit came after staging's, on top of it.
    subprocess.run(["git", "--git-dir", environments["bare"], "merge-base", "--is-ancestor",
                    staging_commit, production_commit], check=True)
    for env in ENVIRONMENTS:
        assert overlay_image(environments, env) == tag
        assert primary_image(client(environments, env)) == "%s:%s" % (BACKEND, tag)


def test_a_failing_version_is_rolled_back_in_staging_and_never_written_to_production(environments):
    production_before = git(environments, "log", "--format=%H", "main", "--", "apps/production")
    production_image = primary_image(client(environments, "production"))
    tag = fresh_tag()
    run, records = promote(environments, promote_images={BACKEND: tag},
                           promote_values=[dict(file="backend-env.yaml", path=BACKEND_ENV_PATH, value="75")])
    assert run.returncode != 0
    assert records["staging"]["verdict"] == "failed", records
    assert records["staging"]["revert_commit"], records
    assert records["production"]["verdict"] == "skipped" and not records["production"]["promoted"], records
    assert "staging did not promote it (failed)" in records["production"]["reason"]
    # Staging's overlay is back where it was (reverted); production's never changed.
    assert overlay_image(environments, "staging") != tag
    assert git(environments, "log", "--format=%H", "main", "--", "apps/production") == production_before
    assert overlay_image(environments, "production") != tag
    assert primary_image(client(environments, "production")) == production_image


def wait_until(what, check, timeout):
    """Poll ``check`` (a value or None) once a second until it gives a value; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value, time.monotonic()
        time.sleep(1)
    raise AssertionError("%s: not within %d s" % (what, timeout))


def test_a_tag_pushed_to_the_registry_is_committed_by_image_automation_and_followed_to_its_verdict(environments):
    kube = client(environments, "staging")
    production_before = git(environments, "log", "--format=%H", "main", "--", "apps/production")
    tag = fresh_tag()
    result, scan = follow_pushed_tag(environments, tag)
    assert result["verdict"] == "promoted", result
    assert result["author"].startswith("fluxcdbot"), result["author"]
    assert "revert_commit" not in result and "automation_suspended" not in result
    assert overlay_image_at(environments, result["commit"], "staging", IMAGE) == tag
    assert primary_image(kube, "podinfo") == "%s:%s" % (IMAGE, tag)
    timings = result["timings"]
    print("tag pushed -> verdict: scan %.1f s, then commit + Flux + analysis %.1f s (commit seen after %.1f s of "
          "the task, Flux %.1f s, analysis %.1f s)" % (scan, result["duration"] - scan,
                                                       timings["preflight_and_git"], timings["flux"],
                                                       timings["analysis"]))
    # The marker stays on the tag line, so the next tag is written there too.
    assert '"$imagepolicy": "flux-system:podinfo:tag"' in git(environments, "show", "main:apps/staging/kustomization.yaml")
    # Staging's automation never writes production.
    assert git(environments, "log", "--format=%H", "main", "--", "apps/production") == production_before
    assert overlay_image(environments, "production", IMAGE) == "6.7.0"


def follow_pushed_tag(environments, tag, variables=None, timeout=900):
    """Push ``tag`` of podinfo to staging's registry while follow_automation.yml follows it;
    the task's result and how many seconds after the push the tag was selected."""
    from conftest import BackgroundPlaybook

    from ansible_collections.gitops.progressive.plugins.module_utils.sim.registry import push_tag

    staging = environments["data"]["all"]["children"]["staging"]["hosts"]["staging-sim"]
    kube = client(environments, "staging")
    follow = BackgroundPlaybook("follow_automation.yml",
                                dict(VARIABLES, follow_images={IMAGE: tag}, **(variables or {})),
                                inventory=environments["inventory"])
    try:
        time.sleep(5)  # the task records the canary's baseline before the tag exists
        pushed = time.monotonic()
        push_tag("http://127.0.0.1:%d" % staging["flux_registry_port"], "stefanprodan/podinfo", tag)
        _selected, scanned = wait_until("the ImagePolicy selecting %s" % tag, lambda: policy_tag(kube) == tag, 180)
        run = follow.result(timeout=timeout)
    finally:
        follow.stop()
    assert_ok(run)
    return followed(run), scanned - pushed


def followed(run):
    """The result of follow_automation.yml's git_release task."""
    return run.results("Follow the release image automation makes of the pushed tag", host="staging-sim")[0]


def policy_tag(kube):
    policy = custom(kube, "image.toolkit.fluxcd.io", "v1", "flux-system", "imagepolicies", "podinfo")
    return ((policy.get("status") or {}).get("latestRef") or {}).get("tag")


def automation_suspended(kube):
    automation = custom(kube, "image.toolkit.fluxcd.io", "v1", "flux-system", "imageupdateautomations",
                        "apps-staging")
    return bool(automation["spec"].get("suspend"))


def test_a_pushed_tag_rolled_back_in_staging_suspends_image_automation_until_a_fixed_tag_is_pushed(environments):
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import LoadTester

    staging = environments["data"]["all"]["children"]["staging"]["hosts"]["staging-sim"]
    loadtester = LoadTester("http://127.0.0.1:%d" % staging["flagger_loadtester_port"])
    kube = client(environments, "staging")
    production_before = git(environments, "log", "--format=%H", "main", "--", "apps/production")
    primary_before = primary_image(kube, "podinfo")
    bad = fresh_tag()
    # Flagger's rollback gate, open: the analysis of the next podinfo release fails at its first check.
    loadtester.request_rollback("podinfo", "demo")
    try:
        result, _scan = follow_pushed_tag(environments, bad, variables=dict(follow_fail_on_rollback=False))
    finally:
        loadtester.clear_rollback("podinfo", "demo")
    assert result["verdict"] == "failed", result
    assert result["author"].startswith("fluxcdbot"), result["author"]
    assert overlay_image_at(environments, result["commit"], "staging", IMAGE) == bad
    # Suspended before the revert, so the revert stands.
    assert result["automation_suspended"] == "flux-system/apps-staging", result
    assert result["revert_commit"], result
    assert automation_suspended(kube)
    assert primary_image(kube, "podinfo") == primary_before
    assert "%s:%s" % (IMAGE, overlay_image(environments, "staging", IMAGE)) == primary_before
    # The policy still selects the failed tag, yet over three automation intervals (5 s)
    # nothing writes it back.
    assert policy_tag(kube) == bad
    head = git(environments, "rev-parse", "main")
    time.sleep(15)
    assert git(environments, "rev-parse", "main") == head
    # The way out the task's warning names: push a fixed tag, then resume the automation.
    fixed = fresh_tag()
    from ansible_collections.gitops.progressive.plugins.module_utils.sim.registry import push_tag

    push_tag("http://127.0.0.1:%d" % staging["flux_registry_port"], "stefanprodan/podinfo", fixed)
    wait_until("the ImagePolicy selecting %s" % fixed, lambda: policy_tag(kube) == fixed, 180)
    assert automation_suspended(kube)  # the fixed tag alone changes nothing yet
    variables = dict(VARIABLES, follow_images={IMAGE: fixed}, follow_resume=True)
    run = assert_ok(run_playbook("follow_automation.yml", variables, inventory=environments["inventory"]))
    again = followed(run)
    assert again["automation_resumed"] == "flux-system/apps-staging", again
    assert again["verdict"] == "promoted", again
    assert not automation_suspended(kube)
    assert primary_image(kube, "podinfo") == "%s:%s" % (IMAGE, fixed)
    assert git(environments, "log", "--format=%H", "main", "--", "apps/production") == production_before


def overlay_image_at(environments, commit, env, image):
    try:
        text = git(environments, "show", "%s:apps/%s/kustomization.yaml" % (commit, env))
    except subprocess.CalledProcessError:
        return None
    return {entry["name"]: entry.get("newTag") for entry in yaml.safe_load(text)["images"]}.get(image)

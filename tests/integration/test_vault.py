"""The vault role on the simulated platform: a real OpenBao and a real PostgreSQL on
loopback, initialised, unsealed and configured from nothing; an app's service account
logging in through Kubernetes auth (the real API server's TokenRequest and TokenReview)
for database credentials that really connect and stop working once revoked or expired;
transit with a rotated key; a token without the policy refused; no secret in any output;
and Vault sealed or stopped while credentials are asked for.

The role runs at -vvv with the default callback (what a user sees when debugging), and
the output of every run is kept to look for secrets in.
"""

import base64
import json
import os
import subprocess
import time

import pytest
from conftest import HERE, ROOT, free_port, recap
from listeners import describe, listening_sockets, not_on_loopback

PLAYBOOK = os.path.join(HERE, "playbooks", "vault.yml")
APP_PLAYBOOK = os.path.join(HERE, "playbooks", "vault_app.yml")
# Two wired apps: webapp as in the catalog, and brief, whose credentials last 4 s.
CATALOG = {
    "webapp": {"namespace": "vault-webapp", "vault": {}},
    "brief": {"namespace": "vault-webapp", "vault": {"default_ttl": "4s", "max_ttl": "10s"}},
}


def run(playbook, variables, check=False):
    """ansible-playbook at -vvv with the default callback: (return code, everything printed)."""
    command = ["ansible-playbook", "-vvv", "-i", os.path.join(HERE, "inventory.yml"), playbook,
               "-e", json.dumps(variables)] + (["--check"] if check else [])
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    return done.returncode, done.stdout + done.stderr


def own_vault(sim_cluster, state_dir, **more):
    """The role's variables for a Vault of the test's own: its state directory and free ports."""
    return dict(sim_cluster["vars"], cluster_kubeconfig=sim_cluster["kubeconfig"], vault_state_dir=state_dir,
                vault_port=free_port(), vault_cluster_port=free_port(), vault_postgres_port=free_port(), **more)


@pytest.fixture(scope="module")
def vault(sim_cluster, kube, tmp_path_factory):
    state = str(tmp_path_factory.mktemp("vault"))
    variables = own_vault(sim_cluster, os.path.join(state, "vault"), apps_enabled=list(CATALOG), apps_catalog=CATALOG)
    outputs = []
    try:
        started = time.monotonic()
        code, output = run(PLAYBOOK, variables)
        seconds = time.monotonic() - started
        outputs.append(output)
        assert code == 0, output[-4000:]
        yield dict(vars=variables, url="http://127.0.0.1:%d" % variables["vault_port"], state=variables["vault_state_dir"],
                   first=output, seconds=seconds, outputs=outputs, kubeconfig=sim_cluster["kubeconfig"])
    finally:
        known = secrets_of(dict(state=variables["vault_state_dir"]), kube) if os.path.exists(
            os.path.join(variables["vault_state_dir"], "init", "keys.json")) else []
        code, output = run(PLAYBOOK, dict(variables, vault_state="absent"))
        outputs.append(output)
    assert code == 0, output[-4000:]
    forms = known + [base64.b64encode(secret.encode()).decode() for secret in known]
    assert not [secret for secret in forms if secret in output], "a secret appears in the teardown's output"
    assert not os.path.exists(variables["vault_state_dir"]), "the vault state directory is left"
    for name in ("openbao", "postgres"):
        assert "%s.pid" % name not in os.listdir(state)


def secrets_of(vault, kube):
    """Every secret the role handled: unseal keys, root token, PostgreSQL's password, the reviewer's JWT."""
    with open(os.path.join(vault["state"], "init", "keys.json")) as handle:
        keys = json.load(handle)
    with open(os.path.join(vault["state"], "postgres-password")) as handle:
        found = keys["keys_base64"] + [keys["root_token"], handle.read().strip()]
    import kubernetes

    reviewer = kubernetes.client.CoreV1Api(kube).read_namespaced_secret("vault-auth-token", "vault").data["token"]
    return found + [base64.b64decode(reviewer).decode()]


def root_client(vault):
    import hvac

    with open(os.path.join(vault["state"], "init", "root-token")) as handle:
        return hvac.Client(url=vault["url"], token=handle.read().strip())


def unseal(root, keys):
    """Unseal with the threshold of keys, then wait (30 s at most) until Vault is the active node:
    a raft node just unsealed answers "local node not active" for a moment."""
    for key in keys["keys_base64"][:keys["threshold"]]:
        root.sys.submit_unseal_key(key)
    deadline = time.monotonic() + 30
    health = {}
    while time.monotonic() < deadline:
        health = root.sys.read_health_status(method="GET", standby_ok=True, sealed_code=200, uninit_code=200)
        if isinstance(health, dict) and not health.get("sealed") and not health.get("standby"):
            return
        time.sleep(0.2)
    raise AssertionError("Vault did not become active within 30 s of its unseal: %s" % health)


def app_login(vault, kube, service_account="webapp", role="webapp", namespace="vault-webapp"):
    """An hvac client logged in as the service account, with a token from the real TokenRequest API."""
    import hvac
    import kubernetes

    core = kubernetes.client.CoreV1Api(kube)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except kubernetes.client.exceptions.ApiException as error:
        assert error.status == 409, error
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": service_account}})
    except kubernetes.client.exceptions.ApiException as error:
        assert error.status == 409, error
    token = core.create_namespaced_service_account_token(
        service_account, namespace, {"spec": {"expirationSeconds": 600}}).status.token
    client = hvac.Client(url=vault["url"])
    client.auth.kubernetes.login(role=role, jwt=token)
    return client


def psql(vault, username, password):
    """``SELECT current_user`` as that user on the live PostgreSQL: (return code, output)."""
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(vault["vars"]["vault_postgres_port"]), "-U", username, "-d", "postgres",
         "-tAc", "SELECT current_user"], capture_output=True, text=True, check=False,
        env=dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5"))
    return done.returncode, (done.stdout + done.stderr).strip()


def test_the_role_stands_vault_up_from_nothing_and_a_second_run_changes_nothing(vault):
    assert "initialised" in vault["first"] and "unsealed" in vault["first"]
    code, second = run(PLAYBOOK, vault["vars"])
    vault["outputs"].append(second)
    assert code == 0, second[-3000:]
    assert recap(second)["changed"] == 0, [line for line in second.splitlines() if line.startswith("changed:")]
    code, checked = run(PLAYBOOK, vault["vars"], check=True)
    vault["outputs"].append(checked)
    assert code == 0 and recap(checked)["changed"] == 0, checked[-3000:]
    print("vault role: from nothing %.1f s" % vault["seconds"])
    status = root_client(vault).sys.read_seal_status()
    assert status["initialized"] and not status["sealed"] and status["t"] == 2 and status["n"] == 3
    # The keys, the token and PostgreSQL's password: owner-only files, nowhere else.
    for path in ("init/keys.json", "init/root-token", "postgres-password"):
        assert os.stat(os.path.join(vault["state"], path)).st_mode & 0o777 == 0o600, path
    # OpenBao and PostgreSQL listen on loopback only, and are tracked by PID.
    pids = []
    for name in ("openbao", "postgres"):
        with open(os.path.join(vault["state"], "%s.pid" % name)) as handle:
            pids.append(int(handle.read().split()[0]))
    sockets = listening_sockets(pids, include_children=True)
    assert {entry.port for entry in sockets} >= {vault["vars"]["vault_port"], vault["vars"]["vault_postgres_port"]}
    assert not not_on_loopback(sockets), describe(not_on_loopback(sockets))


def test_a_service_account_gets_credentials_that_connect_and_stop_working_once_revoked_or_expired(vault, kube):
    client = app_login(vault, kube)
    assert "webapp" in client.auth.token.lookup_self()["data"]["policies"]
    creds = client.secrets.database.generate_credentials("webapp")
    username, password = creds["data"]["username"], creds["data"]["password"]
    code, output = psql(vault, username, password)
    assert code == 0 and output == username, output
    root_client(vault).sys.revoke_lease(creds["lease_id"])
    code, output = psql(vault, username, password)
    assert code != 0 and ("does not exist" in output or "authentication failed" in output), output

    brief = app_login(vault, kube, service_account="brief", role="brief")
    creds = brief.secrets.database.generate_credentials("brief")
    assert creds["lease_duration"] == 4
    code, output = psql(vault, creds["data"]["username"], creds["data"]["password"])
    assert code == 0, output
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, output = psql(vault, creds["data"]["username"], creds["data"]["password"])
        if code != 0:
            break
        time.sleep(1)
    assert code != 0, "credentials of a 4 s lease still connect after 30 s"


def test_transit_encrypts_and_decrypts_and_a_rotated_key_still_reads_old_data(vault, kube):
    client = app_login(vault, kube)
    plain = base64.b64encode(b"order 42: card ending 4242").decode()
    old = client.secrets.transit.encrypt_data("webapp", plain)["data"]["ciphertext"]
    assert old.startswith("vault:v1:") and "4242" not in old
    assert client.secrets.transit.decrypt_data("webapp", old)["data"]["plaintext"] == plain
    root = root_client(vault)
    before = root.secrets.transit.read_key("webapp")["data"]["latest_version"]
    root.secrets.transit.rotate_key("webapp")
    new = client.secrets.transit.encrypt_data("webapp", plain)["data"]["ciphertext"]
    assert new.startswith("vault:v%d:" % (before + 1)), new
    assert client.secrets.transit.decrypt_data("webapp", old)["data"]["plaintext"] == plain
    assert client.secrets.transit.decrypt_data("webapp", new)["data"]["plaintext"] == plain


def test_a_token_without_the_policy_is_refused(vault, kube):
    import hvac

    root = root_client(vault)
    bare = hvac.Client(url=vault["url"], token=root.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"])
    with pytest.raises(hvac.exceptions.Forbidden):
        bare.secrets.database.generate_credentials("webapp")
    with pytest.raises(hvac.exceptions.Forbidden):
        bare.secrets.transit.encrypt_data("webapp", "aGVsbG8=")
    # webapp's own token cannot use brief's credentials or key either (least privilege).
    client = app_login(vault, kube)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.database.generate_credentials("brief")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.transit.encrypt_data("brief", "aGVsbG8=")
    # A service account the role does not bind cannot log in as webapp.
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        app_login(vault, kube, service_account="intruder", role="webapp")


def test_the_app_wiring_task_proves_it_and_vault_sealed_or_stopped_fails_clearly_with_nothing_written(vault, kube):
    app_login(vault, kube)  # the service account exists
    variables = dict(vault["vars"], vault_url=vault["url"])
    code, output = run(APP_PLAYBOOK, variables)
    vault["outputs"].append(output)
    assert code == 0, output[-3000:]
    # The default callback prints results as YAML (ansible.cfg).
    assert "revoked: true" in output and "transit_checked: true" in output, output[-3000:]
    # Another app's transit key is refused to webapp's token, named in the error.
    code, output = run(APP_PLAYBOOK, dict(variables, app_transit_key="brief"))
    vault["outputs"].append(output)
    assert code != 0 and "refused transit/encrypt/brief (permission denied) while trying to encrypt and decrypt " \
        "with transit key transit/brief as service account vault-webapp/webapp" in output, output[-3000:]

    root = root_client(vault)
    root.sys.seal()
    code, output = run(APP_PLAYBOOK, variables)
    vault["outputs"].append(output)
    assert code != 0
    assert "Vault at %s is sealed (0 of 2 unseal keys given)" % vault["url"] in output, output[-3000:]
    # The role with a new app and vault_unseal=false: it stops at once, nothing written
    # anywhere (Vault or the cluster).
    more = dict(CATALOG, late={"namespace": "vault-webapp", "vault": {}})
    code, output = run(PLAYBOOK, dict(vault["vars"], vault_unseal=False, apps_enabled=list(more), apps_catalog=more))
    vault["outputs"].append(output)
    assert code != 0 and "Vault at %s is sealed and vault_unseal is false: nothing was configured" % vault["url"] in \
        output, output[-3000:]
    assert recap(output)["changed"] == 0, output[-3000:]
    with open(os.path.join(vault["state"], "init", "keys.json")) as handle:
        keys = json.load(handle)
    unseal(root, keys)
    assert "late" not in root.sys.list_acl_policies()["data"]["keys"]
    code, output = run(PLAYBOOK, vault["vars"])
    vault["outputs"].append(output)
    assert code == 0 and recap(output)["changed"] == 0, output[-3000:]

    # Stopped: its process ends (by PID); the task names Vault as not answering.
    with open(os.path.join(vault["state"], "openbao.pid")) as handle:
        pid = int(handle.read().split()[0])
    os.kill(pid, 15)
    deadline = time.monotonic() + 30
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    code, output = run(APP_PLAYBOOK, variables)
    vault["outputs"].append(output)
    assert code != 0 and "Vault at %s does not answer" % vault["url"] in output, output[-3000:]
    # The role starts it again and unseals it (its raft data kept everything).
    code, output = run(PLAYBOOK, vault["vars"])
    vault["outputs"].append(output)
    assert code == 0, output[-3000:]
    assert not root.sys.read_seal_status()["sealed"]
    assert "webapp" in root.sys.list_acl_policies()["data"]["keys"]


def test_no_key_token_or_password_appears_in_any_output_at_vvv(vault, kube):
    # A full cycle of its own output too: the role's run above, the app task, and -vvv throughout.
    app_login(vault, kube)
    code, output = run(APP_PLAYBOOK, dict(vault["vars"], vault_url=vault["url"], app_return_password=True))
    vault["outputs"].append(output)
    assert code == 0, output[-3000:]
    secrets = secrets_of(vault, kube)
    assert len(secrets) == 3 + 1 + 1 + 1
    forms = secrets + [base64.b64encode(secret.encode()).decode() for secret in secrets]
    for output in vault["outputs"]:
        for secret in forms:
            assert secret not in output, "a secret (or its base64) appears in the output of a run"
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in vault["first"] or "censored" in vault["first"]


def test_check_mode_from_nothing_reports_changes_and_starts_or_writes_nothing(sim_cluster, tmp_path):
    state = str(tmp_path / "vault")
    variables = own_vault(sim_cluster, state, apps_enabled=["webapp"], apps_catalog={"webapp": CATALOG["webapp"]})
    code, output = run(PLAYBOOK, variables, check=True)
    assert code == 0, output[-3000:]
    assert recap(output)["changed"] > 0
    assert not os.path.exists(state), "check mode created the state directory"
    import socket

    for port in (variables["vault_port"], variables["vault_postgres_port"]):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "check mode started something on port %d" % port


def test_the_keys_file_can_be_kept_encrypted_with_ansible_vault(sim_cluster, tmp_path):
    """vault_keys_file_password: the keys never lie on disk in plain text, ansible-vault reads
    them, the role unseals with them, and a wrong password leaves Vault sealed with a clear error."""
    import hvac

    state, password = str(tmp_path / "vault"), "correct horse %d" % time.time_ns()
    variables = own_vault(sim_cluster, state, apps_enabled=[], vault_keys_file_password=password)
    keys_file = os.path.join(state, "init", "keys.json")
    outputs = []
    try:
        # With a newline after it, as a file lookup without rstrip gives: dropped, as ansible-vault drops it.
        code, output = run(PLAYBOOK, dict(variables, vault_keys_file_password=password + "\n"))
        outputs.append(output)
        assert code == 0, output[-3000:]
        with open(keys_file) as handle:
            text = handle.read()
        assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n") and "keys_base64" not in text
        password_file = tmp_path / "vault-pass"
        password_file.write_text(password)
        shown = subprocess.run(["ansible-vault", "view", "--vault-password-file", str(password_file), keys_file],
                               capture_output=True, text=True, check=True).stdout
        keys = json.loads(shown)
        assert len(keys["keys_base64"]) == 3 and keys["threshold"] == 2

        root = hvac.Client(url="http://127.0.0.1:%d" % variables["vault_port"], token=keys["root_token"])
        root.sys.seal()
        code, output = run(PLAYBOOK, dict(variables, vault_keys_file_password="not it"))
        outputs.append(output)
        assert code != 0 and "%s cannot be decrypted with the password given" % keys_file in output, output[-3000:]
        assert root.sys.read_seal_status()["sealed"]
        code, output = run(PLAYBOOK, variables)
        outputs.append(output)
        assert code == 0, output[-3000:]
        assert recap(output)["changed"] == 1, output[-3000:]  # unsealed, nothing else
        assert not root.sys.read_seal_status()["sealed"]
    finally:
        code, output = run(PLAYBOOK, dict(variables, vault_state="absent"))
        outputs.append(output)
    assert code == 0, output[-3000:]
    assert not os.path.exists(state)
    secrets = keys["keys_base64"] + [keys["root_token"], password]
    for output in outputs:
        assert not [secret for secret in secrets if secret in output], "a key or the password appears in the output"


def vault_state(client):
    """What a write through vault_config would change: policies (with their text), auth
    methods, secrets engines, Kubernetes roles and database roles and connections."""
    def listed(path):
        try:
            return sorted((client.list(path) or {}).get("data", {}).get("keys", []))
        except Exception:  # an empty list is a 404 in Vault's API
            return []

    policies = {name: client.sys.read_acl_policy(name)["data"]["policy"] for name in listed("sys/policies/acl")}
    roles = {name: client.read("auth/kubernetes/role/%s" % name)["data"] for name in listed("auth/kubernetes/role")}
    return dict(policies=policies, auth=sorted(client.sys.list_auth_methods()["data"]),
                mounts=sorted(client.sys.list_mounted_secrets_engines()["data"]), kubernetes_roles=roles,
                database_roles=listed("database/roles"), connections=listed("database/config"))


def test_malformed_and_dangerous_options_are_refused_naming_the_option_with_vault_unchanged(vault, kube, tmp_path):
    """Issue 17 on the real OpenBao: each refused before Vault is asked, naming its option
    (and a dangerous one its consent option); Vault's policies, mounts and roles as before,
    no credential of an address in the output."""
    import yaml
    from conftest import run_playbook

    secret = "pw-not-for-output-17"
    token_dir, token_file = os.path.split(os.path.join(vault["state"], "init", "root-token"))
    auth = dict(url=vault["url"], auth_method="token", token_path=token_dir, token_file=token_file)
    login = dict(name="webapp", bound_service_account_names=["webapp"], bound_service_account_namespaces=["web"])
    cases = [
        ("vault_config", dict(policies=[dict(name="default", policy='path "secret/*" { capabilities = ["read"] }')]),
         "allow_default_policy_change"),
        ("vault_config", dict(policies=[dict(name="ops", policy='path "sys/seal" { capabilities = ["su\\u0064o"] }')]),
         "allow_sudo_policies"),
        ("vault_config", dict(policies=[dict(name="ops", policy='path "sys/*" { capabilities = ["update"] }')]),
         "allow_system_paths"),
        ("vault_config", dict(kubernetes_roles=[dict(login, bound_service_account_names=["*"])]),
         "allow_wildcard_bindings"),
        ("vault_config", dict(kubernetes_roles=[dict(login, token_ttl="1 hour")]), "kubernetes_roles[0].token_ttl"),
        ("vault_config", dict(policies=[dict(name="Web*", policy='path "x" { capabilities = ["read"] }')]),
         "policies[0].name"),
        ("vault_config", dict(secrets_engines=[dict(path="../sys", type="kv")]), "secrets_engines[0].path"),
        ("vault_config", dict(auth, url="http://root:%s@127.0.0.1:1" % secret), "url"),
        ("vault_config", dict(database_connections=[dict(name="db", plugin_name="postgresql-database-plugin",
                                                         connection_url="postgresql://vault:%s@db:5432/x" % secret)]),
         "database_connections[0].connection_url"),
    ]
    tasks = [{"name": "case %d" % index, "ignore_errors": True, "gitops.progressive.%s" % module: dict(auth, **options)}
             for index, (module, options, _option) in enumerate(cases)]
    playbook = tmp_path / "hostile-vault.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Hostile Vault options", "hosts": "sim", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    client = root_client(vault)
    before = vault_state(client)
    run = run_playbook(str(playbook))
    after = vault_state(client)
    results = {task["task"]["name"]: next(iter(task["hosts"].values()))
               for play in run.output.get("plays", []) for task in play["tasks"]}
    wrong = ["%s %s: %s" % (module, option, str(results.get("case %d" % index, {}).get("msg"))[:300])
             for index, (module, _options, option) in enumerate(cases)
             if not results.get("case %d" % index, {}).get("failed")
             or option not in str(results["case %d" % index].get("msg"))]
    assert not wrong, "\n".join(wrong)
    assert after == before
    # Not a vacuous comparison: the state holds the role's policies and roles.
    assert "webapp" in before["policies"] and "webapp" in before["kubernetes_roles"]
    assert secret not in run.raw

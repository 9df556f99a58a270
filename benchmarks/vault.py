"""Vault on the simulated platform: the vault role from nothing and its no-change run, the
credentials issued per second through the role's configuration, and how long revoking a
lease takes until the database refuses its user.

1. The vault role (local OpenBao + PostgreSQL, init, unseal, configuration for one app)
   beside a fresh kwok cluster; then the second run, the baseline (what checking
   everything costs).
2. The app's token (Kubernetes auth, a real TokenRequest token) asks for database
   credentials in a bounded loop (``--seconds``, default 10); the baseline is the same
   loop of ``auth/token/lookup-self`` (a Vault round trip without the database).
3. ``--revocations`` (default 10) leases revoked: the revoke call, and from the call until
   the user can no longer connect to PostgreSQL.

    python benchmarks/run.py vault [--seconds 10] [--revocations 10]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from conftest import free_port, recap  # noqa: E402

INVENTORY = os.path.join(ROOT, "tests", "integration", "inventory.yml")
CLUSTER = os.path.join(ROOT, "tests", "integration", "playbooks", "cluster.yml")
VAULT = os.path.join(ROOT, "tests", "integration", "playbooks", "vault.yml")


def option(options, name, default):
    return int(options[options.index(name) + 1]) if name in options else default


def playbook(path, variables):
    started = time.monotonic()
    done = subprocess.run(["ansible-playbook", "-i", INVENTORY, path, "-e", json.dumps(variables)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (os.path.basename(path), (done.stdout + done.stderr)[-3000:]))
    return seconds, recap(done.stdout)["changed"]


def app_client(variables, url):
    import hvac
    import kubernetes

    kube = kubernetes.config.new_client_from_config(config_file=variables["cluster_kubeconfig"])
    core = kubernetes.client.CoreV1Api(kube)
    core.create_namespace({"metadata": {"name": "bench"}})
    core.create_namespaced_service_account("bench", {"metadata": {"name": "webapp"}})
    token = core.create_namespaced_service_account_token("webapp", "bench", {"spec": {"expirationSeconds": 3600}})
    client = hvac.Client(url=url)
    client.auth.kubernetes.login(role="webapp", jwt=token.status.token)
    return client


def per_second(call, seconds):
    count, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        call()
        count += 1
    return count / (time.monotonic() - started)


def connects(port, username, password):
    return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", username, "-d", "postgres", "-tAc",
                           "SELECT 1"], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")).returncode == 0


def revocations(app, root, port, count):
    calls, refused = [], []
    for _revocation in range(count):
        creds = app.secrets.database.generate_credentials("webapp")
        user, password = creds["data"]["username"], creds["data"]["password"]
        assert connects(port, user, password), "fresh credentials do not connect"
        started = time.monotonic()
        root.sys.revoke_lease(creds["lease_id"])
        calls.append(time.monotonic() - started)
        deadline = started + 30
        while connects(port, user, password) and time.monotonic() < deadline:
            time.sleep(0.05)
        refused.append(time.monotonic() - started)
    return calls, refused


def main(options):
    import hvac

    seconds, count = option(options, "--seconds", 10), option(options, "--revocations", 10)
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as state:
        variables = dict(cluster_provider="kwok", cluster_name="bench-vault", cluster_state_dir=state, cluster_nodes=1,
                         cluster_kubeconfig=os.path.join(state, "bench-vault.kubeconfig"), vault_port=free_port(),
                         vault_cluster_port=free_port(), vault_postgres_port=free_port(), apps_enabled=["webapp"],
                         apps_catalog={"webapp": {"namespace": "bench", "vault": {"default_ttl": "5m"}}})
        try:
            print("  a kwok cluster for Kubernetes auth ...", flush=True)
            playbook(CLUSTER, variables)
            print("  the vault role from nothing ...", flush=True)
            first, _changed = playbook(VAULT, variables)
            print("  the vault role again ...", flush=True)
            second, changed = playbook(VAULT, variables)
            url = "http://127.0.0.1:%d" % variables["vault_port"]
            app = app_client(variables, url)
            with open(os.path.join(state, "bench-vault", "vault", "init", "root-token")) as handle:
                root = hvac.Client(url=url, token=handle.read().strip())
            print("  %d s of credentials, %d s of lookup-self ..." % (seconds, seconds), flush=True)
            issued = per_second(lambda: app.secrets.database.generate_credentials("webapp"), seconds)
            lookups = per_second(app.auth.token.lookup_self, seconds)
            print("  %d revocations ..." % count, flush=True)
            calls, refused = revocations(app, root, variables["vault_postgres_port"], count)
        finally:
            subprocess.run(["ansible-playbook", "-i", INVENTORY, VAULT, "-e",
                            json.dumps(dict(variables, vault_state="absent"))], cwd=ROOT, capture_output=True,
                           check=False)
            subprocess.run(["ansible-playbook", "-i", INVENTORY, CLUSTER, "-e",
                            json.dumps(dict(variables, cluster_state="absent"))], cwd=ROOT, capture_output=True,
                           check=False)
    print("\nvault role on the simulated platform (OpenBao + PostgreSQL on loopback, one app wired)")
    print("  from nothing to configured  %6.1f s  (x%.1f the no-change run)" % (first, first / second))
    print("  second run (changed=%d)      %6.1f s  (baseline)" % (changed, second))
    print("\ndatabase credentials through the app's token, %d s loop" % seconds)
    print("  credentials issued          %6.1f /s  (x%.2f of token lookups, the baseline: %.1f /s)" % (
        issued, issued / lookups, lookups))
    print("\nlease revocation, %d leases" % count)
    print("  revoke call, median / max   %6.3f s / %.3f s" % (statistics.median(calls), max(calls)))
    print("  until the user is refused   %6.3f s / %.3f s (median / max)" % (statistics.median(refused), max(refused)))


if __name__ == "__main__":
    main(sys.argv[1:])

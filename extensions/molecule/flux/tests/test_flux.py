"""Flux on the shared cluster: its processes on loopback only, its secrets private, its
layers Ready in dependency order."""

from platform_checks import custom, listening, off_loopback, pids, ready, state_dir


def test_every_flux_process_runs_and_listens_on_loopback_only(host):
    running = pids(host, "flux")
    assert {"git-server", "chart-repository", "source-controller", "kustomize-controller", "helm-controller",
            "notification-controller"} <= set(running)
    sockets = listening(host, set(running.values()))
    assert sockets, "no listening socket found for %s" % running
    assert not off_loopback(sockets), off_loopback(sockets)


def test_the_git_password_is_readable_by_its_owner_only(host):
    credentials = host.file(state_dir(host, "flux") + "/git-credentials")
    assert credentials.exists and credentials.mode == 0o600


def test_the_layers_are_ready(host):
    for name in ("flux-system", "infra-releases", "infra-manifests", "apps"):
        assert ready(custom(host, "kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations", name)), name

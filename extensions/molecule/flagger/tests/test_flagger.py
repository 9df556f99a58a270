"""Flagger on the shared cluster: its charts released by Flux with the mesh's provider,
its local processes running and listening on loopback only."""

from platform_checks import custom, listening, off_loopback, pids, ready


def test_flaggers_releases_are_ready_with_the_meshs_provider(host):
    release = custom(host, "helm.toolkit.fluxcd.io", "v2", "flagger-system", "helmreleases", "flagger")
    assert ready(release)
    assert release["spec"]["values"]["meshProvider"] == "istio"
    assert ready(custom(host, "helm.toolkit.fluxcd.io", "v2", "flagger-system", "helmreleases", "flagger-loadtester"))


def test_flaggers_processes_listen_on_loopback_only(host):
    running = pids(host, "flagger")
    assert {"flagger", "loadtester", "prometheus", "traffic-simulator"} <= set(running)
    sockets = listening(host, set(running.values()))
    assert sockets and not off_loopback(sockets), sockets

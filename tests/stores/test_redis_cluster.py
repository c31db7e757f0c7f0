"""The whole store contract against a real three-node Redis Cluster started for this module.

Each session key is its own hash-tag slot and each script touches one key, so nothing in
the store needs cross-slot atomicity; this runs every contract test to prove it.
"""

from __future__ import annotations

import inspect
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tests.stores.test_contract as contract
from tests.store_backends import free_port, missing

from cookieguard.stores import open_store
from cookieguard.stores.redis import RedisStore

CONTRACT = sorted(
    name
    for name, fn in vars(contract).items()
    if name.startswith("test_")
    and "store" in inspect.signature(fn).parameters
    # The 100k-row purge takes the same cluster path as the small purge test, only slower.
    and "hundred_thousand" not in name
)


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster-bus twins (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        missing("redis-server and redis-cli are needed for the cluster tests")
    workdir: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = _cluster_ports(3)
    procs = [
        subprocess.Popen(
            [
                server,
                "--port",
                str(p),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{p}.conf",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        deadline = time.monotonic() + 10
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        while (
            b"cluster_state:ok"
            not in subprocess.run(
                [cli, "-p", str(ports[0]), "cluster", "info"], capture_output=True, timeout=5
            ).stdout
        ):
            assert time.monotonic() < deadline + 20, "cluster did not become ready"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
async def make_cluster_store(cluster_url: str) -> Any:
    made: list[RedisStore] = []

    def make(prefix: str = "") -> RedisStore:
        store = RedisStore(cluster_url, prefix=prefix or f"cg{secrets.token_hex(4)}:", cluster=True)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.mark.parametrize("name", CONTRACT)
async def test_contract_on_a_cluster(name: str, make_cluster_store: Callable[..., Any]) -> None:
    await getattr(contract, name)(make_cluster_store())


async def test_two_instances_on_a_cluster(make_cluster_store: Callable[..., Any]) -> None:
    first = make_cluster_store("shared:")
    await contract.test_two_instances_sharing_data_lose_no_writes(
        (first, make_cluster_store("shared:"))
    )


def test_open_store_understands_cluster_urls(cluster_url: str) -> None:
    store = open_store(cluster_url.replace("redis://", "redis+cluster://"))
    assert isinstance(store, RedisStore) and store.cluster

"""The benchmark scripts run and report honestly (no speed is asserted: benchmarks are not
timed tests)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_csrf  # noqa: E402
import micro  # noqa: E402


def test_bench_csrf_core_costs_runs_every_case() -> None:
    # It once called a middleware method that no longer existed and crashed.
    names = [name for name, us in bench_csrf.core_costs(number=1) if us >= 0]
    assert "cookie lookup (middleware)" in names
    assert "Set-Cookie header (middleware)" in names


def test_micro_warns_when_a_composite_measures_below_its_part() -> None:
    part = "per request: cookies + id hash + verdict"
    composite = "per request + form token + Set-Cookie"
    warnings = micro.composite_warnings({part: 5.0, composite: 4.0})
    assert len(warnings) == 1 and composite in warnings[0] and part in warnings[0]
    assert micro.composite_warnings({part: 5.0, composite: 7.0}) == []


def test_micro_leaves_the_tracked_results_alone_without_update(tmp_path: Path) -> None:
    tracked = BENCH / "results" / "micro.json"
    before = hashlib.sha256(tracked.read_bytes()).hexdigest() if tracked.exists() else None
    out = tmp_path / "micro.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "micro.py"), "--repeats", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
    after = hashlib.sha256(tracked.read_bytes()).hexdigest() if tracked.exists() else None
    assert after == before


async def test_the_floor_subject_does_the_checks_it_is_a_lower_bound_for(tmp_path: Path) -> None:
    """The floor's count is only a lower bound if it refuses what cookieguard refuses."""
    sys.path.insert(0, str(BENCH))
    sys.path.insert(1, str(BENCH / "sites"))
    import inproc

    app, reader, _ = await inproc.build("floor", tmp_path)
    _, headers, body = inproc.workloads(reader, reader)["W3"][1:4]
    ok = await inproc.call(app, "POST", "/api/records", headers, body)
    assert ok[0] == 201 and (b"vary", b"Cookie") in ok[1]

    def replaced(name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, value if k == name else v) for k, v in headers]

    for forged in (
        replaced(b"x-csrftoken", b"x" * 64),
        replaced(b"origin", b"http://evil.example"),
        replaced(b"sec-fetch-site", b"cross-site"),
        [(k, v) for k, v in headers if k != b"x-csrftoken"],
    ):
        assert (await inproc.call(app, "POST", "/api/records", forged, body))[0] == 403
    status, start, page = await inproc.call(app, "GET", "/login", [], b"")
    cookies = [v for k, v in start if k == b"set-cookie"]
    assert status == 200 and len(cookies) == 1 and cookies[0].startswith(b"csrftoken=")
    assert b'name="csrfmiddlewaretoken"' in page
    anonymous = await inproc.call(app, "GET", "/api/records", [], b"")
    assert anonymous[0] == 401


@pytest.mark.parametrize("security", ["none", "cookieguard"])
async def test_the_bench_app_builds_for_every_layer(tmp_path: Path, security: str) -> None:
    sys.path.insert(0, str(BENCH / "sites"))
    import app

    built = app.build(security, str(tmp_path / "site.sqlite3"), "memory://", "s" * 40)
    transport = httpx.ASGITransport(app=built)
    # The lifespan's shutdown closes the database the app opened.
    async with (
        LifespanManager(built),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        response = await client.get("/api/records")
    if security == "none":  # no security layer: everyone is user 1, who has no records
        assert response.status_code == 200 and response.json() == []
    else:
        assert response.status_code == 401


@pytest.mark.parametrize("security", ["none", "cookieguard"])
def test_the_flask_bench_app_serves_the_contract_routes(tmp_path: Path, security: str) -> None:
    pytest.importorskip("flask")
    sys.path.insert(0, str(BENCH / "sites"))
    import flask_app

    db = str(tmp_path / "site.sqlite3")
    built = flask_app.build(security, db, "memory://", "s" * 40)
    try:
        client = built.test_client()
        page = client.get("/login")
        assert page.status_code == 200 and b"<form" in page.data
        if security == "cookieguard":
            assert "csrftoken=" in page.headers.get("Set-Cookie", "")
            assert client.get("/records").status_code == 303  # anonymous: to the login page
            assert client.get("/api/records").status_code == 401
        else:
            assert client.get("/api/records").json == []
    finally:
        flask_app.close(built)


@pytest.mark.parametrize("subject", ["bare", "cookieguard-memory"])
def test_the_flask_instruction_counts_drive_every_workload_in_process(
    tmp_path: Path, subject: str
) -> None:
    """`instructions.py --flask` counts these calls: each must get its workload's answer."""
    pytest.importorskip("flask")
    sys.path.insert(0, str(BENCH))
    import wsgi_inproc

    app, reader, writer = wsgi_inproc.build(subject, tmp_path)
    try:
        for method, path, headers, body, expected in wsgi_inproc.workloads(reader, writer).values():
            status, _, _ = wsgi_inproc.call(app, method, path, headers, body)
            assert status == expected, (method, path)
        if subject != "bare":  # a forged token is refused: the count is of a checking app
            _, path, headers, body, _ = wsgi_inproc.workloads(reader, writer)["W3"]
            forged = [(k, b"x" * 64 if k == b"x-csrftoken" else v) for k, v in headers]
            assert wsgi_inproc.call(app, "POST", path, forged, body)[0] == 403
    finally:
        sys.path.insert(1, str(BENCH / "sites"))
        import flask_app

        flask_app.close(app)

"""A grading cluster only the course can use: mutual TLS for `--cluster tls://`, plain tcp:// only on loopback.

Fast: the address guard, the TLS settings, the certificates `grader cluster certs` makes, the class report's
warning. Slow, with real processes on loopback: a TLS scheduler and two TLS workers grade a class into the
same gradebook as a local batch; a client without the course's certificate cannot connect. Root: the
guard refuses a non-loopback tcp:// address inside a network namespace that has no way out, where a
listener on that very address would see any connection the guard let through.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.batch.controller import BatchConfig, run_batch
from grader.batch.security import TLSFiles, check_address, exposed, insecure_workers, tls_files
from grader.cli import main
from grader.errors import UsageError
from grader.results import BehaviourResult, SubmissionResult
from tests.conftest import COURSE, REPO
from tests.test_cluster import CLASS, DASK, LocalDask, free_port, make_class, verdict_rows

# --- the address guard -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "is_exposed"), [
    ("tcp://127.0.0.1:8786", False), ("tcp://127.8.9.10:8786", False), ("tcp://localhost:8786", False),
    ("tcp://[::1]:8786", False), ("tcp://[::ffff:127.0.0.1]:8786", False), ("127.0.0.1:8786", False),
    ("tls://10.0.0.5:8786", False), ("tls://lab01.example.edu:8786", False), ("inproc://x/1/2", False),
    ("tcp://10.0.0.5:8786", True), ("10.0.0.5:8786", True),  # Dask's default protocol is tcp
    ("tcp://lab01:8786", True),  # a name: deciding would need a lookup, which may itself leave the machine
    ("tcp://0.0.0.0:8786", True), ("tcp://[2001:db8::1]:8786", True), ("ws://192.168.1.2:8786", True),
    ("tcp://127.0.0.1.evil.example:8786", True), ("tcp://127.0.0.1@10.0.0.5:8786", True),
])
def test_plain_tcp_is_exposed_unless_its_address_is_written_as_loopback(address: str, is_exposed: bool) -> None:
    assert exposed(address) is is_exposed


def test_an_exposed_address_is_refused_with_why_and_the_tls_recipe_unless_insecure_is_said() -> None:
    with pytest.raises(UsageError) as info:
        check_address("tcp://10.0.0.5:8786")
    message = str(info.value)
    assert "authenticates no one and encrypts nothing" in message
    assert "run code on every worker" in message
    assert "grader cluster certs certs" in message
    assert "--cluster tls://10.0.0.5:8786 --tls-ca-file certs/ca.pem --tls-cert certs/client.pem" in message
    assert "--insecure-cluster" in message
    assert check_address("tcp://127.0.0.1:8786") is None
    assert check_address("tls://10.0.0.5:8786") is None
    warning = check_address("tcp://10.0.0.5:8786", insecure=True)
    assert "--insecure-cluster" in warning
    assert "tcp://10.0.0.5:8786" in warning
    with pytest.raises(UsageError, match="unknown protocol 'http'"):
        check_address("http://127.0.0.1:8786")


def test_the_grade_command_refuses_an_exposed_address_with_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["grade", "--cluster", "tcp://10.0.0.5:8786", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("grader:") == 1  # one message
    assert "refused" in err
    assert "Use TLS instead" in err
    assert not any(tmp_path.iterdir())  # refused before anything else happened


def test_insecure_cluster_allows_an_exposed_address_and_warns_on_every_run(tmp_path: Path, capsys) -> None:
    (tmp_path / "subs").mkdir()  # nothing to grade: nothing connects, the reports are rewritten
    argv = ["--course", str(REPO / "grader.yaml"), "grade", str(tmp_path / "subs"), "--cluster",
            "tcp://10.0.0.5:8786", "--insecure-cluster", "--report-only", "--out", str(tmp_path / "out")]
    for _run in range(2):
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert "grader: warning: --insecure-cluster: grading on tcp://10.0.0.5:8786 over plain unauthenticated, " \
               "unencrypted tcp://" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--tls-cert", "c.pem"], "--tls-cert only apply with --cluster"),
    (["--insecure-cluster"], "--insecure-cluster only apply with --cluster"),
    (["--cluster", "tcp://127.0.0.1:1", "--tls-ca-file", "ca.pem"], "is not a tls:// address"),
    (["--cluster", "tls://127.0.0.1:1", "--tls-cert", "c.pem"], "--tls-ca-file and --tls-cert go together"),
    (["--cluster", "tls://127.0.0.1:1", "--tls-ca-file", "nope/ca.pem", "--tls-cert", "c.pem"],
     "--tls-ca-file nope/ca.pem: no such file"),
])
def test_tls_options_that_cannot_work_are_usage_errors(tmp_path: Path, capsys, args, message) -> None:
    assert main(["grade", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_tls_files_come_from_the_command_line_else_grader_yaml_relative_to_it(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client-key.pem", "mine.pem"):
        (tmp_path / name).write_text("x")
    config = {"tls_ca_file": "ca.pem", "tls_cert": "client.pem", "tls_key": "client-key.pem"}
    got = tls_files("tls://10.0.0.5:8786", config=config, config_root=tmp_path)
    assert got == TLSFiles(tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client-key.pem")
    got = tls_files("tls://10.0.0.5:8786", ca_file=str(tmp_path / "ca.pem"), cert=str(tmp_path / "mine.pem"),
                    config=config, config_root=tmp_path)
    assert got == TLSFiles(tmp_path / "ca.pem", tmp_path / "mine.pem", None)
    assert tls_files("tcp://127.0.0.1:8786", config=config, config_root=tmp_path) is None  # not used for tcp
    assert tls_files("tls://10.0.0.5:8786") is None  # then Dask's own configuration (make_security)


def test_grader_yaml_cluster_keys_are_validated_and_never_sent_to_workers(tmp_path: Path) -> None:
    from grader.errors import SpecError
    from grader.spec import load_course

    (tmp_path / "grader.yaml").write_text("cluster:\n  tls_ca_file: certs/ca.pem\n  tls_cert: certs/client.pem\n")
    course = load_course(tmp_path / "grader.yaml")
    assert course.cluster.tls_ca_file == "certs/ca.pem"
    assert "cluster" not in course.model_dump(mode="json")  # what a task carries (batch/cluster.py)
    (tmp_path / "grader.yaml").write_text("cluster:\n  tls_ca: certs/ca.pem\n")
    with pytest.raises(SpecError, match=r"grader.yaml:2"):
        load_course(tmp_path / "grader.yaml")


def test_make_security_requires_encryption_and_falls_back_to_dasks_config(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import dask

    from grader.batch.security import make_security

    files = TLSFiles(tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem")
    sec = make_security("tls://10.0.0.5:8786", files)
    assert sec.require_encryption is True
    assert (sec.tls_ca_file, sec.tls_client_cert, sec.tls_client_key) == tuple(map(str, files.__dict__.values()))
    assert make_security("tcp://127.0.0.1:8786", None) is None
    with dask.config.set({"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None}), \
            pytest.raises(UsageError, match="needs the course's certificates: --tls-ca-file"):
        make_security("tls://10.0.0.5:8786", None)
    with dask.config.set({"distributed.comm.tls.ca-file": "/d/ca.pem", "distributed.comm.tls.client.cert": "/d/c.pem"}):
        sec = make_security("tls://10.0.0.5:8786", None)
    assert (sec.tls_ca_file, sec.tls_client_cert, sec.require_encryption) == ("/d/ca.pem", "/d/c.pem", True)


# --- the certificates ----------------------------------------------------------------------------------------

def load_cert(path: Path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


def test_cluster_certs_makes_a_course_ca_and_keys_only_their_owner_reads(tmp_path: Path, capsys) -> None:
    pytest.importorskip("cryptography")
    d = tmp_path / "certs"
    assert main(["cluster", "certs", str(d), "--scheduler-host", "lab01.example.edu", "--port", "8800"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["ca.pem", "ca-key.pem", "scheduler.pem", "scheduler-key.pem", "worker.pem", "worker-key.pem",
         "client.pem", "client-key.pem"])
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for key in d.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    ca = load_cert(d / "ca.pem")
    for role in ("scheduler", "worker", "client"):
        cert = load_cert(d / f"{role}.pem")
        cert.verify_directly_issued_by(ca)  # raises if the course CA did not sign it
        assert cert.issuer == ca.subject
    # and an SSL context accepts them as a chain (what distributed builds)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(d / "ca.pem"))
    ctx.load_cert_chain(d / "scheduler.pem", d / "scheduler-key.pem")
    assert f"dask scheduler --protocol tls --port 8800 --tls-ca-file {d}/ca.pem --tls-cert {d}/scheduler.pem " \
           f"--tls-key {d}/scheduler-key.pem" in out
    assert f"dask worker tls://lab01.example.edu:8800 --nthreads 4 --tls-ca-file {d}/ca.pem --tls-cert " \
           f"{d}/worker.pem --tls-key {d}/worker-key.pem" in out
    assert f"grader grade --cluster tls://lab01.example.edu:8800 --tls-ca-file {d}/ca.pem --tls-cert " \
           f"{d}/client.pem --tls-key {d}/client-key.pem" in out
    assert "ca-key.pem on this machine only" in out
    before = (d / "ca.pem").read_bytes()
    assert main(["cluster", "certs", str(d)]) == 2  # never overwritten: a new CA would lock out every worker
    assert "never overwritten" in capsys.readouterr().err
    assert (d / "ca.pem").read_bytes() == before


def test_certificates_expire_when_asked() -> None:
    pytest.importorskip("cryptography")
    import tempfile

    from grader.batch.certs import make_course_certs

    now = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_course_certs(Path(tmp) / "c", days=120, now=now)
        cert = load_cert(certs.cert("worker"))
    assert cert.not_valid_after_utc == now + dt.timedelta(days=120)


# --- the class report says it -------------------------------------------------------------------------------

def _run(student: str, worker: str) -> SubmissionResult:
    return SubmissionResult(assignment="select_server", submission=f"/s/{student}", student=student,
                            tier="bwrap (tier A)", worker=worker,
                            behaviours=[BehaviourResult(id="echo", status="passed", score=1, max_score=1)])


def test_the_class_report_warns_about_runs_graded_over_an_insecure_cluster(tmp_path: Path) -> None:
    from grader.batch.outputs import write_class

    assert insecure_workers(["tls://10.0.0.7:4000", "tcp://127.0.0.1:4000", "tcp://10.0.0.7:4000"]) == \
        ["tcp://10.0.0.7:4000"]
    write_class(tmp_path / "safe", [_run("alice", "tls://10.0.0.7:4000"), _run("bob", "tcp://127.0.0.1:4001")])
    for name in ("report.md", "report.html"):
        assert "--insecure-cluster" not in (tmp_path / "safe" / name).read_text(encoding="utf-8")
    write_class(tmp_path / "open", [_run("alice", "tcp://10.0.0.7:4000"), _run("bob", "tcp://10.0.0.8:4000"),
                                    _run("carol", "")])
    md = (tmp_path / "open" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "open" / "report.html").read_text(encoding="utf-8")
    assert md.splitlines()[2].startswith("> ⚠️ 2 runs were graded on a cluster reached over plain, "
                                         "unauthenticated and unencrypted connections (--insecure-cluster")
    assert "tcp://10.0.0.7:4000, tcp://10.0.0.8:4000" in md
    assert html.index("2 runs were graded on a cluster reached over plain") < html.index("<h2")


# --- a real TLS cluster on loopback -------------------------------------------------------------------------

class TLSDask(LocalDask):
    """LocalDask's scheduler and workers, speaking only mutual TLS with the course's certificates."""

    def __init__(self, folder: Path, certs) -> None:
        self.folder, self.certs = folder, certs
        self.address = f"tls://127.0.0.1:{free_port()}"
        self.procs = {}
        self._start("scheduler", [str(DASK), "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port",
                                  self.address.rsplit(":", 1)[1], "--dashboard-address", ":0", "--no-show",
                                  *self._tls("scheduler")])

    def _tls(self, role: str) -> list[str]:
        return ["--tls-ca-file", str(self.certs.ca), "--tls-cert", str(self.certs.cert(role)),
                "--tls-key", str(self.certs.key(role))]

    def add_worker(self, name: str) -> None:
        self._start(name, [str(DASK), "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                           "--host", "127.0.0.1", "--name", name, *self._tls("worker")])

    def client_tls(self) -> TLSFiles:
        return TLSFiles(self.certs.ca, self.certs.cert("client"), self.certs.key("client"))

    def wait_for_workers(self, n: int) -> dict[str, str]:
        from distributed import Client

        from grader.batch.security import make_security

        with Client(self.address, timeout=30, set_as_default=False,
                    security=make_security(self.address, self.client_tls())) as client:
            client.wait_for_workers(n, timeout=60)
            return {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("distributed")
    pytest.importorskip("cryptography")
    from grader.batch.certs import make_course_certs

    folder = tmp_path_factory.mktemp("dask-tls")
    cluster = TLSDask(folder, make_course_certs(folder / "certs"))
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        cluster.workers = cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()


@pytest.mark.slow
def test_a_class_graded_over_tls_gets_the_local_gradebook(tls_cluster, tmp_path: Path, capsys) -> None:
    root = make_class(tmp_path / "subs", CLASS[:4])
    local = run_batch(COURSE, BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "local"))
    assert not local.outcome.errors
    c = tls_cluster.certs
    code = main(["--course", str(REPO / "grader.yaml"), "grade", str(root), "--out", str(tmp_path / "tls"),
                 "--cluster", tls_cluster.address, "--tls-ca-file", str(c.ca), "--tls-cert", str(c.cert("client")),
                 "--tls-key", str(c.key("client")), "--progress", "none"])
    out = capsys.readouterr()
    assert code == 1 or code == 0, out.err
    assert "warning" not in out.err
    assert verdict_rows(tmp_path / "tls") == verdict_rows(tmp_path / "local")
    runs = [r for r in map(json.loads, (tmp_path / "tls" / "journal.jsonl").read_text().splitlines())
            if r["event"] == "run"]
    assert len(runs) == 4  # every run graded over TLS, none reused from the local batch
    workers = {r["result"]["worker"] for r in runs}
    assert workers <= set(tls_cluster.workers.values())
    assert all(w.startswith("tls://127.0.0.1:") for w in workers)  # workers too speak only TLS
    assert "--insecure-cluster" not in (tmp_path / "tls" / "report.md").read_text(encoding="utf-8")


def _dask_client(address: str, security=None, timeout: float = 5):
    from distributed import Client

    return Client(address, timeout=timeout, set_as_default=False, security=security)


def _raw_tls(address: str, ctx: ssl.SSLContext) -> bytes:
    """What the scheduler says to a TLS client that connects and waits: its Dask handshake, or an alert."""
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.settimeout(10)
        return tls.recv(64)


@pytest.mark.slow
def test_only_a_client_with_the_courses_certificate_is_let_in(tls_cluster, tmp_path: Path) -> None:
    from distributed.security import Security

    from grader.batch.certs import make_course_certs
    from grader.batch.cluster import connect

    c = tls_cluster.certs
    # the course's client: connected, and a task runs
    client = connect(tls_cluster.address, 20, tls=tls_cluster.client_tls())
    try:
        assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
    finally:
        client.close()
    # a TLS client with no certificate at all: the scheduler answers with an alert, never its handshake
    bare = ssl.create_default_context(cafile=str(c.ca))
    bare.check_hostname = False
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED|certificate required"):
        _raw_tls(tls_cluster.address, bare)
    mine = ssl.create_default_context(cafile=str(c.ca))
    mine.check_hostname = False
    mine.load_cert_chain(c.cert("client"), c.key("client"))
    assert _raw_tls(tls_cluster.address, mine)  # the same probe with the course's certificate: the handshake
    # a certificate from another CA (another course, a student's own): refused, nothing can be submitted
    other = make_course_certs(tmp_path / "other")
    stranger = Security(tls_ca_file=str(c.ca), tls_client_cert=str(other.cert("client")),
                        tls_client_key=str(other.key("client")), require_encryption=True)
    with pytest.raises((OSError, TimeoutError)):
        _dask_client(tls_cluster.address, stranger)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler at tls://.* over TLS"):
        connect(tls_cluster.address, 5, tls=TLSFiles(c.ca, other.cert("client"), other.key("client")))
    # plain tcp:// to the TLS scheduler: refused too
    with pytest.raises((OSError, TimeoutError)):
        _dask_client(tls_cluster.address.replace("tls://", "tcp://"))


# --- no packet leaves for a refused address -----------------------------------------------------------------

NETNS_PROBE = textwrap.dedent("""
    # Runs inside a fresh network namespace (unshare -n): only lo exists, so nothing can leave it. The
    # refused address is put on lo with a listener, so that a connection the guard let through is seen here.
    import json, select, socket, subprocess, sys, time
    addr, argv = sys.argv[1], sys.argv[2:]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", addr + "/32", "dev", "lo"], check=True)
    routes = subprocess.run(["ip", "-o", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    lst = socket.create_server((addr, 8786))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, connected = time.monotonic() + 60, False
    while time.monotonic() < deadline:
        if select.select([lst], [], [], 0.1)[0]:
            connected = True
            break
        if proc.poll() is not None:
            connected = bool(select.select([lst], [], [], 0.5)[0])
            break
    proc.kill()
    out, err = proc.communicate()
    print(json.dumps({"connected": connected, "code": proc.returncode, "stderr": err,
                      "default_route": "default" in routes,
                      "links": [line.split(": ")[1] for line in links.splitlines()]}))
""")


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
@pytest.mark.parametrize("insecure", [False, True])
def test_a_refused_address_is_never_connected_to_inside_a_namespace_with_no_way_out(tmp_path: Path,
                                                                                      insecure: bool) -> None:
    pytest.importorskip("distributed")
    root = make_class(tmp_path / "subs", CLASS[:1])  # a run to grade, so the batch would connect if allowed
    argv = [sys.executable, "-m", "grader.cli", "--course", str(REPO / "grader.yaml"), "grade", str(root),
            "--cluster", "tcp://10.1.2.3:8786", "--out", str(tmp_path / "out"), "--progress", "none",
            *(["--insecure-cluster"] if insecure else [])]
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c", NETNS_PROBE, "10.1.2.3", *argv], cwd=REPO,
                           capture_output=True, text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["links"] == ["lo"]
    assert not seen["default_route"]
    if insecure:  # the control: the listener does see a client the guard lets through
        assert seen["connected"], seen
        assert "grader: warning: --insecure-cluster: grading on tcp://10.1.2.3:8786" in seen["stderr"]
    else:
        assert not seen["connected"], seen
        assert seen["code"] == 2
        assert "--cluster tcp://10.1.2.3:8786 refused" in seen["stderr"]
        assert "Use TLS instead" in seen["stderr"]

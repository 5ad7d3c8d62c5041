"""`grader cluster certs DIR`: the course's CA and certificates for a TLS grading cluster (docs/batch.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.i18n import _

HELP = "set up a grading cluster for `grader grade --cluster`: `certs DIR` makes the course's TLS certificates"
DESCRIPTION = """\
A Dask client can run any code on every worker: the grading cluster must accept only the course's own
machines. `grader cluster certs DIR` creates a certificate authority for the course and, signed by it, a
certificate and key for the scheduler, the workers and the grading client (this machine):

  ca.pem                              the course's CA: on every machine of the cluster
  ca-key.pem                          the CA's key: only to make more certificates; keep it here, off the cluster
  scheduler.pem, scheduler-key.pem    for `dask scheduler`
  worker.pem, worker-key.pem          for `dask worker` (copy them to each grading machine)
  client.pem, client-key.pem          for `grader grade --cluster tls://...`

Keys are written readable by their owner only (0600). Existing files are never overwritten. Then it prints
the `dask scheduler`, `dask worker` and `grader grade` command lines that use them. See docs/batch.md."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = actions.add_parser("certs", help="create the course's CA and the scheduler, worker and client certificates",
                           description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("folder", type=Path, metavar="DIR", help="where to write them (created, mode 0700)")
    c.add_argument("--scheduler-host", metavar="HOST", default=None,
                   help="the scheduler machine's name or address, as workers and this machine reach it (used in "
                        "the printed commands and added to its certificate; default: this machine's name)")
    c.add_argument("--port", type=int, default=8786, help="the scheduler's port in the printed commands (8786)")
    c.add_argument("--days", type=int, default=400, help="how long the certificates are valid (default 400 days)")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import socket

    from grader.batch.certs import make_course_certs
    from grader.batch.security import command_line
    from grader.spec import load_course

    try:
        course = load_course(Path(args.course) if args.course else None).course
    except Exception:  # noqa: BLE001 - the course name is only a label in the certificates
        course = "course"
    host = args.scheduler_host or socket.gethostname()
    certs = make_course_certs(args.folder, course=course, scheduler_hosts=[host], days=args.days)
    d = args.folder
    address = f"tls://{host}:{args.port}" if ":" not in host else f"tls://[{host}]:{args.port}"
    tls = {role: ["--tls-ca-file", str(d / "ca.pem"), "--tls-cert", str(certs.cert(role)),
                  "--tls-key", str(certs.key(role))] for role in ("scheduler", "worker", "client")}
    print(_("Made the course's CA and certificates in {folder} (valid {days} days; keys readable by their owner "
            "only).").format(folder=d, days=args.days))
    print(_("Keep {ca_key} on this machine only: whoever has it can make certificates the cluster "
            "accepts.").format(ca_key=certs.ca_key))
    print()
    print(_("On the scheduler machine ({host}), with ca.pem, scheduler.pem and scheduler-key.pem:").format(host=host))
    print("  " + command_line(["dask", "scheduler", "--protocol", "tls", "--port", str(args.port),
                               *tls["scheduler"]]))
    print(_("On each grading machine, with ca.pem, worker.pem and worker-key.pem (root for tier A):"))
    print("  " + command_line(["dask", "worker", address, "--nthreads", "4", *tls["worker"]]))
    print(_("Here, to grade:"))
    print("  " + command_line(["grader", "grade", "--cluster", address, *tls["client"]]))
    print(_("(or put tls_ca_file, tls_cert and tls_key under `cluster:` in grader.yaml and drop the --tls-* "
            "options)"))
    return 0

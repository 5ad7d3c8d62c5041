#!/usr/bin/env python3
"""The Gradescope flow, end to end, in a real container built from Debian's packages (no image registry).

    rig.py build                          # idempotent: rootfs -> image grader-base -> grader-gradescope-base
    rig.py run [SUBMISSION ...] [--docker] [--limits | --both] [--bare-python] [--zip FILE] [--json FILE]
    rig.py clean                          # removes every image and file the rig made

`run` exports the autograder zip of this checkout (`grader export gradescope ASSIGNMENT`), builds the
autograder image the way Gradescope does (zip unpacked in /autograder/source, `setup.sh` run as root;
cached by the zip's hash), then for each submission runs `/autograder/run_autograder` in a fresh container
with the submission in /autograder/submission, under the runtime's DEFAULT capability set and DEFAULT
seccomp profile (never --privileged or --cap-add). `--limits` adds Gradescope's default limits
(--cpus 0.5 --memory 768m). It reads /autograder/results/results.json and compares it with what the
submission must get: full marks for a folder under reference/, the manifest's `fails` for a program under
tests/programs/ASSIGNMENT/. Exit 0 when every submission got exactly that, 1 otherwise, 2 on a rig error.

Standard library only; needs root, podman (or docker) and debootstrap: `apt-get install podman runc
debootstrap`. Everything built lives outside the git tree, in $GRADER_CONTAINER_CACHE (default
/var/tmp/grader-container) and in the container runtime's image store. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
# Outside the git tree and kept across reboots (unlike /tmp); root-only use, so no shared-/tmp race.
CACHE = Path(os.environ.get("GRADER_CONTAINER_CACHE", "/var/tmp/grader-container"))  # noqa: S108
SUITE = "bookworm"
BASE_IMAGE = "grader-base"
GRADESCOPE_IMAGE = "grader-gradescope-base"
AUTOGRADER_IMAGE = "grader-autograder"
# What Gradescope's base image already has (it is Ubuntu with Python); the rest is setup.sh's business.
GRADESCOPE_PACKAGES = ["python3", "python3-venv", "python3-pip", "unzip", "ca-certificates", "curl"]
GRADESCOPE_LIMITS = ["--cpus", "0.5", "--memory", "768m"]
# Gradescope runs Docker. podman's defaults differ from Docker's in two ways that matter: its seccomp
# profile lets an unprivileged process create user namespaces (Docker's refuses unshare/setns/mount and
# namespace clones without CAP_SYS_ADMIN), and its capability set lacks NET_RAW, MKNOD and AUDIT_WRITE.
# --docker gives the container exactly Docker's defaults: its 14 capabilities, its seccomp profile (from
# Debian's golang-github-docker-docker-dev package, or GRADER_CONTAINER_SECCOMP).
DOCKER_CAPS = ("CHOWN,DAC_OVERRIDE,FSETID,FOWNER,MKNOD,NET_RAW,SETGID,SETUID,SETFCAP,SETPCAP,NET_BIND_SERVICE,"
               "SYS_CHROOT,KILL,AUDIT_WRITE")
DOCKER_SECCOMP = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"


class RigError(Exception):
    """The rig itself could not do its job (not a grading result)."""


def log(msg: str) -> None:
    print(f"rig: {msg}", file=sys.stderr, flush=True)


def sh(cmd: list[str], *, check: bool = True, capture: bool = False, stdin=None,
       timeout: float | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, stdin=stdin, text=True, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "").strip()[-2000:] if capture else ""
        raise RigError(f"{' '.join(cmd[:6])}... exited with {proc.returncode}" + (f": {detail}" if detail else ""))
    return proc


class ContainerTool:
    """podman (or docker) with the flags this machine needs, found once by trying them."""

    def __init__(self, program: str, flags: list[str], run_flags: list[str]):
        self.program, self.flags, self.run_flags = program, flags, run_flags

    def cmd(self, *args: str) -> list[str]:
        return [self.program, *self.flags, *args]

    def run_cmd(self, *args: str) -> list[str]:
        return [self.program, *self.flags, "run", *self.run_flags, *args]

    def image_exists(self, name: str) -> bool:
        if self.program == "podman":
            return sh(self.cmd("image", "exists", name), check=False, capture=True).returncode == 0
        return sh(self.cmd("image", "inspect", name), check=False, capture=True).returncode == 0

    def describe(self) -> str:
        return " ".join([self.program, *self.flags, "run", *self.run_flags])


def ulimit_flags() -> list[str]:
    """Limits the runtime may set without CAP_SYS_RESOURCE (which a machine that is itself a container
    may lack): podman's defaults (nofile 1048576, nproc 4194304) raise the hard limit and fail with EPERM."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else min(nofile, 1048576)
    # Measured here: nproc up to 32768 is accepted, 65536 is not (the runtime's own hard limit is lower
    # than the shell's); the grader needs far fewer.
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=32768:32768"]


def find_container_tool() -> ContainerTool:
    forced = os.environ.get("GRADER_CONTAINER_ENGINE")
    programs = [forced] if forced else ["podman", "docker"]
    refusals = []
    for program in programs:
        if not shutil.which(program):
            continue
        if program == "docker":
            if sh([program, "info"], check=False, capture=True).returncode == 0:
                return ContainerTool(program, [], [])
            continue
        # crun refuses hybrid cgroup machines ("cgroups in hybrid mode not supported") such as this one;
        # runc does not. Try the default first, then runc.
        for flags in ([], ["--runtime", "runc"]):
            if flags and not shutil.which("runc"):
                continue
            tool = ContainerTool(program, flags, ulimit_flags())
            if not tool.image_exists(BASE_IMAGE):
                return tool  # tried again once the base image exists
            probe = sh(tool.run_cmd("--rm", "--network", "none", BASE_IMAGE, "true"), check=False,
                       capture=True, timeout=120)
            if probe.returncode == 0:
                return tool
            refusals.append(f"{tool.describe()}: {probe.stderr.strip()[-300:]}")
    raise RigError("no working container tool: install podman and runc (apt-get install podman runc), "
                   "or docker, or set GRADER_CONTAINER_ENGINE" + "".join(f"\n  {r}" for r in refusals))


def build_base(tool: ContainerTool) -> tuple[ContainerTool, dict]:
    """The Debian image, from a debootstrap'd root file system; each step skipped when already done.
    Returns the tool re-probed on that image (the runtime's flags can only be tried on an image)."""
    timings = {}
    if not tool.image_exists(BASE_IMAGE):
        if not shutil.which("debootstrap"):
            raise RigError("debootstrap is missing: apt-get install debootstrap")
        rootfs = CACHE / "rootfs"
        if not (rootfs / ".complete").is_file():
            partial = CACHE / "rootfs.partial"
            shutil.rmtree(partial, ignore_errors=True)
            CACHE.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            log(f"debootstrap --variant=minbase {SUITE} {partial} (about 30 s)")
            sh(["debootstrap", "--variant=minbase", SUITE, str(partial)], capture=True)
            shutil.rmtree(rootfs, ignore_errors=True)
            partial.rename(rootfs)
            (rootfs / ".complete").write_text("")
            timings["debootstrap_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        log(f"importing {rootfs} as {BASE_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--exclude", "./.complete", "-c", "."],
                               stdout=subprocess.PIPE)
        sh(tool.cmd("import", "-", BASE_IMAGE), stdin=tar.stdout, capture=True)
        if tar.wait() != 0:
            raise RigError("tar of the root file system failed")
        timings["import_s"] = round(time.monotonic() - t0, 1)
    tool = find_container_tool()
    if not tool.image_exists(GRADESCOPE_IMAGE):
        t0 = time.monotonic()
        log(f"building {GRADESCOPE_IMAGE}: {BASE_IMAGE} + {' '.join(GRADESCOPE_PACKAGES)}")
        name = f"grader-rig-build-{os.getpid()}"
        script = ("set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  f"--no-install-recommends {' '.join(GRADESCOPE_PACKAGES)} >/dev/null; apt-get clean")
        try:
            sh(tool.run_cmd("--name", name, BASE_IMAGE, "sh", "-c", script), capture=True)
            sh(tool.cmd("commit", name, GRADESCOPE_IMAGE), capture=True)
        finally:
            sh(tool.cmd("rm", "-f", name), check=False, capture=True)
        timings["gradescope_base_s"] = round(time.monotonic() - t0, 1)
    return tool, timings


def ca_bundle_flags() -> list[str]:
    """Where TLS to PyPI is intercepted by a proxy with its own CA (as on the machines this was built on),
    setup.sh's pip must trust that CA; Gradescope's network needs nothing of the kind."""
    bundle = os.environ.get("GRADER_CONTAINER_CA") or os.environ.get("PIP_CERT") or ""
    if not bundle or not Path(bundle).is_file():
        return []
    return ["-v", f"{bundle}:/run/rig-ca.crt:ro", "-e", "PIP_CERT=/run/rig-ca.crt"]


def docker_flags() -> list[str]:
    profile = Path(os.environ.get("GRADER_CONTAINER_SECCOMP") or DOCKER_SECCOMP)
    if not profile.is_file():
        raise RigError(f"--docker needs Docker's default seccomp profile at {profile}: apt-get install "
                       f"golang-github-docker-docker-dev, or set GRADER_CONTAINER_SECCOMP to its default.json")
    return ["--cap-drop", "ALL", "--cap-add", DOCKER_CAPS, "--security-opt", f"seccomp={profile}"]


def export_zip(assignment: str, out: Path) -> None:
    grader = CHECKOUT / ".venv" / "bin" / "grader"
    cmd = [str(grader)] if grader.exists() else [sys.executable, "-m", "grader.cli"]
    sh([*cmd, "export", "gradescope", assignment, "-o", str(out)], capture=True)


KEEP_AUTOGRADERS = 6


def prune_autograders(tool: ContainerTool, *, keep: str) -> None:
    """Every code change makes a new zip and so a new ~470 MB image: keep only the newest few."""
    listed = sh(tool.cmd("images", "--format", "{{.Repository}}:{{.Tag}}"), check=False, capture=True)
    # Both tools list the newest first.
    ours = [i for i in listed.stdout.split() if i.split("/")[-1].startswith(AUTOGRADER_IMAGE + ":")]
    old = [i for i in ours if not i.endswith(keep)][KEEP_AUTOGRADERS - 1:]
    if old:
        sh(tool.cmd("rmi", "-f", *old), check=False, capture=True)
        log(f"removed {len(old)} older autograder images")


def build_autograder(tool: ContainerTool, zip_path: Path, *, bare: bool = False) -> tuple[str, dict]:
    """The autograder image, as Gradescope builds it: the zip in /autograder/source, setup.sh as root.
    `bare`: first remove venv and pip, leaving the interpreter alone (as on Gradescope's Ubuntu images)."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:12] + ("-bare" if bare else "")
    image = f"{AUTOGRADER_IMAGE}:{digest}"
    if tool.image_exists(image):
        return image, {"setup_cached": True}
    name = f"grader-rig-setup-{os.getpid()}"
    script = ("apt-get remove -y -qq python3-venv python3.11-venv python3-pip >/dev/null 2>&1; "
              "python3 -c 'import ensurepip' 2>/dev/null && { echo 'rig: ensurepip still there'; exit 3; }; "
              if bare else "")
    script += ("set -e; mkdir -p /autograder/source /autograder/results /autograder/submission; "
              "unzip -q /run/autograder.zip -d /autograder/source; cd /autograder/source; "
              "bash ./setup.sh; cp /autograder/source/run_autograder /autograder/run_autograder; "
              "chmod +x /autograder/run_autograder")
    t0 = time.monotonic()
    log(f"building {image}: setup.sh in {GRADESCOPE_IMAGE}")
    try:
        proc = sh(tool.run_cmd("--name", name, "-v", f"{zip_path}:/run/autograder.zip:ro",
                                 *ca_bundle_flags(), GRADESCOPE_IMAGE, "bash", "-c", script),
                  check=False, capture=True, timeout=1200)
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / f"setup-{digest}.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise RigError(f"setup.sh failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
        sh(tool.cmd("commit", name, image), capture=True)
    finally:
        sh(tool.cmd("rm", "-f", name), check=False, capture=True)
    prune_autograders(tool, keep=image)
    ready = [ln for ln in proc.stdout.splitlines() if "grader ready" in ln]
    return image, {"setup_cached": False, "setup_s": round(time.monotonic() - t0, 1),
                   "setup_says": ready[-1] if ready else ""}


@dataclass
class Expectation:
    """What a submission must get: `must_fail` None when nothing is known about it."""

    label: str
    must_fail: set[str] | None
    messages: dict[str, str] = field(default_factory=dict)


def expectation(submission: Path) -> Expectation:
    """Full marks for reference/NAME; a corpus program's `fails` and `messages` from its manifest.yaml."""
    sub = submission.resolve()
    if sub.parent.name == "reference":
        return Expectation(f"reference/{sub.name}", set())
    label = f"{sub.parent.name}/{sub.name}"
    manifest = sub.parent / "manifest.yaml"
    if manifest.is_file():
        # The manifest is the tests' YAML; the rig reads its two fields without a YAML dependency.
        text = manifest.read_text(encoding="utf-8")
        block = re.search(rf"(?ms)^  {re.escape(sub.name)}:\n(.*?)(?=^  \S|\Z)", text)
        if block:
            body = block.group(1)
            messages = {}
            found = re.search(r"(?ms)^    messages:\n(.*?)(?=^    \S|\Z)", body)
            if found:
                messages = {k: v.strip().strip("'\"") for k, v in
                            re.findall(r"(?m)^      (\w+): (.+)$", found.group(1))}
            if re.search(r"(?m)^    fails: \[\]\s*$", body):
                return Expectation(label, set(), messages)
            fails = re.search(r"(?ms)^    fails:\n(.*?)(?=^    [^\s-]|\Z)", body)
            if fails:
                return Expectation(label, set(re.findall(r"(?m)^    - (\S+)", fails.group(1))), messages)
    return Expectation(sub.name, None)


def container_status(tool: ContainerTool, image: str, *, docker: bool) -> dict:
    """What a process in such a container really gets: capabilities and seccomp mode, read from inside."""
    proc = sh(tool.run_cmd("--rm", *(docker_flags() if docker else []), image,
                             "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status"), capture=True)
    fields = dict(line.split(":\t", 1) for line in proc.stdout.strip().splitlines())
    caps = int(fields["CapEff"].strip(), 16)
    return {"cap_eff": fields["CapEff"].strip(), "seccomp": int(fields["Seccomp"]),
            # capability(7) numbers: the two whose absence breaks observation and namespaces
            "cap_sys_admin": bool(caps >> 21 & 1), "cap_sys_ptrace": bool(caps >> 19 & 1)}


def run_submission(tool: ContainerTool, image: str, submission: Path, *, limits: bool, docker: bool,
                   workdir: Path) -> dict:
    expected = expectation(submission)
    label, must_fail = expected.label, expected.must_fail
    case = workdir / re.sub(r"[^A-Za-z0-9_.-]", "_", label + ("-docker" if docker else "")
                            + ("-limits" if limits else ""))
    shutil.rmtree(case, ignore_errors=True)
    (case / "results").mkdir(parents=True)
    shutil.copytree(submission, case / "submission")
    name = f"grader-rig-run-{os.getpid()}-{case.name}"[:60]
    cmd = tool.run_cmd("--rm", "--name", name, *(GRADESCOPE_LIMITS if limits else []),
                         *(docker_flags() if docker else []),
                         "-v", f"{case / 'submission'}:/autograder/submission",
                         "-v", f"{case / 'results'}:/autograder/results",
                         "-w", "/autograder", image, "/autograder/run_autograder")
    t0 = time.monotonic()
    proc = sh(cmd, check=False, capture=True, timeout=900)
    elapsed = round(time.monotonic() - t0, 1)
    (case / "stdout.txt").write_text(proc.stdout + proc.stderr)
    out = {"submission": label, "limits": limits, "docker_defaults": docker, "seconds": elapsed,
           "exit": proc.returncode, "log": str(case / "stdout.txt")}
    results_file = case / "results" / "results.json"
    if not results_file.is_file():
        out.update(ok=False, problem=f"no results.json (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return out
    data = json.loads(results_file.read_text())
    tests = {t["name"].split(":")[0]: t for t in data.get("tests", [])}
    # The student-facing explanation must carry the manifest's key phrase (e.g. "blocked in recvfrom()").
    out["messages_missing"] = sorted(b for b, phrase in expected.messages.items()
                                     if phrase not in str(tests.get(b, {}).get("output", "")))
    failed = {n for n, t in tests.items() if t.get("status") != "passed"}
    max_score = sum(t.get("max_score", 0) for t in tests.values())
    out.update(score=data.get("score"), max_score=max_score, failed=sorted(failed),
               tier=(data.get("extra_data") or {}).get("tier"), python=(data.get("extra_data") or {}).get("python"),
               execution_time=data.get("execution_time"), results=str(results_file),
               reasons={n: " ".join(str(tests[n].get("output", "")).split())[:200] for n in sorted(failed)})
    if must_fail is None:
        out.update(ok=None, problem="no expectation known for this submission")
    else:
        out["expected_failed"] = sorted(must_fail)
        out["ok"] = failed == must_fail
        if not out["ok"]:
            out["problem"] = (f"failed {sorted(failed)} but must fail exactly {sorted(must_fail)}")
    return out


def cmd_build(args) -> int:
    tool = find_container_tool()
    t0 = time.monotonic()
    tool, timings = build_base(tool)
    size = sh(tool.cmd("image", "inspect", "--format", "{{.Size}}", GRADESCOPE_IMAGE), capture=True)
    report = {"tool": tool.describe(), "total_s": round(time.monotonic() - t0, 1), **timings,
              "gradescope_base_bytes": int(size.stdout.strip() or 0)}
    print(json.dumps(report, indent=2))
    return 0


def cmd_run(args) -> int:
    tool = find_container_tool()
    tool, build = build_base(tool)
    subs = [Path(s) for s in args.submissions] or [CHECKOUT / "reference" / args.assignment]
    for s in subs:
        if not s.is_dir():
            raise RigError(f"{s}: not a folder")
    if args.zip and not Path(args.zip).is_file():
        raise RigError(f"--zip {args.zip}: no such file")
    workdir = CACHE / "runs"
    with tempfile.TemporaryDirectory(prefix="grader-rig-") as tmp:
        zip_path = Path(tmp) / f"{args.assignment}-autograder.zip"
        t0 = time.monotonic()
        if args.zip:
            shutil.copyfile(args.zip, zip_path)
        else:
            export_zip(args.assignment, zip_path)
        export_s = round(time.monotonic() - t0, 1)
        image, setup = build_autograder(tool, zip_path, bare=args.bare_python)
    status = container_status(tool, image, docker=args.docker)
    log(f"in the container: CapEff {status['cap_eff']}, seccomp mode {status['seccomp']}")
    runs = []
    for s in subs:
        for limits in ([False, True] if args.both else [args.limits]):
            r = run_submission(tool, image, s, limits=limits, docker=args.docker, workdir=workdir)
            log(f"{r['submission']}{' (Docker defaults)' if args.docker else ''}"
                f"{' (--cpus 0.5 --memory 768m)' if limits else ''}: "
                f"{r.get('score')}/{r.get('max_score')} tier={r.get('tier')} in {r['seconds']} s; "
                + ("as expected" if r.get("ok") else r.get("problem", "")))
            runs.append(r)
    report = {"tool": tool.describe(), "image": image, "export_s": export_s, **build, **setup,
              "container": status, "runs": runs}
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0 if all(r.get("ok") for r in runs) else 1


def cmd_clean(args) -> int:
    """Every image and file the rig made (the next build starts from debootstrap again)."""
    tool = find_container_tool() if (shutil.which("podman") or shutil.which("docker")) else None
    if tool is not None:
        listed = sh(tool.cmd("images", "--format", "{{.Repository}}:{{.Tag}}"), capture=True).stdout.split()
        ours = [i for i in listed if i.split("/")[-1].split(":")[0] in (BASE_IMAGE, GRADESCOPE_IMAGE, AUTOGRADER_IMAGE)]
        if ours:
            sh(tool.cmd("rmi", "-f", *ours), capture=True)
        log(f"removed {len(ours)} images")
    shutil.rmtree(CACHE, ignore_errors=True)
    log(f"removed {CACHE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) the base images; idempotent")
    sub.add_parser("clean", help="remove every image and file the rig made")
    r = sub.add_parser("run", help="export the zip, run setup.sh, grade submissions in containers")
    r.add_argument("submissions", nargs="*", help="submission folders (default: reference/ASSIGNMENT)")
    r.add_argument("--assignment", default="select_server")
    r.add_argument("--limits", action="store_true", help="Gradescope's default limits: --cpus 0.5 --memory 768m")
    r.add_argument("--both", action="store_true", help="each submission without and with the limits")
    r.add_argument("--docker", action="store_true",
                   help="Docker's default capabilities and seccomp profile instead of the tool's (as Gradescope)")
    r.add_argument("--bare-python", action="store_true",
                   help="run setup.sh on an image with python3 but without its venv module and pip")
    r.add_argument("--zip", metavar="FILE", help="grade with this autograder zip instead of exporting one")
    r.add_argument("--json", metavar="FILE", help="also write the report to FILE")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("rig: needs root (the container runtime and debootstrap)", file=sys.stderr)
        return 2
    try:
        return {"build": cmd_build, "clean": cmd_clean, "run": cmd_run}[args.command](args)
    except (RigError, subprocess.TimeoutExpired) as exc:
        print(f"rig: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Messages in the course's language (grader/i18n.py, docs/i18n.md).

The catalog is complete and up to date with the code; only literals are marked for translation; the
language is resolved once (flag, grader.yaml, environment) and reaches the grading session explicitly; every
report format has a zh-CN golden beside its English one; a buggy program graded in Chinese gets the same
verdicts as in English with every explanation in Chinese; the built wheel carries the compiled catalog.

After merging code with new messages: `make i18n` (re-extracts, lists what is untranslated), translate in
grader/locale/zh_CN/LC_MESSAGES/grader.po, then run this file.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import i18n
from grader.errors import SpecError, UsageError
from tests.conftest import PROGRAMS, REPO

sys.path.insert(0, str(REPO / "scripts"))
import i18n_status  # noqa: E402  (scripts/ is not a package)

GOLDEN_ZH = Path(__file__).parent / "golden" / "zh-CN"
UPDATE = os.environ.get("GRADER_UPDATE_GOLDENS") == "1"
HAN = re.compile(r"[\u4e00-\u9fff]")
GRADER = [sys.executable, "-m", "grader.cli"]


@pytest.fixture
def zh():
    i18n.use("zh-CN")
    yield
    i18n.use("en")


# --- the catalog ----------------------------------------------------------------------------------------

def test_every_msgid_in_the_code_is_in_the_catalog():
    """Extraction is up to date: a message added anywhere in grader/ is listed here until `make i18n`."""
    found = i18n_status.problems(i18n_status.PO, i18n_status.extract())
    assert found["not in the catalog"] == [], "run `make i18n`, then translate the new entries"


def test_catalog_is_complete_and_consistent():
    found = i18n_status.problems(i18n_status.PO)
    assert found == {"not in the catalog": [], "untranslated": [], "fuzzy": [], "placeholders differ": []}


def test_the_completeness_check_can_fail(tmp_path):
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "{n} clients"\nmsgstr "{count} 个客户端"\n\n'
                  'msgid "left"\nmsgstr ""\n\n'
                  '#, fuzzy\nmsgid "guess"\nmsgstr "猜"\n', encoding="utf-8")
    found = i18n_status.problems(po, {"{n} clients", "left", "guess", "new one"})
    assert found == {"not in the catalog": ["new one"], "untranslated": ["left"], "fuzzy": ["guess"],
                     "placeholders differ": ["{n} clients"]}


# --- lint: only literals go into _() and ngettext() -----------------------------------------------------

def _marked_names(tree: ast.Module) -> set[str]:
    """Module-level names whose value is built from N_() literals (translated where used)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "N_"
                for n in ast.walk(node.value)):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def lint(source: str, filename: str = "<test>", imported: frozenset[str] = frozenset()) -> list[str]:
    """Calls of _() / ngettext() whose text Babel cannot extract: an f-string, a concatenation, a call
    (`"...".format()` inside), or a variable that is not an N_()-marked module constant (of this module, or
    `imported` from another)."""
    tree = ast.parse(source, filename)
    marked = _marked_names(tree) | imported
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext")):
            continue
        texts = node.args[:1] if node.func.id == "_" else node.args[:2]
        for arg in texts:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                continue
            base = arg
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name) and base.id in marked and not isinstance(arg, ast.JoinedStr):
                continue
            kind = "an f-string" if isinstance(arg, ast.JoinedStr) else f"a non-literal ({type(arg).__name__})"
            out.append(f"{filename}:{node.lineno}: {node.func.id}() given {kind}")
    return out


def test_no_fstring_or_variable_inside_gettext():
    paths = [p for p in sorted((REPO / "grader").rglob("*.py")) if "standalone" not in p.relative_to(REPO).parts]
    sources = {p: p.read_text(encoding="utf-8") for p in paths}
    marked = frozenset().union(*(_marked_names(ast.parse(s)) for s in sources.values()))
    problems = []
    for path, source in sources.items():
        imported = frozenset(a.asname or a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)
                             for a in n.names) & marked
        problems += lint(source, str(path.relative_to(REPO)), imported)
    assert problems == []


def test_the_lint_catches_what_babel_cannot_extract():
    assert lint('_(f"{n} clients")')[0].endswith("an f-string")
    assert lint('_("a" + b)')
    assert lint('_("{n}".format(n=1))')
    assert lint("_(text)")
    assert lint('ngettext("one", f"{n} many", n)')
    assert lint('LABEL = {"a": N_("x")}\n_(LABEL["a"])\n_("ok {n}").format(n=1)') == []


# --- resolving the language ---------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, None),  # no catalog: English, not an error
    ({"LANGUAGE": "fr:zh_CN", "LANG": "en_US.UTF-8"}, "zh-CN"),  # a list, in order of preference
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL before LANG
    ({"LC_MESSAGES": "zh_SG.UTF-8", "LANG": "en_US"}, "zh-CN"),
    ({}, None),
])
def test_environment_order(env, lang):
    assert i18n.from_environment(env) == lang


def test_flag_beats_course_beats_environment():
    env = {"LANG": "zh_CN.UTF-8"}
    assert i18n.resolve("en", "zh-CN", use_environment=True, environ=env) == "en"
    assert i18n.resolve(None, "en", use_environment=True, environ=env) == "en"
    assert i18n.resolve(None, None, use_environment=True, environ=env) == "zh-CN"
    assert i18n.resolve(None, None, use_environment=False, environ=env) == "en"  # only `grader check` reads it
    assert i18n.resolve("zh_CN", None) == "zh-CN"


def test_unknown_language_lists_the_available_ones(capsys):
    with pytest.raises(i18n.UnknownLanguage, match=r"unknown language 'fr' \(--lang\); available: en, zh-CN"):
        i18n.resolve("fr", None)
    from grader.cli import main

    assert main(["validate", "--no-run", "--lang", "fr"]) == UsageError.exit_code  # the command line: exit 2
    assert "unknown language 'fr' (--lang); available: en, zh-CN" in capsys.readouterr().err


def test_unknown_language_in_grader_yaml_is_a_spec_error_with_its_line(tmp_path):
    from grader.spec import load_course

    (tmp_path / "grader.yaml").write_text("course: x\nlanguage: klingon\n")
    with pytest.raises(SpecError, match=r"grader.yaml:2: language: .*unknown language 'klingon'"):
        load_course(tmp_path / "grader.yaml")


def test_cli_unknown_language_is_exit_2():
    proc = subprocess.run([*GRADER, "check", "select_server", ".", "--lang", "xx"], capture_output=True,
                          text=True, cwd=REPO, check=False)
    assert proc.returncode == 2
    assert "unknown language 'xx'" in proc.stderr
    assert "en, zh-CN" in proc.stderr


def test_the_catalog_is_the_packages_not_the_global_domain(zh):
    import gettext

    assert i18n._("why") == "原因"
    assert gettext.gettext("why") == "why"  # nothing installed globally


def test_the_session_gets_the_language_explicitly(zh):
    from grader.session.runner import SessionOptions, pytest_argv
    from tests.conftest import COURSE, spec_of

    argv = pytest_argv(spec_of("select_server"), Path("."), Path("r"), COURSE, SessionOptions())
    assert argv[argv.index("--grader-lang") + 1] == "zh-CN"
    i18n.use("en")
    argv = pytest_argv(spec_of("select_server"), Path("."), Path("r"), COURSE, SessionOptions())
    assert "--grader-lang" not in argv


def test_student_process_locale_is_fixed_whatever_the_language(zh, monkeypatch):
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    from grader.sandbox import Launch
    from grader.sandbox.host import submission_env

    env = submission_env(Launch(submission=Path("."), entry="server.py"))
    assert env["LANG"] == "C.UTF-8"
    assert not [k for k in env if k == "LANGUAGE" or k.startswith("LC_")]  # nothing of the grader's locale


# --- display width -----------------------------------------------------------------------------------------

def test_width_counts_cjk_as_two_columns():
    assert i18n.width("通过") == 4
    assert i18n.width("PASS") == 4
    assert i18n.width("期望：") == 6
    assert i18n.ljust("失败", 5) == "失败 "


def test_terminal_rows_align_by_display_width(zh):
    from grader.reporters import terminal
    from tests.test_reporters import hostile_result

    rows = [ln for ln in terminal.render(hostile_result()).splitlines() if re.match(r"  (通过|失败|出错|跳过) ", ln)]
    assert len(rows) == 3
    assert len({i18n.width(ln.split("/")[0].rsplit(" ", 1)[0]) for ln in rows}) == 1  # points start in one column


# --- spec text in two languages ----------------------------------------------------------------------------

SPEC = """\
title: {en: Echo, zh-CN: 回显}
entry: server.py
kind: server
behaviours:
  - id: echo
    check: echo
    title:
      en: echoes
      zh-CN: 回显每条消息
    hint: only English here
"""


def test_spec_text_in_the_process_language_and_marked_fallback(tmp_path, zh):
    from grader.spec import load_spec

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "assignment.yaml").write_text(SPEC, encoding="utf-8")
    spec = load_spec(tmp_path / "a" / "assignment.yaml")
    assert spec.title == "回显"
    assert spec.behaviours[0].title == "回显每条消息"
    assert spec.behaviours[0].hint == "[en] only English here"
    assert [(u.line, u.where, u.language) for u in spec.untranslated] == [(10, "behaviour 'echo'.hint", "zh-CN")]
    assert str(spec.untranslated[0]).startswith(f"{tmp_path}/a/assignment.yaml:10：")
    i18n.use("en")
    spec = load_spec(tmp_path / "a" / "assignment.yaml")
    assert (spec.title, spec.behaviours[0].hint, spec.untranslated) == ("Echo", "only English here", ())


def test_every_assignment_has_its_text_in_chinese(zh):
    from grader.spec import list_assignments, load_spec
    from tests.conftest import COURSE

    for name in list_assignments(COURSE):
        spec = load_spec(COURSE.assignments_path / name / "assignment.yaml")
        assert spec.untranslated == (), [str(u) for u in spec.untranslated]
        assert HAN.search(spec.title)
        assert (COURSE.assignments_path / name / "TASK.zh-CN.md").is_file()


def test_validate_lists_untranslated_spec_text_with_its_line(tmp_path):
    (tmp_path / "assignments" / "a").mkdir(parents=True)
    (tmp_path / "assignments" / "a" / "assignment.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "grader.yaml").write_text("language: zh-CN\n")
    proc = subprocess.run([*GRADER, "validate", "--no-run"], capture_output=True, text=True, cwd=tmp_path,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "assignments/a/assignment.yaml:10" in proc.stdout
    assert "zh-CN" in proc.stdout


# --- reports: a zh-CN golden beside every English one ------------------------------------------------------

def zh_reports() -> dict[str, str]:
    from tests.test_reporters import reports

    i18n.use("zh-CN")
    try:
        return reports()
    finally:
        i18n.use("en")


@pytest.mark.parametrize("name", sorted(zh_reports()))
def test_golden_zh(name):
    got = zh_reports()[name]
    path = GOLDEN_ZH / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(got.encode("utf-8"))
    assert path.is_file(), f"{path} is missing: run with GRADER_UPDATE_GOLDENS=1 to write it"
    assert got == path.read_bytes().decode("utf-8"), f"{name} differs from {path}"
    english = (GOLDEN_ZH.parent / name).read_bytes().decode("utf-8")
    if name != "grades.csv":  # data only
        assert got != english
        assert HAN.search(got)


# --- end to end: a buggy program graded in Chinese -----------------------------------------------------

ENGLISH_WORDS = re.compile(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){3,}\b")  # four English words in a row


def _check(lang_args: list[str], env: dict[str, str]) -> subprocess.Popen:
    program = PROGRAMS / "select_server" / "blocking_recv_after_accept"
    # the behaviours this bug fails, and one it passes: enough to compare verdicts
    return subprocess.Popen([*GRADER, "check", "select_server", str(program), "--seed", "7",
                             "--only", "echo,concurrent_clients,abrupt_disconnect", *lang_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, **env})


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
def test_check_in_chinese_same_verdicts_every_explanation_in_chinese(tmp_path):
    # at once: each run has its own network namespace where the machine allows it, else one port at a time
    en, zh_json, zh_env = (_finish(p) for p in [_check(["--json"], {"LANG": "C.UTF-8"}),
                                                 _check(["--json", "--lang", "zh-CN"], {}),
                                                 _check([], {"LANG": "zh_CN.UTF-8"})])  # no flag: the locale
    assert en.returncode == zh_json.returncode == zh_env.returncode == 1
    verdicts = [[(b["id"], b["status"], b["score"], b["reason"]) for b in json.loads(p.stdout)["behaviours"]]
                for p in (en, zh_json)]
    assert verdicts[0] == verdicts[1]
    assert {b for b, status, _s, _r in verdicts[0] if status == "failed"} >= {"concurrent_clients"}
    out = zh_env.stdout
    assert "失败原因" in out
    assert "阻塞模式" in out
    assert "conn.setblocking(False)" not in out.split("失败原因")[0]
    explanation = out.split("失败原因", 1)[1]
    for line in explanation.splitlines():
        stripped = line.strip()
        if re.match(r"t=\s*[\d.]+", stripped) or "grader check" in stripped:  # transcript times; the command
            continue
        assert not ENGLISH_WORDS.search(stripped), f"English left in: {line!r}"
    assert "阻塞在处于阻塞模式的连接套接字" in explanation  # the diagnosis, from /proc
    assert "总分" in out


# --- the built wheel carries the compiled catalog ------------------------------------------------------

@pytest.mark.slow
def test_wheel_built_with_setuptools_carries_the_zh_cn_catalog(tmp_path):
    wheels = tmp_path / "wheels"
    # pip's isolated build: setuptools and babel as pyproject.toml's [build-system] asks, setup.py's build step
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("grader-*.whl"))
    assert "grader/locale/zh_CN/LC_MESSAGES/grader.mo" in zipfile.ZipFile(wheel).namelist()
    venv = tmp_path / "venv"  # a fresh one: nothing of the checkout on its path
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    site = next((venv / "lib").glob("python*/site-packages"))
    code = ("import gettext, grader.i18n as i; t = gettext.translation('grader', localedir=str(i.LOCALE_DIR), "
            "languages=['zh_CN']); print(i.LOCALE_DIR); print(t.gettext('Why they failed'))")
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True,
                          cwd=tmp_path, timeout=60)
    where, text = proc.stdout.splitlines()
    assert where.startswith(str(site))
    assert text == "失败原因"


def test_exported_wheel_carries_the_catalog(tmp_path):
    from grader.export.wheel import build_wheel

    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    assert "grader/locale/zh_CN/LC_MESSAGES/grader.mo" in names


# --- Gradescope: the zip exported with --lang zh-CN writes Chinese results.json ----------------------------

@pytest.mark.slow
def test_gradescope_zip_in_chinese(tmp_path):
    from tests.test_integrations import autograder_root, run_autograder

    zip_path = tmp_path / "ag.zip"
    proc = subprocess.run([*GRADER, "export", "gradescope", "select_server", "--lang", "zh-CN", "-o", str(zip_path)],
                          capture_output=True, text=True, cwd=REPO, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = zipfile.ZipFile(zip_path).namelist()
    assert "assignments/select_server/TASK.zh-CN.md" in names
    assert "assignments/select_server/TASK.md" in names
    assert "language: zh-CN" in zipfile.ZipFile(zip_path).read("grader.yaml").decode()
    buggy = (PROGRAMS / "select_server" / "blocking_recv_after_accept" / "server.py").read_text()
    data = run_autograder(autograder_root(tmp_path, zip_path, {"server.py": buggy}))
    assert "这里显示的" in data["output"]
    assert HAN.search(data["output"])
    failed = {t["name"].split(":")[0]: t for t in data["tests"] if t["status"] == "failed"}
    assert "concurrent_clients" in failed
    out = failed["concurrent_clients"]["output"]
    assert "**期望：**" in out
    assert "**原因：**" in out
    assert "阻塞模式" in out
    assert "在另一个客户端保持沉默时" in failed["concurrent_clients"]["name"]  # the spec's zh-CN title

"""Security checks: report file names cannot escape their folder, YAML cannot construct objects,
no shell anywhere, and GitOps credentials never show up in messages, URLs, files or reports.

Where the code is not yet safe, the check is a strict xfail that names the gap (see the report of
the "hostile input" issue for proposed fixes); fixing the code turns it into an XPASS failure.
"""
from __future__ import annotations

import ast
import dataclasses
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from runner import cli, loader
from runner.clock import VirtualClock
from runner.engine import DrillRun, Engine
from runner.errors import DrillsError
from runner.render import writer
from runner.results import run_json
from runner.targets.gitrepo import GitRepo, redact_url
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import EPOCH, ROOT, drill

RUNNER = ROOT / "runner"
TOKEN = "glpat-TEST-ONLY-5ecr3t-7c1f0e"  # fake; must never be printed, stored or reported
USER_ENV, TOKEN_ENV = "RD_SECURITY_TEST_GIT_USER", "RD_SECURITY_TEST_GIT_TOKEN"

# --- report file names ----------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../outside", "../..", "..", ".", "", "/etc/passwd", "/tmp/../../root/.bashrc", "a/../../b", "..\\..\\windows",
    "~/.ssh/authorized_keys", "nul\x00byte", "new\nline", "演练/../../逃逸", "x" * 500, "-rf", ".hidden", "index/..",
]


@pytest.fixture(scope="module")
def delete_run() -> DrillRun:
    """One real run on the simulated cluster that saved a manifest (delete-resource keeps one for repair)."""
    sim = SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH))
    run = Engine(sim, run_ids=lambda name: f"{name}-sec").run(drill("delete-resource", "api", "self-heal", "dev", name="del"),
                                                              "x.yaml:1")
    assert run.saved_manifests, "expected the delete-resource drill to save a manifest"
    return run


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:30])
def test_safe_name_cannot_leave_the_folder(name: str) -> None:
    safe = writer.safe_name(name)
    assert safe and safe not in (".", "..")
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe and "\n" not in safe
    assert not safe.startswith(("-", ".")) and len(safe) <= 80
    folder = Path("/reports/run")
    assert (folder / f"{safe}.md").resolve().parent == folder.resolve()


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:30])
def test_report_for_a_hostile_drill_name_lands_inside_the_folder(tmp_path: Path, delete_run: DrillRun, name: str) -> None:
    # the model refuses such names, so they can only arrive through the API: write them anyway
    run = dataclasses.replace(delete_run, saved_manifests={f"../../{name}.yaml": m for m in delete_run.saved_manifests.values()})
    results = run_json([run], EPOCH, EPOCH + timedelta(minutes=1), {"name": "sim", "kind": "sim", "simulated": True})
    results["drills"][0]["name"] = name
    folder = tmp_path / "reports" / "run"
    written = writer.write(folder, results, [run], "en")
    inside = folder.resolve()
    for p in written + _files_under(tmp_path):
        assert p.resolve().is_relative_to(inside), p
    assert len(written) == 4  # retrospective, results.json, junit.xml, index.md


def test_a_drill_named_index_keeps_its_retrospective(tmp_path: Path, delete_run: DrillRun) -> None:
    run = dataclasses.replace(delete_run, saved_manifests={})
    results = run_json([run], EPOCH, EPOCH + timedelta(minutes=1), {"name": "sim", "kind": "sim", "simulated": True})
    results["drills"][0]["name"] = "index"
    assert loader.load_text((ROOT / "drills" / "bad-image-tag.yaml").read_text().replace("name: bad-image-tag", "name: index"),
                            "x.yaml").problems == []  # the model accepts the name
    written = writer.write(tmp_path / "run", results, [run], "en")
    assert len(set(written)) == len(written), sorted(p.name for p in written)


# --- YAML object construction --------------------------------------------------------------

CONSTRUCTORS = [
    "!!python/object/apply:os.system ['touch {p}']",
    "!!python/object/apply:builtins.open ['{p}', 'w']",
    "!!python/object/new:subprocess.Popen [['touch', '{p}']]",
    "!!python/object/apply:subprocess.check_call [['touch', '{p}']]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {p}']",
]


@pytest.mark.parametrize("tag", CONSTRUCTORS)
def test_object_construction_tags_are_refused_without_side_effects(tmp_path: Path, tag: str) -> None:
    pwned = tmp_path / "pwned"
    value = tag.format(p=pwned)
    drill_text = (ROOT / "drills" / "bad-image-tag.yaml").read_text().replace("name: bad-image-tag", f"name: {value}")
    for text in (drill_text, f"kind: {value}\n", f"- {value}\n"):
        problems = loader.load_text(text, "x.yaml").problems
        assert any("is not allowed" in p.message for p in problems), [str(p) for p in problems]
    sim_config = tmp_path / "sim.yaml"
    sim_config.write_text(f"seed: {value}\n")
    _, problems = loader.validate_file(sim_config, SimConfig)
    assert any("is not allowed" in p.message for p in problems), [str(p) for p in problems]
    assert not pwned.exists()


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _sources() -> list[tuple[Path, str, ast.AST]]:
    out = []
    for path in sorted(RUNNER.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out.append((path, text, ast.parse(text, str(path))))
    assert len(out) > 20
    return out


def test_yaml_is_only_ever_loaded_safely() -> None:
    safe = {"yaml.SafeLoader", "yaml.CSafeLoader"}
    for _, _, tree in _sources():  # a loader class of our own is fine if it derives from the safe one
        safe |= {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and {_dotted(b) for b in n.bases} & safe}
    unsafe = []
    for path, text, tree in _sources():
        for call in _calls(tree):
            name = _dotted(call.func)
            if name in ("yaml.load", "yaml.load_all", "yaml.full_load", "yaml.full_load_all", "yaml.unsafe_load",
                        "yaml.unsafe_load_all", "yaml.compose", "yaml.compose_all"):
                loader_kw = {k.arg: _dotted(k.value) for k in call.keywords}.get("Loader", "")
                if loader_kw not in safe:
                    unsafe.append(f"{path.relative_to(ROOT)}:{call.lineno}: {name}(Loader={loader_kw or 'default'})")
        for word in ("yaml.Loader", "yaml.FullLoader", "yaml.UnsafeLoader", "yaml.CLoader", "yaml.CFullLoader"):
            if word in text:
                unsafe.append(f"{path.relative_to(ROOT)}: mentions {word}")
    assert not unsafe


# --- no shell ----------------------------------------------------------------------------------


def test_no_shell_anywhere_in_runner() -> None:
    found = []
    for path, text, tree in _sources():
        rel = path.relative_to(ROOT)
        for call in _calls(tree):
            name = _dotted(call.func)
            for kw in call.keywords:
                # shell=True, shell=1, shell=some_variable: anything but a literal False
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{rel}:{call.lineno}: {name}(shell=...)")
            if name in ("os.system", "os.popen", "os.spawnl", "os.spawnlp", "os.execl", "os.execlp", "subprocess.getoutput",
                        "subprocess.getstatusoutput", "commands.getoutput", "pty.spawn"):
                found.append(f"{rel}:{call.lineno}: {name}()")
            if name in ("subprocess.run", "subprocess.Popen", "subprocess.check_call", "subprocess.check_output",
                        "subprocess.call") and call.args and isinstance(call.args[0], (ast.Constant, ast.JoinedStr)):
                found.append(f"{rel}:{call.lineno}: {name} with a command string, not an argument list")
        # a plain grep too, so that an aliased import or a string built at run time does not slip through review
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if "shell=True" in code.replace(" ", "") or "os.system(" in code or "os.popen(" in code:
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    (f"https://deploy:{TOKEN}@git.example.com/platform/x.git", "https://git.example.com/platform/x.git"),
    (f"https://{TOKEN}@github.com/acme/x.git", "https://github.com/acme/x.git"),
    (f"http://user:{TOKEN}@127.0.0.1:8080/x.git", "http://127.0.0.1:8080/x.git"),
    (f"ssh://git:{TOKEN}@git.example.com:2222/x.git", "ssh://git.example.com:2222/x.git"),
    (f"file://u:{TOKEN}@/srv/git/x.git", "file:///srv/git/x.git"),
    ("https://git.example.com/x@y/z.git", "https://git.example.com/x@y/z.git"),  # '@' in the path is not userinfo
    ("git@github.com:acme/x.git", "git@github.com:acme/x.git"),                   # scp-like: a user, no secret
    pytest.param(f"git+ssh://deploy:{TOKEN}@git.example.com/x.git", "git+ssh://git.example.com/x.git"),
    pytest.param(f"HTTPS://deploy:{TOKEN}@git.example.com/x.git?ref=main", "HTTPS://git.example.com/x.git?ref=main"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert TOKEN not in redact_url(url)


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A bare Git repository with one commit on main, made with the real git CLI."""
    remote = tmp_path / "remote.git"
    seed = tmp_path / "seed"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "--quiet", "--bare", str(remote)], check=True, timeout=30)
    subprocess.run([*git, "clone", "--quiet", str(remote), str(seed)], check=True, timeout=30, capture_output=True)
    (seed / "apps").mkdir()
    (seed / "apps" / "values.yaml").write_text("image:\n  tag: v1\n")
    subprocess.run([*git, "-C", str(seed), "add", "."], check=True, timeout=30)
    subprocess.run([*git, "-C", str(seed), "commit", "--quiet", "-m", "seed"], check=True, timeout=30)
    subprocess.run([*git, "-C", str(seed), "push", "--quiet", "origin", "HEAD:main"], check=True, timeout=30, capture_output=True)
    return remote


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(USER_ENV, "drill-bot")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    # GitRepo writes its askpass helper with tempfile.mkdtemp: keep those folders inside the test's own
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def _exception_texts(exc: BaseException) -> str:
    """Every message in the exception chain a traceback would print, plus the command of a subprocess error."""
    out = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out += [str(e), repr(e.args)]
        out += [repr(getattr(e, attr, "")) for attr in ("cmd", "output", "stderr")]
        # what a printed traceback shows: the cause, else the context unless 'raise ... from None' hid it
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return "\n".join(out)


def test_gitrepo_with_token_in_env_works_and_never_shows_it(tmp_path: Path, bare_repo: Path, token_env: None) -> None:
    repo = GitRepo(f"file://{bare_repo}", "main", cache_dir=tmp_path / "cache", username_env=USER_ENV, password_env=TOKEN_ENV)
    assert TOKEN not in repo.url and TOKEN not in repo.remote
    first = repo.head()
    assert repo.read("apps/values.yaml") == "image:\n  tag: v1\n"
    sha = repo.commit_file("apps/values.yaml", "image:\n  tag: does-not-exist\n", "drill: bad image tag")
    assert sha != first and repo.read("apps/values.yaml", sha) == "image:\n  tag: does-not-exist\n"
    reverted = repo.revert(sha)
    assert repo.read("apps/values.yaml", reverted) == "image:\n  tag: v1\n"

    # the askpass helper hands the token to git at run time; the token is not written into it
    askpass = Path(repo._env["GIT_ASKPASS"])  # private, but it is exactly what git is given
    assert TOKEN not in askpass.read_text()
    answer = subprocess.run([str(askpass), "Password for 'https://drill-bot@git.example.com': "], env=repo._env,
                            capture_output=True, text=True, timeout=10)
    assert answer.stdout == TOKEN  # the mechanism works ...
    for f in _files_under(tmp_path / "cache"):  # ... and nothing on disk holds the token
        assert TOKEN.encode() not in f.read_bytes(), f

    # failures: messages name what failed, never the token
    for call in (lambda: repo.revert("0" * 40),
                 lambda: GitRepo(f"file://{bare_repo}", "no-such-branch", cache_dir=tmp_path / "c2",
                                 username_env=USER_ENV, password_env=TOKEN_ENV).head(),
                 lambda: GitRepo(f"file://{tmp_path / 'missing.git'}", "main", cache_dir=tmp_path / "c3",
                                 username_env=USER_ENV, password_env=TOKEN_ENV).head()):
        with pytest.raises(DrillsError) as info:
            call()
        assert TOKEN not in _exception_texts(info.value)


def test_gitrepo_error_from_a_url_with_inline_credentials_does_not_echo_them(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on: connection refused, quickly
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = GitRepo(f"http://deploy:{TOKEN}@127.0.0.1:{port}/x.git", "main", cache_dir=tmp_path / "cache", timeout=20)
    assert TOKEN not in repo.url and repo.url == f"http://127.0.0.1:{port}/x.git"
    with pytest.raises(DrillsError) as info:
        repo.head()
    assert TOKEN not in _exception_texts(info.value)


def test_gitrepo_timeout_does_not_chain_the_url_with_credentials(tmp_path: Path) -> None:
    with socket.socket() as server:  # accepts connections into the backlog and never answers: git hangs
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        repo = GitRepo(f"http://deploy:{TOKEN}@127.0.0.1:{port}/x.git", "main", cache_dir=tmp_path / "cache", timeout=1)
        with pytest.raises(DrillsError) as info:
            repo.head()
    assert "timed out" in str(info.value)
    assert TOKEN not in _exception_texts(info.value)


def test_token_as_url_user_is_not_stored_on_disk(tmp_path: Path, bare_repo: Path) -> None:
    url = f"file://{TOKEN}@{bare_repo}"
    problems = loader.load_text(TARGETS_WITH_URL.format(url=url), "targets.yaml").problems
    if not problems:  # accepted by the targets file check: then at least nothing may keep it
        repo = GitRepo(url, "main", cache_dir=tmp_path / "cache")
        repo.head()
        leaked = [f for f in _files_under(tmp_path / "cache") if TOKEN.encode() in f.read_bytes()]
        assert not leaked, leaked


TARGETS_WITH_URL = """\
apiVersion: drills.release/v1
kind: Targets
metadata: {{name: t}}
spec:
  targets:
    kind-local:
      context: kind-release-drills
      namespaces: [dev]
      gitops:
        url: {url}
"""


@pytest.mark.parametrize("url", [
    f"https://deploy:{TOKEN}@git.example.com/platform/platform-config.git",
    f"ssh://git:{TOKEN}@git.example.com/platform/platform-config.git",
    f"http://user:{TOKEN}@10.0.0.1:3000/x.git",
    pytest.param(f"https://{TOKEN}@github.com/acme/platform-config.git"),
    pytest.param(f"https://oauth2:{TOKEN}@gitlab.example.com/x.git#frag", id="oauth2-token"),
])
def test_targets_file_with_credentials_in_the_url_is_refused_without_echo(url: str, tmp_path: Path) -> None:
    text = TARGETS_WITH_URL.format(url=url)
    problems = loader.load_text(text, "targets.yaml").problems
    assert any("put credentials in environment variables" in p.message for p in problems), [str(p) for p in problems]
    for p in problems:
        assert TOKEN not in str(p)
        assert p.line == 10  # the url line
    # and through the command line, as a person would see it
    f = tmp_path / "targets.yaml"
    f.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "runner.cli", "validate", str(f)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr


def test_corpus_credential_file_is_refused_without_echo() -> None:
    path = ROOT / "tests" / "data" / "bad" / "targets-inline-credentials.yaml"
    secret = "glpat-SECRETTOKEN1234"
    assert secret in path.read_text()
    problems = loader.load_file(path).problems
    assert problems and all(secret not in str(p) for p in problems)


def test_report_of_a_sim_run_never_contains_the_token(tmp_path: Path, token_env: None, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("GITOPS_TOKEN", TOKEN)  # the name the README's targets example uses
    reports = tmp_path / "reports"
    code = cli.main(["run", str(ROOT / "drills" / "bad-image-tag.yaml"), "--target", "sim", "--report-dir", str(reports),
                     "--journal-dir", str(tmp_path / "journal"), "--history", str(tmp_path / "history.sqlite"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    files = _files_under(tmp_path)
    assert any(f.suffix == ".md" for f in files) and any(f.name == "results.json" for f in files)
    assert TOKEN not in out.out + out.err
    for f in files:
        assert TOKEN.encode() not in f.read_bytes(), f

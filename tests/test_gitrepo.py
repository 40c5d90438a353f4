"""The GitOps repository through real git: commit and push, revert, a push rejected because
someone pushed meanwhile (rebase and retry, or stop and say nothing was pushed)."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from runner.errors import TargetError
from runner.targets.gitrepo import GitRepo, redact_url


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "apps").mkdir()
    (seed / "apps" / "values-dev.yaml").write_text("replicaCount: 1\nimage:\n  tag: dev-latest  # keep this comment\n")
    (seed / "README").write_text("platform\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "main")
    return bare


def someone_else_pushes(remote: Path, tmp: Path, path: str, content: str) -> None:
    other = tmp / f"other-{len(list(tmp.iterdir()))}"
    git(tmp, "clone", "-q", str(remote), str(other))
    (other / path).write_text(content)
    git(other, "commit", "-q", "-am", "someone else")
    git(other, "push", "-q", "origin", "main")


def test_commit_read_revert(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(f"file://{remote}", "main", cache_dir=tmp_path / "cache")
    head = repo.head()
    sha = repo.commit_file("apps/values-dev.yaml", "replicaCount: 5\n", "drill x")
    assert sha != head and repo.read("apps/values-dev.yaml") == "replicaCount: 5\n"
    assert git(remote, "log", "-1", "--format=%s", "main") == "drill x"
    back = repo.revert(sha, "Revert drill x")
    assert repo.read("apps/values-dev.yaml").endswith("# keep this comment\n")
    assert repo.tree_id("apps", back) == repo.tree_id("apps", head)


def test_push_rejected_then_rebased_and_retried(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(f"file://{remote}", "main", cache_dir=tmp_path / "cache")
    repo.head()  # clone
    # a pre-push hook plays the colleague who pushes between our fetch and our push
    hook = repo.workdir / ".git" / "hooks" / "pre-push"
    hook.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ -e "{tmp_path}/raced" ] && exit 0
        touch "{tmp_path}/raced"
        d=$(mktemp -d) && git clone -q "{remote}" "$d/o" && cd "$d/o" && echo "docs" > README \\
          && git -c user.name=o -c user.email=o@o commit -q -am "colleague" && git push -q origin main
        exit 0
        """))
    hook.chmod(0o755)
    sha = repo.commit_file("apps/values-dev.yaml", "replicaCount: 5\n", "drill y")
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["drill y", "colleague"]  # rebased on top of the colleague's commit, pushed once
    assert git(remote, "rev-parse", "main") == sha


def test_conflicting_push_stops_and_pushes_nothing(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(f"file://{remote}", "main", cache_dir=tmp_path / "cache")
    repo.head()
    hook = repo.workdir / ".git" / "hooks" / "pre-push"
    hook.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ -e "{tmp_path}/raced" ] && exit 0
        touch "{tmp_path}/raced"
        d=$(mktemp -d) && git clone -q "{remote}" "$d/o" && cd "$d/o" \\
          && printf 'replicaCount: 3\\n' > apps/values-dev.yaml \\
          && git -c user.name=o -c user.email=o@o commit -q -am "colleague scaled" && git push -q origin main
        exit 0
        """))
    hook.chmod(0o755)
    with pytest.raises(TargetError, match="rebase conflicts with what was pushed meanwhile; nothing was pushed"):
        repo.commit_file("apps/values-dev.yaml", "replicaCount: 5\n", "drill z")
    assert git(remote, "log", "-1", "--format=%s", "main") == "colleague scaled"


def test_credentials_never_in_urls_or_errors(remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact_url("https://bob:s3cr3t-token@git.example.com/x.git") == "https://git.example.com/x.git"
    monkeypatch.setenv("RD_TEST_TOKEN", "s3cr3t-token")
    repo = GitRepo("https://127.0.0.1:9/nowhere.git", "main", cache_dir=tmp_path / "cache",
                   username_env="RD_TEST_USER", password_env="RD_TEST_TOKEN", timeout=20)
    with pytest.raises(TargetError) as info:
        repo.head()
    assert "s3cr3t-token" not in str(info.value) and "s3cr3t-token" not in repo.url

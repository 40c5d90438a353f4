"""The GitOps repository through the real ``git`` CLI: clone/fetch, commit a file, revert, push.

Argument lists only (never a shell string), a timeout on every command, output captured. The
repository is cloned once into a cache folder and reset to the remote branch before each change,
so the runner never works on a stale tree. Credentials come from environment variables named in
the target config and reach git through GIT_ASKPASS; they never appear in URLs, logs or reports.
A push rejected because someone pushed meanwhile is retried after a rebase, a bounded number of
times; then it stops and says so.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from runner.errors import TargetError, TargetUnavailable

log = logging.getLogger(__name__)

AUTHOR = ("release-drills", "release-drills@localhost")
PUSH_ATTEMPTS = 3


def redact_url(url: str) -> str:
    """``https://user:token@host/x.git`` -> ``https://host/x.git``."""
    return re.sub(r"^([A-Za-z][\w+.-]*://)[^/?#]*@", r"\1", url)


class GitRepo:
    """``GitOps`` port on a real remote (URL or local path) and branch."""

    def __init__(self, remote: str, branch: str = "main", *, cache_dir: Path | None = None,
                 username_env: str | None = None, password_env: str | None = None, timeout: float = 60.0) -> None:
        self.remote = remote
        self.url = redact_url(remote)
        self.branch = branch
        self.timeout = timeout
        root = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "release-drills" / "git"
        self.workdir = root / hashlib.sha1(f"{remote}#{branch}".encode()).hexdigest()[:16]
        self._env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        if username_env or password_env:
            self._env.update(self._askpass(username_env, password_env))
        self._ready = False

    def _askpass(self, user_env: str | None, pass_env: str | None) -> dict[str, str]:
        script = Path(tempfile.mkdtemp(prefix="rd-askpass-")) / "askpass.sh"
        # the script reads the values from the environment at run time; nothing secret is written
        script.write_text('#!/bin/sh\ncase "$1" in\n  Username*) printf "%s" "$(printenv "$RD_GIT_USER_ENV")" ;;\n'
                          '  *) printf "%s" "$(printenv "$RD_GIT_PASS_ENV")" ;;\nesac\n')
        script.chmod(stat.S_IRWXU)
        return {"GIT_ASKPASS": str(script), "RD_GIT_USER_ENV": user_env or "", "RD_GIT_PASS_ENV": pass_env or ""}

    def _git(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv: Sequence[str] = ["git", "-c", f"user.name={AUTHOR[0]}", "-c", f"user.email={AUTHOR[1]}", *args]
        try:
            proc = subprocess.run(argv, cwd=cwd or self.workdir, env=self._env, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc = None  # not chained: TimeoutExpired's message is the whole argv, remote URL included
        if proc is None:
            raise TargetUnavailable(f"git {args[0]} timed out after {self.timeout:g} s")
        if check and proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().replace(self.remote, self.url)
            raise TargetError(f"git {' '.join(args[:2])} failed: {msg[-400:]}")
        return proc

    def sync(self) -> None:
        """Clone once, then fetch and hard-reset to the remote branch."""
        if not (self.workdir / ".git").is_dir():
            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            self._git("clone", "--quiet", "--branch", self.branch, self.remote, str(self.workdir), cwd=self.workdir.parent)
        else:
            self._git("remote", "set-url", "origin", self.remote)
        self._git("fetch", "--quiet", "origin", self.branch)
        self._git("checkout", "--quiet", "-B", self.branch, f"origin/{self.branch}")
        self._git("reset", "--quiet", "--hard", f"origin/{self.branch}")
        self._git("clean", "-fdq")
        self._ready = True

    def _push(self, describe: str) -> str:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            proc = self._git("push", "--quiet", "origin", f"HEAD:{self.branch}", check=False)
            if proc.returncode == 0:
                return self._git("rev-parse", "HEAD").stdout.strip()
            text = proc.stderr + proc.stdout
            if "rejected" not in text and "fetch first" not in text and "non-fast-forward" not in text:
                raise TargetError(f"git push of {describe} failed: {text.strip().replace(self.remote, self.url)[-400:]}")
            log.warning("git push of %s rejected (someone pushed meanwhile); rebasing, attempt %d", describe, attempt)
            self._git("fetch", "--quiet", "origin", self.branch)
            rebase = self._git("rebase", "--quiet", f"origin/{self.branch}", check=False)
            if rebase.returncode != 0:
                self._git("rebase", "--abort", check=False)
                raise TargetError(f"git push of {describe} rejected and the rebase conflicts with what was pushed "
                                  f"meanwhile; nothing was pushed")
        raise TargetError(f"git push of {describe} rejected {PUSH_ATTEMPTS} times; stopping")

    # --- GitOps port ------------------------------------------------------------------

    def head(self) -> str:
        self.sync()
        return self._git("rev-parse", "HEAD").stdout.strip()

    def read(self, path: str, rev: str | None = None) -> str | None:
        if rev is None:
            self.sync()
        proc = self._git("show", f"{rev or 'HEAD'}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def commit_file(self, path: str, content: str, message: str) -> str:
        self.sync()
        target = self.workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        self._git("add", "--", path)
        self._git("commit", "--quiet", "-m", message)
        return self._push(f"commit '{message[:60]}'")

    def revert(self, sha: str, message: str | None = None) -> str:
        self.sync()
        proc = self._git("revert", "--no-edit", sha, check=False)
        if proc.returncode != 0:
            self._git("revert", "--abort", check=False)
            raise TargetError(f"git revert {sha[:12]} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        if message:
            self._git("commit", "--quiet", "--amend", "-m", message)
        return self._push(f"revert of {sha[:12]}")

    def tree_id(self, path: str, rev: str | None = None) -> str:
        if rev is None:
            self.sync()
        return self._git("rev-parse", f"{rev or 'HEAD'}:{path}").stdout.strip()

"""An in-memory Git repository (one branch) for the simulated target.

Commits are snapshots of a file tree with content-derived SHAs, so the same seed gives the same
SHAs. ``revert`` applies the inverse of a commit's change and refuses (like ``git revert``) when
a later commit touched the same file differently. Stand-in for a real ``git`` remote: no
merges, no other branches, no concurrent pushes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from runner.errors import TargetError


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, str] = field(hash=False)


class SimGit:
    def __init__(self, url: str, files: dict[str, str], branch: str = "main") -> None:
        self.url = url
        self.branch = branch
        self.commits: list[Commit] = []
        self.on_push: list[Callable[[str], None]] = []
        self._commit(dict(files), "Initial platform-config")

    def _commit(self, files: dict[str, str], message: str) -> str:
        parent = self.commits[-1].sha if self.commits else None
        h = hashlib.sha1()
        h.update((parent or "").encode())
        h.update(message.encode())
        for path in sorted(files):
            h.update(path.encode() + b"\0" + files[path].encode() + b"\0")
        sha = h.hexdigest()
        self.commits.append(Commit(sha, parent, message, files))
        for hook in self.on_push:
            hook(sha)
        return sha

    def _at(self, rev: str | None) -> Commit:
        if rev is None or rev in (self.branch, "HEAD"):
            return self.commits[-1]
        for c in self.commits:
            if c.sha.startswith(rev):
                return c
        raise TargetError(f"unknown revision {rev!r} in {self.url}")

    def files_at(self, rev: str | None = None) -> dict[str, str]:
        return dict(self._at(rev).files)

    # --- GitOps port ----------------------------------------------------------------------

    def head(self) -> str:
        return self.commits[-1].sha

    def read(self, path: str, rev: str | None = None) -> str | None:
        return self._at(rev).files.get(path)

    def commit_file(self, path: str, content: str, message: str) -> str:
        files = self.files_at()
        files[path] = content
        return self._commit(files, message)

    def revert(self, sha: str, message: str | None = None) -> str:
        target = self._at(sha)
        parent = self._at(target.parent) if target.parent else None
        before = parent.files if parent else {}
        files = self.files_at()
        for path in set(before) | set(target.files):
            old, new = before.get(path), target.files.get(path)
            if old == new:
                continue
            if files.get(path) != new:
                raise TargetError(f"git revert {sha[:12]}: conflict in {path} (changed again after that commit)")
            if old is None:
                files.pop(path, None)
            else:
                files[path] = old
        return self._commit(files, message or f'Revert "{target.message}"')

    def tree_id(self, path: str, rev: str | None = None) -> str:
        files = self._at(rev).files
        prefix = path.rstrip("/") + "/"
        h = hashlib.sha1()
        for p in sorted(f for f in files if f == path or f.startswith(prefix)):
            h.update(p.encode() + b"\0" + files[p].encode() + b"\0")
        return h.hexdigest()

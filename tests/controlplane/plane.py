"""A real Kubernetes control plane on loopback, for release-drills tests and for trying by hand.

Real: etcd (go.etcd.io/etcd/server/v3), kube-apiserver, kube-controller-manager and
kube-scheduler (k8s.io/kubernetes v1.37.2) and helm (v4), built from their Go modules by
build.sh. Stand-in: the kubelet (fake_kubelet.py, one node), which runs the sample app
kind/app/app.py as a real local process per container and probes it for real.

    from tests.controlplane.plane import ControlPlane      # or: sys.path + `import plane`
    with ControlPlane() as cp:                               # build-or-reuse, start, wait ready
        cp.kubeconfig, cp.context, cp.api_url, cp.token      # what a client needs
        cp.helm("list", "-A")                                # the real helm, on this cluster
        cp.start_process("argocd-standin", [...])            # extra processes, stopped with us

Standard library + kubernetes client + PyYAML only; it must not import the ``runner`` package.
Run ``python plane.py serve --state-dir DIR`` to keep one running in the foreground
(up.sh/down.sh wrap that).
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
BUILD_SH = HERE / "build.sh"
DEFAULT_REGISTRY = HERE / "registry.yaml"
DEFAULT_APP = REPO_ROOT / "kind" / "app" / "app.py"
SERVICE_CIDR = "10.0.0.0/24"  # ClusterIPs: data only, nothing routes or listens there
POD_CIDR = "10.244.0.0/16"  # fake pod IPs: data only


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # writes the drills depend on, with the request body, so a test can find the exact write that
  # made a transition (e.g. the kubelet's pod status patch that set ErrImagePull)
  - level: Request
    verbs: [create, update, patch, delete]
    resources:
      - group: ""
        resources: [pods, pods/status, services, serviceaccounts, events]
      - group: apps
        resources: [deployments, deployments/status, deployments/scale, replicasets, replicasets/status]
      - group: argoproj.io
        resources: [applications]
  - level: None
"""


class ControlPlaneError(RuntimeError):
    """Build or start failed; the message says which component and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_binaries(timeout: float = 3600) -> Path:
    """Run build.sh (a no-op when cached) and return the bin dir. Raises ControlPlaneError."""
    try:
        p = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ControlPlaneError(f"build.sh timed out after {timeout}s:\n{(e.stderr or '')[-4000:]}") from e
    if p.returncode != 0:
        raise ControlPlaneError(f"build.sh failed (exit {p.returncode}):\n{p.stderr[-8000:]}")
    lines = p.stdout.strip().splitlines()
    if not lines or not Path(lines[-1]).is_dir():
        raise ControlPlaneError(f"build.sh printed no bin dir; stdout={p.stdout!r} stderr={p.stderr[-4000:]}")
    return Path(lines[-1])


class ManagedProcess:
    """A child process in its own process group, output to a log file, killed with its group.

    With setpriv available the child also gets PDEATHSIG=SIGKILL, so it dies if we are killed
    without cleaning up. Linux ties that signal to the *thread* that started the child: start
    processes from a thread that lives as long as they should (e.g. the main thread).
    """

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        cmd = list(argv)
        if shutil.which("setpriv"):  # the child gets SIGKILL if we die without cleaning up
            cmd = ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      env=dict(env) if env is not None else None, cwd=cwd,
                                      start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout`; reap the leader."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            try:  # leader gone; make sure nothing else of the group survives
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        self._log.close()


_live_planes: "weakref.WeakSet[ControlPlane]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for cp in list(_live_planes):
        cp.stop()


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + fake kubelet.

    Constructor arguments (all optional):
      state_dir            where PKI, kubeconfig, data and logs go (default: a new temp dir)
      context              kubeconfig context name (default "drills-test")
      node_name            the fake kubelet's node (default "drill-node-0")
      registry             fake image registry file (default tests/controlplane/registry.yaml)
      image_pull_backoff   the kubelet's initial image pull back-off, seconds (default 10, as the
                           real kubelet; doubles to 300). Also $DRILLS_KUBELET_IMAGE_BACKOFF.
      bin_dir              use these binaries instead of running build.sh
      verbosity            --v for the Kubernetes components (default 1)
      start_timeout        seconds to wait for each component to become ready (default 120)
      extra_args           {"kube-apiserver": [...], ...} appended to that component's flags
      kubelet              False to run without the kubelet stand-in

    After start(): kubeconfig (Path), context, api_url, token, ca_file, state_dir, bin_dir,
    helm_bin, etcd_url, log_dir, node_name, processes {name: ManagedProcess}.
    """

    def __init__(self, state_dir: str | Path | None = None, *, context: str = "drills-test",
                 node_name: str = "drill-node-0", registry: str | Path = DEFAULT_REGISTRY,
                 image_pull_backoff: float | None = None, bin_dir: str | Path | None = None,
                 verbosity: int = 1, start_timeout: float = 120.0,
                 extra_args: Mapping[str, Sequence[str]] | None = None, kubelet: bool = True,
                 app: str | Path = DEFAULT_APP) -> None:
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="drills-plane-"))
        self.context = context
        self.node_name = node_name
        self.registry = Path(registry)
        env_backoff = os.environ.get("DRILLS_KUBELET_IMAGE_BACKOFF")
        self.image_pull_backoff = float(image_pull_backoff if image_pull_backoff is not None
                                        else env_backoff if env_backoff else 10.0)
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.verbosity = verbosity
        self.start_timeout = start_timeout
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.with_kubelet = kubelet
        self.app = Path(app)
        self.processes: dict[str, ManagedProcess] = {}
        self._specs: dict[str, tuple] = {}  # name -> how to (re)start it
        self.stop_seconds: dict[str, float] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self.token = secrets.token_hex(24)
        self.pki_dir = self.state_dir / "pki"
        self.log_dir = self.state_dir / "logs"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.audit_log = self.state_dir / "audit.log"
        self.ports: dict[str, int] = {}
        self.api_url = ""
        self.etcd_url = ""
        self.ca_file = self.pki_dir / "ca.crt"
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "ControlPlane":
        """Build-or-reuse the binaries, start everything, wait until usable. Stops on failure."""
        _live_planes.add(self)
        try:
            if self.bin_dir is None:
                self.bin_dir = build_binaries()
            for sub in ("etcd", "pki", "logs", "kubelet", "certs", "helm"):  # a fresh cluster every start
                shutil.rmtree(self.state_dir / sub, ignore_errors=True)
            self.audit_log.unlink(missing_ok=True)
            for d in (self.pki_dir, self.log_dir):
                d.mkdir(parents=True, exist_ok=True)
            for name in ("etcd", "apiserver", "kcm", "scheduler"):
                self.ports[name] = free_port()
            self.api_url = f"https://127.0.0.1:{self.ports['apiserver']}"
            self.etcd_url = f"http://127.0.0.1:{self.ports['etcd']}"
            self._make_pki()
            self._write_kubeconfig()
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
            self._start_scheduler()
            if self.with_kubelet:
                self._start_kubelet()
            self._wait_default_serviceaccount()
            self.started = True
            self._write_info()
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process we started (newest first). Idempotent; leaves no process behind."""
        with self._lock:
            order, self._order = self._order[::-1], []
        for name in order:
            proc = self.processes.get(name)
            if proc is not None:
                t0 = time.monotonic()
                proc.stop()
                self.stop_seconds[name] = round(time.monotonic() - t0, 2)
        self.started = False
        _live_planes.discard(self)

    # ------------------------------------------------------------------ extension points
    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a client process: KUBECONFIG, context, and the bin dir first on PATH."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["DRILLS_KUBE_CONTEXT"] = self.context
        env["HELM_KUBECONTEXT"] = self.context
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[k] = str(self.state_dir / "helm" / k.split("_")[1].lower())
        if extra:
            env.update(extra)
        return env

    def start_process(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                      cwd: str | Path | None = None, ready: Callable[[], bool] | None = None,
                      timeout: float | None = None) -> ManagedProcess:
        """Start an extra process (e.g. an Argo CD stand-in) with this plane's env (KUBECONFIG...).

        Its output goes to <log_dir>/<name>.log; it is stopped (process group, SIGTERM then
        SIGKILL) by stop(), before the components it depends on. If `ready` is given, wait until
        it returns True (raising ControlPlaneError with the log tail if the process dies or time
        runs out)."""
        if name in self.processes and self.processes[name].alive():
            raise ControlPlaneError(f"a process named {name!r} is already running")
        return self._launch(name, list(argv), ready, env=self.env(env), cwd=cwd, timeout=timeout)

    def stop_process(self, name: str) -> None:
        """Stop an extra process started with start_process() and forget it (idempotent)."""
        with self._lock:
            proc = self.processes.pop(name, None)
            self._specs.pop(name, None)
            if name in self._order:
                self._order.remove(name)
        if proc is not None:
            proc.stop()

    def restart(self, name: str) -> ManagedProcess:
        """Stop one process (component or extra) and start it again with the same command line,
        waiting until it is ready again. E.g. restart("kube-apiserver") for an API outage."""
        if name not in self._specs:
            raise ControlPlaneError(f"no process named {name!r}; have {sorted(self._specs)}")
        argv, ready, env, cwd, timeout, what = self._specs[name]
        self.processes[name].stop()
        return self._launch(name, argv, ready, env=env, cwd=cwd, timeout=timeout, what=what)

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        proc = self.processes.get(name)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if proc is not None and not proc.alive():
                raise ControlPlaneError(f"{name} exited with code {proc.popen.returncode} before it was {what}; "
                                        f"log {proc.log_path}:\n{proc.log_tail()}")
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            if time.monotonic() > deadline:
                tail = proc.log_tail() if proc else ""
                raise ControlPlaneError(f"{name} not {what} after {timeout:.0f}s; log "
                                        f"{proc.log_path if proc else '-'}:\n{tail}")
            time.sleep(delay)  # sync-ok: a starting process has no event to wait on; bounded back-off
            delay = min(delay * 1.5, 1.0)

    # ------------------------------------------------------------------ helpers for users
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def http_get(self, path: str, timeout: float = 10.0) -> tuple[int, str]:
        """GET an apiserver path with the admin token; return (status, body text)."""
        req = urllib.request.Request(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def metrics(self) -> str:
        """The kube-apiserver's /metrics text (Prometheus exposition format)."""
        status, body = self.http_get("/metrics")
        if status != 200:
            raise ControlPlaneError(f"/metrics returned {status}: {body[:300]}")
        return body

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient for this plane (the installed kubernetes package)."""
        from kubernetes import config as kconfig

        return kconfig.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)

    def helm(self, *args: str, check: bool = True, timeout: float = 300.0,
             input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
        """Run the real helm binary against this plane (--kube-context set)."""
        cmd = [str(self.helm_bin), "--kube-context", self.context, *args]
        p = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise subprocess.CalledProcessError(p.returncode, cmd, p.stdout, p.stderr)
        return p

    def pod_process(self, namespace: str, name: str) -> dict | None:
        """Where the fake kubelet runs a pod's app: {"containers": {name: {"port", "pid", ...}}, ...}."""
        path = self.state_dir / "kubelet" / "pods" / f"{namespace}_{name}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    @property
    def helm_bin(self) -> Path:
        return Path(self.bin_dir or "") / "helm"

    def info(self) -> dict[str, Any]:
        return {
            "kubeconfig": str(self.kubeconfig), "context": self.context, "api_url": self.api_url,
            "state_dir": str(self.state_dir), "bin_dir": str(self.bin_dir), "log_dir": str(self.log_dir),
            "node_name": self.node_name, "etcd_url": self.etcd_url, "ports": self.ports,
            "pids": {n: p.pid for n, p in self.processes.items() if p.alive()},
        }

    # ------------------------------------------------------------------ internals
    def _write_info(self) -> None:
        (self.state_dir / "plane.json").write_text(json.dumps(self.info(), indent=1))

    def _openssl(self, *args: str) -> None:
        p = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=self.pki_dir)
        if p.returncode != 0:
            raise ControlPlaneError(f"openssl {' '.join(args)} failed: {p.stderr}")

    def _make_pki(self) -> None:
        """A CA, the apiserver serving cert (SANs for loopback and the in-cluster names),
        an RSA service-account key, and the static token file (admin in system:masters)."""
        d = self.pki_dir
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                      "-days", "3650", "-subj", "/CN=drills-test-ca",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
        (d / "apiserver.ext").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
            "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n")
        self._openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key",
                      "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver")
        self._openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "365", "-out", "apiserver.crt", "-extfile", "apiserver.ext")
        self._openssl("genrsa", "-out", "sa.key", "2048")
        self._openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        (d / "tokens.csv").write_text(f'{self.token},admin,admin-uid,"system:masters"\n')
        for f in d.iterdir():
            f.chmod(0o600)

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": self.context, "preferences": {},
            "clusters": [{"name": self.context, "cluster": {"server": self.api_url,
                                                             "certificate-authority-data": ca}}],
            "users": [{"name": f"{self.context}-admin", "user": {"token": self.token}}],
            "contexts": [{"name": self.context, "context": {"cluster": self.context,
                                                             "user": f"{self.context}-admin",
                                                             "namespace": "default"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _bin(self, name: str) -> str:
        return str(Path(self.bin_dir or "") / name)

    def _launch(self, name: str, argv: list[str], ready: Callable[[], bool] | None, *,
                env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                timeout: float | None = None, what: str = "ready") -> ManagedProcess:
        """Start a process, remember how (for restart()), wait until ready() (if given)."""
        env = dict(env) if env is not None else dict(os.environ)
        self._specs[name] = (argv, ready, env, cwd, timeout, what)
        proc = ManagedProcess(name, argv + self.extra_args.get(name, []), self.log_dir / f"{name}.log",
                              env=env, cwd=cwd)
        with self._lock:
            self.processes[name] = proc
            if name not in self._order:  # a restart keeps its place in the stop order
                self._order.append(name)
        if ready is not None:
            self._wait(name, ready, timeout or self.start_timeout, what)
        return proc

    def _get_ok(self, url: str, *, token: bool = False, verify: bool = True, expect: str | None = None) -> bool:
        ctx = self.ssl_context() if verify else ssl._create_unverified_context()  # noqa: S323 - own self-signed
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        req = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(req, context=ctx if url.startswith("https") else None, timeout=5) as r:
            body = r.read().decode(errors="replace")
            return r.status == 200 and (expect is None or expect in body)

    def _start_etcd(self) -> None:
        peer = free_port()
        data = self.state_dir / "etcd"
        self._launch("etcd", [
            self._bin("etcd"), "--name=drills", f"--data-dir={data}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=drills=http://127.0.0.1:{peer}", "--initial-cluster-state=new",
            "--unsafe-no-fsync", "--snapshot-count=10000", "--quota-backend-bytes=2147483648",
            "--log-level=warn", "--auto-compaction-mode=periodic", "--auto-compaction-retention=5m",
        ], lambda: self._get_ok(self.etcd_url + "/health", expect='"health":"true"'))

    def _start_apiserver(self) -> None:
        p = self.pki_dir
        self._launch("kube-apiserver", [
            self._bin("kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}", f"--token-auth-file={p / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC", "--allow-privileged=true",
            # the kubernetes Service's endpoints would be 127.0.0.1, which Endpoints validation rejects
            "--endpoint-reconciler-type=none",
            "--profiling=false", f"--v={self.verbosity}",
            # the control plane's own record of every write, with microsecond timestamps: the
            # ground truth that TTD/TTR measurements are checked against
            f"--audit-policy-file={self._write_audit_policy()}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=500",
        ], lambda: self._get_ok(self.api_url + "/readyz", token=True))

    def _write_audit_policy(self) -> Path:
        path = self.state_dir / "audit-policy.yaml"
        path.write_text(AUDIT_POLICY)
        return path

    def audit_events(self) -> list[dict[str, Any]]:
        """Every audited write so far (audit.k8s.io/v1 Events: verb, objectRef, requestObject,
        requestReceivedTimestamp and stageTimestamp with microseconds, user)."""
        if not self.audit_log.exists():
            return []
        out = []
        for line in self.audit_log.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def _component_flags(self, port: int) -> list[str]:
        kc = str(self.kubeconfig)
        return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--authentication-skip-lookup=true",  # no requestheader CA to look up: no log noise
                "--bind-address=127.0.0.1", f"--secure-port={port}", "--leader-elect=false",
                f"--cert-dir={self.state_dir / 'certs'}", f"--v={self.verbosity}"]

    def _start_controller_manager(self) -> None:
        p = self.pki_dir
        port = self.ports["kcm"]
        self._launch("kube-controller-manager", [
            self._bin("kube-controller-manager"), *self._component_flags(port),
            "--controllers=*", "--use-service-account-credentials=false",
            f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
            f"--cluster-signing-cert-file={p / 'ca.crt'}", f"--cluster-signing-key-file={p / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ], lambda: self._get_ok(f"https://127.0.0.1:{port}/healthz", verify=False))

    def _start_scheduler(self) -> None:
        port = self.ports["scheduler"]
        self._launch("kube-scheduler", [self._bin("kube-scheduler"), *self._component_flags(port)],
                     lambda: self._get_ok(f"https://127.0.0.1:{port}/readyz", verify=False))

    def _start_kubelet(self) -> None:
        env = dict(os.environ, DRILLS_KUBELET_IMAGE_BACKOFF=str(self.image_pull_backoff))
        self._launch("fake-kubelet", [
            sys.executable, str(HERE / "fake_kubelet.py"), f"--kubeconfig={self.kubeconfig}",
            f"--context={self.context}", f"--node-name={self.node_name}", f"--registry={self.registry}",
            f"--app={self.app}", f"--state-dir={self.state_dir / 'kubelet'}", f"--pod-cidr={POD_CIDR}",
            f"--image-backoff={self.image_pull_backoff}",
        ], self._node_schedulable, env=env, what="Ready (node schedulable)")

    def _node_schedulable(self) -> bool:
        status, body = self.http_get(f"/api/v1/nodes/{self.node_name}")
        if status != 200:
            return False
        node = json.loads(body)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        taints = [t for t in node["spec"].get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        return ready and not taints

    def _wait_default_serviceaccount(self) -> None:
        self._wait("kube-controller-manager",
                   lambda: self.http_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                   self.start_timeout, "creating ServiceAccounts")


# ---------------------------------------------------------------------- command line (up.sh)
def _sample_app(cp: ControlPlane, state: Path) -> None:
    """What kind/up.sh does on kind, on this plane (for drills/targets.yaml's local-controlplane)."""
    from kubernetes import client

    from gitops_fixture import SAMPLE_REPO_URL, GitOpsRepo, install_application_crd, start_argocd_standin
    from waiting import watch_until

    link = state / "bin"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(cp.bin_dir)  # drills/targets.yaml names .state/bin/helm
    shutil.rmtree(state / "gitops", ignore_errors=True)
    repo = GitOpsRepo.create(state / "gitops")
    api = cp.api_client()
    try:
        install_application_crd(api)
        start_argocd_standin(cp, {SAMPLE_REPO_URL: repo.bare})
        custom = client.CustomObjectsApi(api)
        for env in ("dev", "stage", "prod"):
            custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications",
                                                   yaml.safe_load((repo.work / "envs" / env / "week6-api-app.yaml").read_text()))
        custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", "week6-api-prod",
                                              {"operation": {"initiatedBy": {"username": "up.sh"}, "sync": {"revision": "main"}}})
        chart = REPO_ROOT / "kind" / "platform-config" / "apps" / "week6-api"
        cp.helm("upgrade", "--install", "week6-api", str(chart), "-n", "sandbox", "--create-namespace",
                "-f", str(chart / "values-dev.yaml"), "--wait", "--timeout", "180s")
        for env in ("dev", "stage", "prod"):
            watch_until(custom.list_namespaced_custom_object,
                        lambda a: ((a.get("status") or {}).get("health") or {}).get("status") == "Healthy"
                        and ((a.get("status") or {}).get("sync") or {}).get("status") == "Synced",
                        240, "argoproj.io", "v1alpha1", "argocd", "applications",
                        field_selector=f"metadata.name=week6-api-{env}", desc=f"week6-api-{env} Synced and Healthy")
    finally:
        api.close()


def _serve(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="plane.py serve", description="start a control plane and keep it running")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--context", default="drills-test")
    ap.add_argument("--image-pull-backoff", type=float, default=None)
    ap.add_argument("--sample-app", action="store_true",
                    help="also set up the sample app as kind/up.sh does: a GitOps repository, the Argo CD stand-in, "
                         "the dev/stage/prod Applications and a Helm release in sandbox")
    args = ap.parse_args(argv)
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    (state / "plane.pid").write_text(str(os.getpid()))
    cp = ControlPlane(state, context=args.context, image_pull_backoff=args.image_pull_backoff)
    try:
        cp.start()
    except ControlPlaneError as e:
        print(f"control plane failed to start: {e}", file=sys.stderr, flush=True)
        return 1
    if args.sample_app:
        try:
            _sample_app(cp, state)
        except Exception as e:  # noqa: BLE001 - report and stop: a half-set-up plane is no use by hand
            print(f"sample app setup failed: {e}", file=sys.stderr, flush=True)
            cp.stop()
            return 1
    print(json.dumps(cp.info()), flush=True)
    (state / "ready").write_text("ok\n")
    try:
        while not stop.wait(2.0):
            dead = [n for n, p in cp.processes.items() if not p.alive()]
            if dead:
                print(f"component(s) died: {dead}; stopping", file=sys.stderr, flush=True)
                return 1
    finally:
        (state / "ready").unlink(missing_ok=True)
        cp.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    print("usage: python plane.py serve --state-dir DIR [--context NAME] [--image-pull-backoff SECONDS]",
          file=sys.stderr)
    sys.exit(2)

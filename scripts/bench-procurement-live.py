#!/usr/bin/env python3
"""The procurement views while `carnet-server procurement import` runs in its own process
(docs/benchmarks-procurement.md, "Views during an import"): imports FIRST into a fresh
database, starts `carnet-server serve` on a free port, imports SECOND while requesting four
views in a loop, and prints per-route latency, how many answers carried the import notice,
the overview figures served, and the answers after the import.

  scripts/bench-procurement-live.py BIN FIRST.json SECOND.json [WORKDIR]

FIRST/SECOND: e.g. `decp_synth --contracts 50000 --seed 2019` and `--seed 2020`.
Never in CI (minutes of 2 cores)."""
import json, os, socket, subprocess, sys, time, urllib.request, statistics
BIN, FIRST, SECOND = sys.argv[1:4]
WORKDIR = sys.argv[4] if len(sys.argv) > 4 else "/tmp"
HERE = os.path.dirname(os.path.abspath(__file__))
CPV = os.path.join(HERE, "..", "..", "shared", "data", "decp", "cpv_2008_fr.csv")
if not os.path.exists(CPV):  # a worktree under wt/<name>
    CPV = os.path.join(HERE, "..", "..", "..", "shared", "data", "decp", "cpv_2008_fr.csv")
DB = os.path.join(WORKDIR, "bench-live.sqlite3")
PDB = os.path.join(WORKDIR, "bench-live.procurement.sqlite3")  # where imports write
for base in (DB, PDB):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(base + suffix): os.remove(base + suffix)

def run(args):
    t = time.time(); r = subprocess.run(args, capture_output=True, text=True); return time.time() - t, r

dt, r = run([BIN, "procurement", "import", FIRST, "--db", DB, "--cpv", CPV])
print(f"first import: {dt:.1f} s wall\n{r.stdout.strip()}")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, CARNET_ADMIN_TOKEN="x" * 40, RUST_LOG="warn")
server = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", f"127.0.0.1:{port}"], env=env,
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORKDIR, "bench-live-server.log"), "w"))
base = f"http://127.0.0.1:{port}"
for _ in range(100):
    try: urllib.request.urlopen(base + "/healthz", timeout=1); break
    except Exception: time.sleep(0.1)

def get(path):
    t = time.time()
    try:
        with urllib.request.urlopen(base + path, timeout=120) as resp:
            body = resp.read().decode(); status = resp.status
            notice = resp.headers.get("X-Carnet-Import-En-Cours")
    except urllib.error.HTTPError as e:
        body, status, notice = "", e.code, None
    return time.time() - t, status, notice, body

paths = ["/marches", "/api/procurement", "/api/procurement/acheteurs?page=3", "/marches/cpv?du=2020"]
for p in paths: get(p)  # warm
imp = subprocess.Popen([BIN, "procurement", "import", SECOND, "--db", DB, "--cpv", CPV],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
t0 = time.time(); samples = []
while imp.poll() is None:
    for p in paths:
        dt, status, notice, body = get(p)
        contracts = None
        if p == "/api/procurement" and status == 200:
            contracts = [f["value"] for f in json.loads(body)["figures"] if f["key"] == "contrats"][0]
        samples.append((time.time() - t0, p, dt, status, notice is not None, contracts))
    time.sleep(0.25)
out, err = imp.communicate()
import_wall = time.time() - t0
print(f"second import while serving: {import_wall:.1f} s wall, exit {imp.returncode}\n{out.strip()}\n{err.strip()[:400]}")
after = [get(p) for p in paths]
server.terminate(); server.wait()
by = {}
for (_, p, dt, status, notice, c) in samples: by.setdefault(p, []).append((dt, status, notice))
print(f"{len(samples)} requests during the import")
for p, xs in by.items():
    lat = sorted(x[0] * 1000 for x in xs)
    print(f"  {p}: n={len(xs)} statuses={sorted(set(x[1] for x in xs))} with notice={sum(x[2] for x in xs)} "
          f"p50={statistics.median(lat):.0f} ms max={lat[-1]:.0f} ms")
cs = sorted(set((c, n) for (_, p, dt, st, n, c) in samples if c is not None))
print(f"  overview (contrats, with notice) pairs served during the import: {cs}")
print("  without notice (t s, contrats):", [(round(t, 2), c) for (t, p, dt, st, n, c) in samples if c is not None and not n])
slow = sorted(((round(t, 1), p, round(dt, 2)) for (t, p, dt, st, n, c) in samples if dt > 1.0))
print(f"  requests over 1 s (t, path, s): {slow[:12]}{' …' if len(slow) > 12 else ''} ({len(slow)})")
print("after the import: notices", [a[2] is not None for a in after], "statuses", [a[1] for a in after],
      "contrats", [f["value"] for f in json.loads(after[1][3])["figures"] if f["key"] == "contrats"])

#!/usr/bin/env python3
"""Results of bench/run: raw files -> bench/results/latest.json -> BENCHMARKS.md.

    bench/report.py bench/results/latest.json > BENCHMARKS.md    render (no measuring)
    bench/report.py collect RAW_DIR > latest.json                 what bench/run does at the end
    bench/report.py criterion TARGET/criterion STAMP              criterion estimates as JSON
    bench/report.py summary KEY FILE.wrk [FILE.peak]              one progress line (stderr)

The raw directory bench/run fills: X.wrk (wrk --latency output, plus the wrk-* lines the Lua
scripts print), X.conf (connections, threads, duration), X.peak (the phase's peak RSS in kB),
X.num (one number), X.env (key=value lines), X.json, X.txt. `collect` nests them by path:
raw/authkit/admin_list.wrk becomes results["authkit"]["admin_list"], raw/authkit/me/2.wrk
results["authkit"]["me"]["2"] (round 2). Python 3.11, standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

# 2: register and login in rounds alternating with the raw hashing rate
# (authkit.register / authkit.login: {"1": phase, ..., "raw": {"0": raw, ...}}).
# 3: authkit.me, authkit.refresh and peers.NAME.me in rounds too ({"1": phase, ...}), alternated
# between the servers (config.peer_rounds). Schema 2 results still render.
SCHEMA = 3
SCHEMAS = (2, 3)

# --------------------------------------------------------------------------------- parsing

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> dict:
    """The figures of one `wrk --latency` run (latencies in ms)."""
    out: dict = {}
    m = re.search(r"(\d+) threads and (\d+) connections", text)
    if m:
        out["threads"], out["connections"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"^\s*Latency\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)",
                  text, re.M)
    if m:
        out["latency_avg_ms"] = _ms(m.group(1), m.group(2))
        out["latency_max_ms"] = _ms(m.group(5), m.group(6))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)", text, re.M)
        if m:
            out[f"p{pct}_ms"] = _ms(m.group(1), m.group(2))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["elapsed_s"] = _ms(m.group(2), m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
        if m else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    m = re.search(r"^wrk-status (\{.*\})\s*$", text, re.M)
    if m:
        out["status"] = json.loads(m.group(1))
    for name in ("retry-after", "pool-empty"):
        m = re.search(rf"^wrk-{name} (\d+)\s*$", text, re.M)
        if m:
            out[name.replace("-", "_")] = int(m.group(1))
    out["raw"] = text
    return out


def _kv(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _number(text: str):
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _last_json(text: str):
    lines = [line for line in text.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def _node(root: dict, parts: list[str]) -> dict:
    node = root
    for p in parts:
        node = node.setdefault(p, {})
    return node


def collect(raw: Path) -> dict:
    results: dict = {"schema": SCHEMA}
    for path in sorted(raw.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(raw)
        parts = list(rel.parent.parts) + [path.stem]
        text = path.read_text(errors="replace")
        ext = path.suffix
        if ext == ".wrk":
            _node(results, parts).update(parse_wrk(text))
        elif ext == ".conf":
            conf = _kv(text)
            node = _node(results, parts)
            for k, v in conf.items():
                node.setdefault(k, int(v) if v.isdigit() else v)
        elif ext == ".peak":
            _node(results, parts)["peak_rss_kb"] = _number(text or "0")
        elif ext in (".num", ".env", ".json", ".txt"):
            value = {".num": lambda t: _number(t), ".env": _kv, ".json": _last_json,
                     ".txt": str.strip}[ext](text)
            parent = _node(results, parts[:-1])
            if isinstance(value, dict) and isinstance(parent.get(parts[-1]), dict):
                parent[parts[-1]].update(value)
            else:
                parent[parts[-1]] = value
    return results


CRITERION_IDS = [
    "verify/hs256", "verify/eddsa",
    "authenticate_memory/hs256", "authenticate_memory/eddsa",
    "authenticate_sqlite/hs256", "authenticate_sqlite/eddsa",
    "permission/require",
]


def criterion(directory: Path, stamp: Path | None) -> dict:
    """mean / median (ns) of the hot_path benchmarks, only those written after `stamp`."""
    since = stamp.stat().st_mtime if stamp else 0.0
    out = {}
    for bench_id in CRITERION_IDS:
        f = directory / bench_id / "new" / "estimates.json"
        if not f.is_file():
            out[bench_id] = {"missing": f"no {f}"}
            continue
        if f.stat().st_mtime < since:
            out[bench_id] = {"missing": f"{f} is older than this run"}
            continue
        est = json.loads(f.read_text())
        mean = est["mean"]
        out[bench_id] = {
            "mean_ns": mean["point_estimate"],
            "mean_lower_ns": mean["confidence_interval"]["lower_bound"],
            "mean_upper_ns": mean["confidence_interval"]["upper_bound"],
            "median_ns": est.get("median", {}).get("point_estimate"),
        }
    return out


# ------------------------------------------------------------------------------ formatting

def f_rps(x) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def f_ms(x) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def f_mib(kb) -> str:
    return "—" if kb is None else f"{kb / 1024:.1f}"


def f_ratio(x, digits=2) -> str:
    return "—" if x is None else f"{x:.{digits}f}×"


def f_us(ns) -> str:
    if ns is None:
        return "—"
    return f"{ns / 1000:.3f}" if ns < 1000 else f"{ns / 1000:.2f}"


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def round_runs(ph: dict) -> list[dict]:
    """The rounds of a phase ("1", "2", ...), in order."""
    return [ph[k] for k in sorted((k for k in ph if k.isdigit()), key=int) if isinstance(ph[k], dict)]


def rounds(ph: dict) -> dict:
    """A phase run in rounds ("1", "2", ...: the scale runs run each phase BENCH_SCALE_ROUNDS
    times per size, register and login run in BENCH_HASH_ROUNDS rounds) added up: req/s = all
    requests ÷ all seconds, p50 the mean of the rounds', p99 and peak RSS the highest, answers
    and errors the sums; "rounds" the req/s of each. A phase of one run as it is."""
    runs = round_runs(ph)
    if not runs:
        return ph
    out: dict = {"rounds": [r.get("rps") for r in runs],
                 "connections": runs[0].get("connections")}
    if all("requests" in r and r.get("elapsed_s") for r in runs):
        out["requests"] = sum(r["requests"] for r in runs)
        out["elapsed_s"] = sum(r["elapsed_s"] for r in runs)
        out["rps"] = out["requests"] / out["elapsed_s"]
    for key, pick in (("p50_ms", lambda v: sum(v) / len(v)), ("p99_ms", max), ("peak_rss_kb", max)):
        values = [r[key] for r in runs if key in r]
        if len(values) == len(runs):
            out[key] = pick(values)
    out["non2xx"] = sum(r.get("non2xx", 0) for r in runs)
    for key in ("status", "socket_errors"):
        total: dict = {}
        for r in runs:
            for k, v in (r.get(key) or {}).items():
                total[k] = total.get(k, 0) + v
        if total:
            out[key] = total
    return out


def round_ratios(a: dict, b: dict) -> list[float]:
    """The req/s of each round of `a` ÷ that of the same round of `b`; empty unless both ran in
    the same rounds."""
    ra, rb = round_runs(a), round_runs(b)
    if not ra or len(ra) != len(rb):
        return []
    return [x for x in (div(x.get("rps"), y.get("rps")) for x, y in zip(ra, rb)) if x is not None]


def hash_rounds(ph: dict, key: str) -> dict:
    """Register or login against the raw hashing rate they alternated with (bench/run's
    hash_bound): per round its req/s, the raw `key` (verify_per_sec, hash_per_sec) measured right
    before and right after it, the mean of those two (the round's ceiling) and the ratio; in all,
    the phase's req/s over all rounds ÷ the mean of the rounds' ceilings."""
    raw = ph.get("raw") or {}
    rows = []
    for i, run in enumerate(round_runs(ph), start=1):
        before = (raw.get(str(i - 1)) or {}).get(key)
        after = (raw.get(str(i)) or {}).get(key)
        ceiling = (before + after) / 2 if before is not None and after is not None else None
        rows.append({"round": i, "rps": run.get("rps"), "before": before, "after": after,
                     "ceiling": ceiling, "ratio": div(run.get("rps"), ceiling)})
    ceilings = [r["ceiling"] for r in rows]
    ceiling = sum(ceilings) / len(ceilings) if ceilings and None not in ceilings else None
    rps = rounds(ph).get("rps") if rows else None
    return {"rows": rows, "rps": rps, "ceiling": ceiling, "ratio": div(rps, ceiling),
            "raw": [raw[k] for k in sorted((k for k in raw if k.isdigit()), key=int)]}


def status_note(ph: dict) -> str:
    notes = []
    st = ph.get("status")
    if st:
        notes.append(", ".join(f"{k}: {v:,}" for k, v in sorted(st.items())))
    if st and ph.get("elapsed_s"):
        ok = sum(v for k, v in st.items() if k.startswith("2"))
        if ok != sum(st.values()):
            notes.append(f"2xx {ok / ph['elapsed_s']:,.1f}/s")
    if ph.get("retry_after"):
        notes.append(f"{ph['retry_after']:,} 503s with Retry-After")
    if ph.get("pool_empty"):
        notes.append(f"token pool empty {ph['pool_empty']:,}×")
    se = ph.get("socket_errors") or {}
    bad = {k: v for k, v in se.items() if v}
    if bad:
        notes.append("socket errors " + ", ".join(f"{k} {v}" for k, v in bad.items()))
    return "; ".join(notes)


def phase_cells(ph: dict, peak) -> list[str]:
    """req/s, p50, p99, non-2xx, peak RSS of one phase; a run with no answer says so."""
    if not ph.get("requests"):
        return ["0 (no answer in the run)", "—", "—", f"{ph.get('non2xx', 0):,}", f_mib(peak)]
    return [f_rps(ph.get("rps")), f_ms(ph.get("p50_ms")), f_ms(ph.get("p99_ms")),
            f"{ph.get('non2xx', 0):,}", f_mib(peak)]


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- render

PHASES = [
    ("me", "GET /api/v1/users/me (Bearer; signature + session check, session cache 1 s)"),
    ("refresh", "POST /api/v1/refresh (single-use tokens, rotated)"),
    ("admin_list", "GET /api/v1/admin/users?limit=50 (admin token)"),
    ("register", "POST /api/v1/register (a new e-mail each time)"),
    ("login", "POST /api/v1/login (one account)"),
]

PEER_NOTES = {
    "better-auth": ("Node, better-sqlite3; email+password, built-in rate limiter off; "
                    "password hash scrypt N=16384 r=16 p=1; current user = GET /api/auth/get-session "
                    "(cookie; also renews the session)"),
    "fastapi-users": ("Python, uvicorn (1 worker), aiosqlite; JWT strategy (HS256); password hash "
                      "argon2id m=64 MiB t=3 p=4; current user = GET /users/me (Bearer)"),
}


class Verdicts:
    def __init__(self):
        self.rows: list[list[str]] = []
        self.held = 0
        self.missed = 0
        self.unknown = 0

    def add(self, target: str, measured: str, ok):
        if ok is None:
            verdict = "not measured"
            self.unknown += 1
        elif ok == "info":
            verdict = "info"
        elif ok:
            verdict = "holds"
            self.held += 1
        else:
            verdict = "**misses**"
            self.missed += 1
        self.rows.append([target, measured, verdict])


def render(r: dict) -> str:
    m = r.get("machine", {})
    cfg = r.get("config", {})
    skipped = r.get("skipped", {}) or {}
    crit = r.get("criterion") or {}
    ak = r.get("authkit") or {}
    # me and refresh (with the peers' current user) and register and login ran in rounds: their
    # figures added up, like the other phases' one run.
    akp = dict(ak, **{k: rounds(ak.get(k) or {}) for k in ("me", "refresh", "register", "login")})
    reg_hash = hash_rounds(ak.get("register") or {}, "hash_per_sec")
    login_hash = hash_rounds(ak.get("login") or {}, "verify_per_sec")
    peers_raw = r.get("peers") or {}
    peers = {n: dict(p, me=rounds(p.get("me") or {})) for n, p in peers_raw.items()
             if isinstance(p, dict)}
    scale = r.get("scale") or {}
    out: list[str] = []
    w = out.append

    # Results from before BENCH_SCALE_ROUNDS ran each scale phase twice per size. Before
    # BENCH_PEER_ROUNDS (no peer_rounds: ""), me and refresh ran once, minutes before the peers.
    scale_rounds = str(cfg.get("scale_rounds", 2))
    peer_rounds = str(cfg.get("peer_rounds", ""))
    reference = (cfg.get("duration") == "10s" and cfg.get("scale_duration") == "5s"
                 and str(cfg.get("scale_users")) == "1000000" and not cfg.get("bin_dir")
                 and int(cfg.get("hash_rounds") or 0) >= 3 and scale_rounds == "4"
                 and peer_rounds in ("3", "") and not skipped)

    w("# authkit benchmarks")
    w("")
    w("Generated by `bench/run` — run it again to regenerate this file (it builds, measures and "
      "overwrites `BENCHMARKS.md` and `bench/results/latest.json`, ~20 minutes; the knobs are in "
      "`bench/README.md`). To re-render from the recorded numbers without measuring: "
      "`bench/report.py bench/results/latest.json > BENCHMARKS.md`.")
    w("")
    if not reference:
        w("> **Not a reference run**: " + "; ".join(filter(None, [
            f"durations {cfg.get('duration')} / {cfg.get('scale_duration')} (reference: 10s / 5s)"
            if (cfg.get("duration"), cfg.get("scale_duration")) != ("10s", "5s") else "",
            f"scale run with {cfg.get('scale_users')} users (reference: 1000000)"
            if str(cfg.get("scale_users")) != "1000000" else "",
            f"{cfg.get('hash_rounds')} rounds of register and login (reference: at least 3; bench/run runs 6)"
            if int(cfg.get("hash_rounds") or 0) < 3 else "",
            f"{peer_rounds} rounds of me and refresh with the peers' current user (reference: 3)"
            if peer_rounds not in ("3", "") else "",
            f"{scale_rounds} rounds of each scale phase per size (reference: 4)"
            if scale_rounds != "4" else "",
            f"prebuilt binaries from {cfg.get('bin_dir')}" if cfg.get("bin_dir") else "",
            ("skipped: " + ", ".join(f"{k} ({v})" for k, v in skipped.items())) if skipped else "",
        ])) + ".")
        w("")

    # ---- machine
    w("## Machine and settings")
    w("")
    mem = m.get("mem_kb")
    w(table(["", ""], [
        ["date (UTC)", m.get("date", "?")],
        ["cores (nproc)", m.get("nproc", "?")],
        ["CPU", m.get("cpu", "?")],
        ["RAM", f"{int(mem) / 1024 / 1024:.1f} GiB" if mem else "?"],
        ["kernel / OS", f"{m.get('kernel', '?')} / {m.get('os', '?')}"],
        ["rustc", m.get("rustc", "?")],
        ["commit", m.get("commit", "?") + (" (with uncommitted changes)" if m.get("dirty") == "yes" else "")],
        ["wrk", m.get("wrk", "?")],
    ], "ll"))
    w("")
    w(f"- wrk runs on the same {m.get('nproc', '?')} cores as the server it measures (loopback), so "
      "every HTTP figure includes the load generator's share of the CPU.")
    w(f"- Every wrk phase: `-t2` (mixed: one thread per wrk), a {cfg.get('warmup', '2s')} untimed "
      f"warm-up, then `-d {cfg.get('duration')}` (scale runs: `-d {cfg.get('scale_duration')}`) "
      f"`--latency --timeout {cfg.get('wrk_timeout', '10s')}`. Latencies are wrk's; "
      "\"non-2xx\" is wrk's `Non-2xx or 3xx responses` (status ≥ 400).")
    if cfg.get("peak_rss") == "vmhwm":
        w("- Peak RSS: the kernel's high-water mark of the server process's resident set "
          "(VmHWM), reset to the present size before the phase's warm-up and read after it. "
          "MiB = 1024 × 1024 bytes.")
    else:
        w("- Peak RSS: VmRSS of the server process sampled every 100 ms during the phase "
          "(warm-up included). MiB = 1024 × 1024 bytes.")
    w(f"- authkit-server environment: `{cfg.get('server_env', '').strip()}` (abuse limits off, as for "
      "the peers: the per-IP limits and the per-account login throttle, since every login of a "
      "phase is for one account). Access tokens: EdDSA (the server's default).")
    w("")

    # ---- criterion
    w("## In-process hot path (criterion, `cargo bench -p authkit-bench --bench hot_path`)")
    w("")
    if "criterion" in skipped:
        w(f"Skipped: {skipped['criterion']}.")
    elif not crit:
        w("No results.")
    else:
        rows = []
        for bid in CRITERION_IDS:
            e = crit.get(bid, {})
            if "mean_ns" in e:
                rows.append([f"`{bid}`", f_us(e["mean_ns"]),
                             f"{f_us(e['mean_lower_ns'])} – {f_us(e['mean_upper_ns'])}",
                             f_us(e.get("median_ns"))])
            else:
                rows.append([f"`{bid}`", "—", e.get("missing", "missing"), "—"])
        w(table(["benchmark", "mean µs", "95 % CI of the mean, µs", "median µs"], rows))
        w("")
        w("`verify`: the access token's signature and claims alone (`TokenCodec::verify`, every "
          "time); `authenticate_*`: what an authenticated request costs in-process with a token "
          "seen before — the token looked up among those whose signature verified "
          "(`TokenCodec::verify_cached`, by SHA-256) and its time claims checked, the session "
          "(revocation) check read from an in-memory or SQLite store (the kit's session cache off: "
          "a cache miss), and a permission check "
          "(`users:read`); a token's first request costs `verify` more. `permission/require`: the "
          "permission check alone.")
    w("")

    # ---- hashing
    w("## Raw password hashing against register and login (`authkit-bench hash-throughput`)")
    w("")
    first = next(iter(reg_hash["raw"] + login_hash["raw"]), None)
    if first:
        w(f"The server's hasher with no HTTP: {first.get('workers', '?')} workers (one per core), "
          f"argon2id m={first.get('m_cost')} KiB, t={first.get('t_cost')}, p={first.get('p_cost')}, "
          f"each worker reusing its memory; `--op hash` is the ceiling of register, `--op verify` "
          f"that of login. Each is measured for {first.get('seconds', '?')} s with the server idle, "
          "before the phase's first round and after each round, so every round lies between two "
          "measurements taken seconds before and after it (the machine's speed drifts by 5-10 % "
          "within a minute here). A round's ceiling is the mean of those two; the target compares "
          "the phase's requests over all its rounds with the mean of the rounds' ceilings.")
        w("")
        rows = []
        for name, hr, what in (("register", reg_hash, "hash/s"), ("login", login_hash, "verify/s")):
            for row in hr["rows"]:
                rows.append([f"`{name}` round {row['round']}", f_rps(row["before"]), f_rps(row["rps"]),
                             f_rps(row["after"]), f_rps(row["ceiling"]),
                             f"{row['ratio'] * 100:.1f} %" if row["ratio"] is not None else "—"])
            rows.append([f"**`{name}`, all rounds** (raw: {what})", "", f"**{f_rps(hr['rps'])}**", "",
                         f"**{f_rps(hr['ceiling'])}**",
                         f"**{hr['ratio'] * 100:.1f} %**" if hr["ratio"] is not None else "—"])
        w(table(["phase", "raw before", "req/s", "raw after", "ceiling (mean)", "req/s ÷ ceiling"],
                rows))
    else:
        w("No result.")
    w("")

    # ---- authkit on SQLite
    w("## authkit-server on SQLite (HTTP, wrk)")
    w("")
    seed = ak.get("seed") or {}
    w(f"A fresh SQLite database with {seed.get('users', '?')} seeded users (`authkit-bench seed`) and "
      "an administrator (`authkit-server create-admin`).")
    w("")
    w(f"- Idle RSS right after start: **{f_mib(ak.get('idle_rss_start_kb'))} MiB**; after one register "
      f"and one login, then 3.5 s idle: **{f_mib(ak.get('idle_rss_kb'))} MiB**.")
    w("")
    rows = []
    for key, what in PHASES:
        ph = akp.get(key)
        if not isinstance(ph, dict) or "rps" not in ph:
            continue
        rows.append([f"`{key}`", what, ph.get("connections", "?")]
                    + phase_cells(ph, ph.get("peak_rss_kb")) + [status_note(ph)])
    mx = akp.get("mixed") or {}
    for sub, what in (("me", "mixed: GET /users/me, while logins run"),
                      ("login", "mixed: POST /login, at the same time")):
        ph = mx.get(sub)
        if isinstance(ph, dict) and "rps" in ph:
            rows.append(["`mixed`", what, ph.get("connections", "?")]
                        + phase_cells(ph, mx.get("peak_rss_kb")) + [status_note(ph)])
    ov = akp.get("overload")
    if isinstance(ov, dict) and "rps" in ov:
        rows.append(["`overload`", "POST /api/v1/login far beyond the hash pool", ov.get("connections", "?")]
                    + phase_cells(ov, ov.get("peak_rss_kb")) + [status_note(ov)])
    w(table(["phase", "request", "conn.", "req/s", "p50 ms", "p99 ms", "non-2xx", "peak RSS MiB",
             "answers (from the Lua scripts)"], rows, "llrrrrrrl"))
    w("")
    w("`refresh`: each wrk thread keeps a pool of live refresh tokens (two per connection, from as many "
      "logins before the run, a fresh set for the warm-up and for the timed run) and puts back the "
      "rotated token of every answer; an empty pool would send an invalid token (counted as non-2xx). "
      "`overload`: 256 connections logging in, far more than the hash workers and their bounded queue "
      "hold; the queue's overflow is answered 503 with `Retry-After`.")
    w("")

    # ---- peers
    w("## Peers on the same machine")
    w("")
    if "peers" in skipped:
        w(f"**Peers not measured**: {skipped['peers']}.")
        w("")
    else:
        names = [n for n in ("better-auth", "fastapi-users") if n in peers]
        for n in names:
            v = peers[n].get("version") or {}
            extra = ", ".join(f"{k.replace('_', '-')} {val}" for k, val in v.items()
                              if k not in ("pinned", "runtime"))
            w(f"- **{n}** ({v.get('runtime', '?')}; {extra}; pinned by the start script: "
              f"`{v.get('pinned', '?').strip()}`): {PEER_NOTES[n]}.")
        w("- Each started with its `peers/start-*.sh` (a fresh SQLite database), one account registered "
          "and logged in with curl, then the same phases and connection counts as authkit with "
          "`peers/wrk/*.lua`.")
        if peer_rounds:
            w(f"- Both peers run beside authkit-server (each idle while another is measured). authkit's "
              f"`me` and `refresh` and each peer's `me` run in {peer_rounds} round(s) of one phase "
              "each, the order moved by one every round, so that the ratios of the targets compare "
              "phases seconds apart, under the same drift of the machine's speed; a figure is all "
              "its rounds' requests ÷ their seconds (p50 their mean, p99 and peak RSS the highest). "
              "The Targets table lists each round's ratio. The peers' `login`, `register` and "
              "`mixed` run once each, after the rounds.")
        else:
            w("- Each peer ran alone, after authkit-server's phases: every ratio below compares "
              "phases measured minutes apart.")
        w("")
        def phase_of(src: dict, key: str):
            if key.startswith("mixed/"):
                mixed_ = src.get("mixed") or {}
                return mixed_.get(key.split("/")[1]), mixed_.get("peak_rss_kb")
            ph = src.get(key)
            return (ph, ph.get("peak_rss_kb")) if isinstance(ph, dict) else (None, None)

        prow = []
        systems = [("authkit", akp)] + [(n, peers[n]) for n in names]
        for key, conns in (("me", 32), ("login", 8), ("register", 8), ("mixed/me", 16),
                           ("mixed/login", 4)):
            for sysname, src in systems:
                ph, peak = phase_of(src, key)
                if not (isinstance(ph, dict) and "rps" in ph):
                    prow.append([f"`{key}`", conns, sysname] + ["—"] * 5)
                else:
                    prow.append([f"`{key}`", conns, sysname] + phase_cells(ph, peak))
        for sysname, src in systems:
            prow.append(["idle RSS", "", sysname, "", "", "", "",
                         f"{f_mib(src.get('idle_rss_start_kb'))} at start, "
                         f"{f_mib(src.get('idle_rss_kb'))} after register + login"])
        w(table(["phase", "conn.", "server", "req/s", "p50 ms", "p99 ms", "non-2xx", "peak RSS MiB"],
                prow, "lrlrrrrr"))
        w("")
        w("`me` is each one's current-user endpoint: authkit `GET /api/v1/users/me` (EdDSA JWT + session "
          "lookup), better-auth `GET /api/auth/get-session` (cookie), fastapi-users `GET /users/me` "
          "(HS256 JWT + user lookup).")
        w("")
        rrows = []
        a_me = (akp.get("me") or {}).get("rps")
        a_ref = (akp.get("refresh") or {}).get("rps")
        for n in names:
            p = peers[n]
            p_me = (p.get("me") or {}).get("rps")
            p_login = (p.get("login") or {}).get("rps")
            p_reg = (p.get("register") or {}).get("rps")
            rrows += [
                [f"current user: authkit `/users/me` ÷ {n} `{'get-session' if n == 'better-auth' else '/users/me'}`",
                 f_rps(a_me), f_rps(p_me), f_ratio(div(a_me, p_me), 1)],
                [f"login ÷ {n} login", f_rps((akp.get('login') or {}).get('rps')), f_rps(p_login),
                 f_ratio(div((akp.get('login') or {}).get('rps'), p_login), 1)],
                [f"register ÷ {n} register", f_rps((akp.get('register') or {}).get('rps')), f_rps(p_reg),
                 f_ratio(div((akp.get('register') or {}).get('rps'), p_reg), 1)],
                [f"authkit `/refresh` ÷ {n} current-user request (its cheapest way to keep a client "
                 f"signed in{': get-session renews the session' if n == 'better-auth' else ' while the JWT lasts'})",
                 f_rps(a_ref), f_rps(p_me), f_ratio(div(a_ref, p_me), 1)],
                [f"authkit `/refresh` ÷ {n} login (its only way to get a new "
                 f"{'session' if n == 'better-auth' else 'token'} once the old one is gone)",
                 f_rps(a_ref), f_rps(p_login), f_ratio(div(a_ref, p_login), 1)],
            ]
        if rrows:
            w("Neither peer has a refresh-token rotation endpoint, so authkit's `/refresh` is compared "
              "two ways:")
            w("")
            w(table(["ratio (req/s)", "authkit", "peer", "authkit ÷ peer"], rrows))
            w("")

    # ---- scale
    small, big = str(cfg.get("small_users")), str(cfg.get("scale_users"))
    w(f"## {int(small):,} vs {int(big):,} users" if small.isdigit() and big.isdigit()
      else "## 1,000 vs 1,000,000 users")
    w("")
    if "scale" in skipped:
        w(f"Skipped: {skipped['scale']}.")
        w("")
    else:
        small, big = str(cfg.get("small_users")), str(cfg.get("scale_users"))
        pgv = scale.get("postgres-version")
        w(f"For each backend: two fresh databases, `authkit-bench seed` ({small} and {big} users, "
          f"all with the same password, each with one live session and 2 spent refresh hashes: "
          f"`--sessions --spent-per-session 2`), `create-admin`, a server on each, then login as "
          f"user{{N/2}}@bench.test (c=8), refresh of the seeded sessions (c=32; each round's "
          f"tokens from its own share of the users, the run's those of up to 32,768 users evenly "
          f"spread over the second half of that share, taken first in, first out, so that the "
          f"refreshes spread over the table), me (c=32, with the access tokens of "
          f"{cfg.get('scale_me_users', 'many')} users evenly spread over the table in turn) and "
          f"the first admin page (`?limit=50`, c=8), each {cfg.get('scale_duration')} after the "
          f"warm-up. Each phase runs {scale_rounds} times per size, the sizes' order swapped every "
          f"round (small, big, big, small, ...), seconds apart: a drift of the machine's speed "
          f"weighs on both sizes alike, and one slow run counts for 1/{scale_rounds} of its size's "
          f"figure. A size's req/s is all its rounds' requests ÷ their seconds, its p50 their mean. "
          f"The scale servers run without the session cache (`AUTHKIT_SESSION_CACHE_TTL_MS=0`), so that "
          f"every authenticated request reads its "
          f"session and user from the tables that grow (the cache would answer `me` from memory). "
          f"Cost ratio = (req/s with {small}) ÷ (req/s with {big}): the time per request with the "
          "big table relative to the small one (target ≤ 1.20)."
          + (f" PostgreSQL {pgv} (scripts/pg: fsync off)." if pgv else ""))
        w("")
        for backend in ("sqlite", "postgres"):
            b = scale.get(backend)
            if not isinstance(b, dict):
                continue
            s, g = b.get(small) or {}, b.get(big) or {}
            rows = []
            for key, conns in (("login", 8), ("refresh", 32), ("me", 32), ("admin_list", 8)):
                ps, pg = rounds(s.get(key) or {}), rounds(g.get(key) or {})
                rows.append([f"`{key}`", conns, f_rps(ps.get("rps")), f_ms(ps.get("p50_ms")),
                             f_rps(pg.get("rps")), f_ms(pg.get("p50_ms")),
                             f_ratio(div(ps.get("rps"), pg.get("rps"))),
                             f_ratio(div(pg.get("p50_ms"), ps.get("p50_ms"))),
                             f"{ps.get('non2xx', 0):,} / {pg.get('non2xx', 0):,}",
                             " · ".join(", ".join(f_rps(x) for x in p.get("rounds", []))
                                        for p in (ps, pg) if p.get("rounds"))])
            seeds = []
            for n, d in ((small, s), (big, g)):
                sd = d.get("seed") or {}
                if sd:
                    seeds.append(f"{n}: {sd.get('seconds', '?')} s (wall {d.get('seed-wall', '?')} s)")
            w(f"### {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}")
            w("")
            w(table(["endpoint", "conn.", f"req/s {small}", f"p50 ms {small}", f"req/s {big}",
                     f"p50 ms {big}", "cost ratio", "p50 ratio (big ÷ small)", "non-2xx small / big",
                     "req/s of each round, small · big"], rows))
            w("")
            if seeds:
                w("Seeding (`authkit-bench seed`): " + "; ".join(seeds) + ".")
                w("")

    # ---- targets
    v = Verdicts()
    for target, hr in (("login req/s ≥ 90 % of raw verify/s", login_hash),
                       ("register req/s ≈ raw hash/s (≥ 90 %)", reg_hash)):
        ratio = hr["ratio"]
        per_round = " / ".join(f"{x['ratio'] * 100:.0f}" for x in hr["rows"] if x["ratio"] is not None)
        v.add(target,
              f"{f_rps(hr['rps'])} / {f_rps(hr['ceiling'])} = {ratio * 100:.1f} % "
              f"(rounds: {per_round} %)" if ratio is not None else "—",
              None if ratio is None else ratio >= 0.9)
    if isinstance(ov, dict) and "rps" in ov:
        n503 = (ov.get("status") or {}).get("503", 0)
        ra = ov.get("retry_after", 0)
        to = (ov.get("socket_errors") or {}).get("timeout", 0)
        p99 = ov.get("p99_ms")
        st = ov.get("status") or {}
        ok_rate = (f"{sum(n for k, n in st.items() if k.startswith('2')) / ov['elapsed_s']:,.1f}"
                   if st and ov.get("elapsed_s") else "?")
        ok = n503 > 0 and ra == n503 and to == 0 and p99 is not None and p99 <= 5000
        v.add("overload (login, c=256): 503 + Retry-After beyond the queue, p99 bounded (≤ 5 s, no timeouts)",
              f"{n503:,} × 503 ({ra:,} with Retry-After), {to} timeouts, p99 {f_ms(p99)} ms; "
              f"logins answered meanwhile: {ok_rate} /s", ok)
    else:
        v.add("overload: 503 + Retry-After, bounded p99", "—", None)
    for alg, limit in (("hs256", 10), ("eddsa", 60)):
        name = {"hs256": "HS256", "eddsa": "EdDSA"}[alg]
        verify = (crit.get(f"verify/{alg}") or {}).get("mean_ns")
        memory = (crit.get(f"authenticate_memory/{alg}") or {}).get("mean_ns")
        sqlite = (crit.get(f"authenticate_sqlite/{alg}") or {}).get("mean_ns")
        # The first request with a token checks its signature; later ones find it remembered
        # (TokenCodec::verify_cached), so `authenticate_*` measures the repeated request and the
        # first one costs at most `verify` more.
        first = None if verify is None or memory is None else verify + memory
        v.add(f"verify + session + permission in-process ≤ {limit} µs ({name}), a token's first "
              "request",
              f"{f_us(first)} µs (`verify/{alg}` + `authenticate_memory/{alg}`, means)"
              if first is not None else "—",
              None if first is None else first / 1000 <= limit)
        v.add(f"the same for a token seen before (signature remembered), for information",
              f"{f_us(memory)} µs (`authenticate_memory/{alg}`, mean)" if memory is not None
              else "—", "info" if memory is not None else None)
        v.add(f"the same with the SQLite session store ({name}), token seen before, for information",
              f"{f_us(sqlite)} µs (`authenticate_sqlite/{alg}`, mean)" if sqlite is not None
              else "—", "info" if sqlite is not None else None)
    me = akp.get("me") or {}
    ok = None if "rps" not in me else (me["rps"] >= 10000 and me.get("p99_ms", 1e9) <= 10)
    v.add("`/users/me` ≥ 10 000 req/s with p99 ≤ 10 ms (c=32)",
          f"{f_rps(me.get('rps'))} req/s, p99 {f_ms(me.get('p99_ms'))} ms", ok)
    def per_round(key: str, n: str) -> str:
        xs = round_ratios(ak.get(key) or {}, (peers_raw.get(n) or {}).get("me") or {})
        return f" (rounds: {' / '.join(f_ratio(x, 1) for x in xs)})" if xs else ""

    for n, need in (("better-auth", 20), ("fastapi-users", 30)):
        p_me = ((peers.get(n) or {}).get("me") or {}).get("rps")
        x = div(me.get("rps"), p_me)
        v.add(f"`/users/me` ≥ {need}× {n}{chr(39) if n.endswith('s') else chr(39) + 's'} current-user endpoint",
              f"{f_rps(me.get('rps'))} / {f_rps(p_me)} = {f_ratio(x, 1)}{per_round('me', n)}",
              None if x is None else x >= need)
    a_ref = (akp.get("refresh") or {}).get("rps")
    ref_non2xx = (akp.get("refresh") or {}).get("non2xx")
    for n in ("better-auth", "fastapi-users"):
        p = peers.get(n) or {}
        for what, key in (("current-user request", "me"), ("login", "login")):
            x = div(a_ref, (p.get(key) or {}).get("rps"))
            v.add(f"`/refresh` ≥ 10× {n} (vs its {what})",
                  f"{f_rps(a_ref)} / {f_rps((p.get(key) or {}).get('rps'))} = {f_ratio(x, 1)}"
                  + (per_round("refresh", n) if key == "me" else ""),
                  None if x is None else x >= 10)
    if ref_non2xx:
        v.add("`/refresh` phase without errors", f"{ref_non2xx:,} non-2xx", False)
    mme = (akp.get("mixed") or {}).get("me") or {}
    v.add("`/users/me` p99 ≤ 20 ms while logins saturate the hash pool (mixed)",
          f"p99 {f_ms(mme.get('p99_ms'))} ms ({f_rps(mme.get('rps'))} req/s)",
          None if "p99_ms" not in mme else mme["p99_ms"] <= 20)
    if "scale" not in skipped:
        small, big = str(cfg.get("small_users")), str(cfg.get("scale_users"))
        for backend in ("sqlite", "postgres"):
            b = scale.get(backend)
            if not isinstance(b, dict):
                v.add(f"{big} vs {small} users within 20 % ({backend})", "—", None)
                continue
            for key in ("login", "refresh", "admin_list", "me"):
                ps = rounds((b.get(small) or {}).get(key) or {})
                pg = rounds((b.get(big) or {}).get(key) or {})
                x = div(ps.get("rps"), pg.get("rps"))
                v.add(f"{big} vs {small} users: `{key}` cost within 20 % ({backend})",
                      f"cost ratio {f_ratio(x)} ({f_rps(ps.get('rps'))} → {f_rps(pg.get('rps'))} req/s; "
                      f"p50 {f_ms(ps.get('p50_ms'))} → {f_ms(pg.get('p50_ms'))} ms)",
                      None if x is None else x <= 1.2)
    else:
        v.add("1 000 000 vs 1 000 users within 20 %", "—", None)
    idle = ak.get("idle_rss_kb")
    v.add("idle RSS < 30 MiB (after register + login + 3.5 s idle)", f"{f_mib(idle)} MiB",
          None if idle is None else idle < 30 * 1024)
    peaks = [(k, (akp.get(k) or {}).get("peak_rss_kb")) for k in ("login", "overload")]
    peaks = [(k, p) for k, p in peaks if p is not None]
    mx_peak = max((p for _, p in peaks), default=None)
    v.add("RSS < 120 MiB under login load (peak of the login and overload phases)",
          ", ".join(f"{k} {f_mib(p)} MiB" for k, p in peaks) or "—",
          None if mx_peak is None else mx_peak < 120 * 1024)

    w("## Targets (DESIGN.md, \"Performance targets\")")
    w("")
    w(f"{v.held} hold, {v.missed} miss" + (f", {v.unknown} not measured" if v.unknown else "") + ".")
    w("")
    w(table(["target", "measured", "verdict"], v.rows, "lll"))
    w("")
    w("Computed by `bench/report.py` from `bench/results/latest.json`. Scale \"cost\" is the time per "
      "request with the big table relative to the small one (small req/s ÷ big req/s); the "
      "in-process figure of a token's first request is `verify/*` + `authenticate_memory/*`: the "
      "signature check, then the session check and the permission check with the token remembered "
      "(an upper bound: it counts the lookup of the remembered token too). The `me` and `mixed` "
      "phases against the peers send one access token, as a client does until it expires: its "
      "signature is checked once, then found remembered, and the server runs with its defaults, so "
      "the session and the user are read from the database at most once a second per session "
      "(`AUTHKIT_SESSION_CACHE_TTL_MS=1000`; every write through the instance forgets them at "
      "once: README, \"Decisions\"). The scale runs' `me` sends many users' tokens to servers "
      "without that cache, so each request reads the database.")
    w("")
    # keep the summary line near the top in sync
    summary_line = (f"**Targets: {v.held} hold, {v.missed} miss" +
                    (f", {v.unknown} not measured" if v.unknown else "") + "** (table at the end).")
    out.insert(4, summary_line)
    out.insert(5, "")
    return "\n".join(out)


def summary(key: str, wrk: Path, peak: Path | None) -> str:
    ph = parse_wrk(wrk.read_text(errors="replace"))
    line = (f"[bench/run] {key}: {f_rps(ph.get('rps'))} req/s, p50 {f_ms(ph.get('p50_ms'))} ms, "
            f"p99 {f_ms(ph.get('p99_ms'))} ms, non-2xx {ph.get('non2xx', 0)}")
    if peak is not None and peak.is_file():
        line += f", peak RSS {f_mib(_number(peak.read_text() or '0'))} MiB"
    note = status_note(ph)
    if note:
        line += f" ({note})"
    if key.endswith("refresh") and ph.get("non2xx"):
        line += "  WARNING: refresh answered errors"
    return line


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] not in ("-h", "--help"):
        results = json.loads(Path(argv[1]).read_text())
        if results.get("schema") not in SCHEMAS:
            sys.stderr.write(f"report.py: {argv[1]} has results of schema {results.get('schema')}; "
                             f"this report renders schemas {SCHEMAS} (render older results with the "
                             "bench/report.py of the commit that recorded them)\n")
            return 2
        sys.stdout.write(render(results))
        return 0
    if len(argv) >= 3 and argv[1] == "collect":
        json.dump(collect(Path(argv[2])), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if len(argv) in (3, 4) and argv[1] == "criterion":
        stamp = Path(argv[3]) if len(argv) == 4 else None
        result = criterion(Path(argv[2]), stamp)
        for bench_id, e in result.items():
            if "missing" in e:
                sys.stderr.write(f"report.py: criterion {bench_id}: {e['missing']}\n")
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        return 0
    if len(argv) in (4, 5) and argv[1] == "summary":
        print(summary(argv[2], Path(argv[3]), Path(argv[4]) if len(argv) == 5 else None))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

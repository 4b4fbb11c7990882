"""Log formats: every real LogHub and nginx sample through auto-detection, plus
synthetic fixtures for the formats without a public sample."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline.ingest import IngestOptions, IngestResult, ingest
from pipeline.models import Event
from pipeline.timeparse import zone
from tests.conftest import real

DATA = Path(__file__).resolve().parent / "data" / "logs"


def run(path: Path | str, **opts: object) -> IngestResult:
    return ingest([str(path)], IngestOptions(**opts))  # type: ignore[arg-type]


def at(result: IngestResult, line: int) -> Event:
    """The event whose ref points at ``line``."""
    hits = [e for e in result.events if e.ref.endswith(f":{line}")]
    assert len(hits) == 1, f"no single event at line {line}"
    return hits[0]


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def check_common(result: IngestResult, fmt: str, events: int) -> None:
    (report,) = result.files
    assert report.format == fmt
    assert report.events == events == len(result.events)
    for e in result.events:
        assert e.kind == "log" and e.source == fmt
        assert "\r" not in e.text and "\n" not in e.text and len(e.text) <= 2000
        assert e.severity is None or e.severity == e.severity.lower()


# --- real samples (CRLF LogHub files) ------------------------------------------------


@pytest.mark.needs_shared
def test_loghub_samples_all_detected() -> None:
    files = sorted(real("loghub").glob("*/*.log"))
    assert len(files) >= 6
    expected = {"Apache": "apache_error", "BGL": "bgl", "HDFS": "hdfs", "Linux": "syslog"}
    expected |= {"OpenStack": "openstack", "Thunderbird": "thunderbird"}
    for f in files:
        result = run(f)
        (report,) = result.files
        assert report.format == expected[f.parent.name], f
        assert report.skipped == [], f
        lines = len(f.read_bytes().splitlines())
        assert report.events == lines, f


@pytest.mark.needs_shared
def test_apache_error() -> None:
    r = run(real("loghub/Apache/Apache_2k.log"))
    check_common(r, "apache_error", 500)
    e = at(r, 2)  # [Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6
    assert e.ts == utc(2005, 12, 4, 4, 47, 44) and e.ts_inferred
    assert e.severity == "error"
    assert e.text == "mod_jk child workerEnv in error state 6"
    assert at(r, 1).severity == "notice"
    assert sum(e.severity == "error" for e in r.events) == 137


@pytest.mark.needs_shared
def test_apache_error_with_tz() -> None:
    r = run(real("loghub/Apache/Apache_2k.log"), tz=zone("America/New_York"))
    assert at(r, 2).ts == utc(2005, 12, 4, 9, 47, 44)  # EST is UTC-5


@pytest.mark.needs_shared
def test_bgl() -> None:
    r = run(real("loghub/BGL/BGL_2k.log"))
    check_common(r, "bgl", 500)
    e = at(r, 1)  # epoch 1117838570, local stamp 2005-06-03-15.42.50.675872 (UTC-7)
    assert e.ts == utc(2005, 6, 3, 22, 42, 50, 675872) and not e.ts_inferred
    assert e.actor == "R02-M1-N0-C:J12-U11" and e.attrs["host"] == "R02-M1-N0-C:J12-U11"
    assert e.severity == "info" and "alert" not in e.attrs
    assert e.text == "instruction cache parity error corrected"
    fatal = at(r, 9)  # APPREAD ... RAS APP FATAL ciod: failed to read message prefix
    assert fatal.severity == "fatal" and fatal.attrs["alert"] == "APPREAD"
    assert fatal.attrs["component"] == "APP" and fatal.text.startswith("ciod: failed to read")
    assert at(r, 458).severity == "warning"  # NULL DISCOVERY WARNING Node card is not ...
    assert sum(e.severity == "fatal" for e in r.events) == 213


@pytest.mark.needs_shared
def test_hdfs() -> None:
    r = run(real("loghub/HDFS/HDFS_2k.log"))
    check_common(r, "hdfs", 500)
    e = at(r, 1)  # 081109 203615 148 INFO dfs.DataNode$PacketResponder: ...
    assert e.ts == utc(2008, 11, 9, 20, 36, 15) and e.ts_inferred
    assert e.actor == "dfs.DataNode$PacketResponder" and e.severity == "info"
    assert e.text == "PacketResponder 1 for block blk_38865049064139660 terminating"
    w = at(r, 78)  # 081109 214043 2561 WARN dfs.DataNode$DataXceiver: ...
    assert w.severity == "warning" and w.ts == utc(2008, 11, 9, 21, 40, 43)
    assert sum(e.severity == "warning" for e in r.events) == 47


@pytest.mark.needs_shared
def test_hdfs_with_tz() -> None:
    r = run(real("loghub/HDFS/HDFS_2k.log"), tz=zone("America/Los_Angeles"))
    assert at(r, 1).ts == utc(2008, 11, 10, 4, 36, 15)  # PST is UTC-8


@pytest.mark.needs_shared
def test_linux_syslog_year_from_anchor() -> None:
    r = run(real("loghub/Linux/Linux_2k.log"), anchor_date=date(2005, 6, 20))
    check_common(r, "syslog", 500)
    e = at(r, 1)  # Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; ...
    assert e.ts == utc(2005, 6, 14, 15, 16, 1) and e.ts_inferred
    assert e.actor == "sshd(pam_unix)" and e.attrs["host"] == "combo"
    assert e.attrs["pid"] == "19939" and e.text.startswith("authentication failure;")
    last = at(r, 500)  # Jun 29 14:44:35 combo ftpd[15923]: connection from ...
    assert last.ts == utc(2005, 6, 29, 14, 44, 35) and last.actor == "ftpd"


@pytest.mark.needs_shared
def test_linux_syslog_year_from_mtime(tmp_path: Path) -> None:
    copy = tmp_path / "messages"
    copy.write_bytes(real("loghub/Linux/Linux_2k.log").read_bytes())
    stamp = datetime(2006, 1, 3, tzinfo=UTC).timestamp()  # rotated in January:
    os.utime(copy, (stamp, stamp))  # June lines belong to the previous year
    r = run(copy)
    assert at(r, 1).ts == utc(2005, 6, 14, 15, 16, 1)


@pytest.mark.needs_shared
def test_openstack() -> None:
    r = run(real("loghub/OpenStack/OpenStack_2k.log"))
    check_common(r, "openstack", 200)
    e = at(r, 1)
    assert e.ts == utc(2017, 5, 16, 0, 0, 0, 8000) and e.ts_inferred
    assert e.actor == "nova-api" and e.severity == "info"
    assert e.attrs["request_id"] == "req-38101a0b-2096-447d-96ea-a692162415ae"
    assert e.attrs["component"] == "nova.osapi_compute.wsgi.server"
    assert e.text.startswith('10.11.10.1 "GET /v2/')
    w = at(r, 57)  # nova-compute ... 00:00:20.345 2931 WARNING nova.virt.libvirt.imagecache
    assert w.severity == "warning" and w.actor == "nova-compute"
    assert w.ts == utc(2017, 5, 16, 0, 0, 20, 345000)
    assert w.text.startswith("Unknown base file: /var/lib/nova/instances/_base/")


@pytest.mark.needs_shared
def test_thunderbird() -> None:
    r = run(real("loghub/Thunderbird/Thunderbird_2k.log"))
    check_common(r, "thunderbird", 500)
    e = at(r, 1)  # - 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]
    assert e.ts == utc(2005, 11, 9, 20, 1, 1) and not e.ts_inferred
    assert e.actor == "crond(pam_unix)" and e.attrs["host"] == "dn228"
    assert e.text == "session closed for user root"
    last = at(r, 500)  # - 1131566683 ... bn364 Nov 9 12:04:43 bn364/bn364 ntpd[28894]: ...
    assert last.ts == utc(2005, 11, 9, 20, 4, 43) and last.attrs["host"] == "bn364"
    assert last.actor == "ntpd" and last.text == "synchronized to 10.100.14.250, stratum 3"


@pytest.mark.needs_shared
def test_nginx_access() -> None:
    r = run(real("nginx/access/test.log"))
    check_common(r, "nginx_access", 7)
    e = at(r, 1)  # 10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot"
    assert e.ts == utc(2016, 12, 7, 10, 5, 7) and not e.ts_inferred
    assert e.attrs["client"] == "10.0.0.2" and e.attrs["status"] == "200"
    assert e.attrs["method"] == "GET" and e.attrs["path"] == "/ocelot" and e.severity == "info"
    nf = at(r, 2)
    assert nf.severity == "warning" and nf.ts == utc(2017, 5, 29, 19, 2, 48)
    assert at(r, 5).attrs["client"] == "10.5.102.222"  # quoted X-Forwarded-For list
    v6 = at(r, 6)
    assert v6.attrs["client"] == "2a03:0000:10ff:f00f:0000:0000:0:8000" and v6.severity == "warning"
    empty = at(r, 7)  # "" 400
    assert empty.attrs["status"] == "400" and "method" not in empty.attrs
    assert empty.ts == utc(2018, 4, 12, 7, 48, 40)


def test_nginx_access_5xx_is_error(tmp_path: Path) -> None:
    f = tmp_path / "access.log"
    line = '10.1.1.1 - - [08/Feb/2026:14:03:22 +0000] "POST /api/pay HTTP/1.1" {} 0 "-" "curl/8"\n'
    f.write_text(line.format(502) + line.format(201))
    r = run(f)
    assert [e.severity for e in r.events] == ["error", "info"]
    assert r.events[0].attrs["method"] == "POST"


@pytest.mark.needs_shared
def test_nginx_error_multiline() -> None:
    r = run(real("nginx/error/error.log"))
    check_common(r, "nginx_error", 4)  # 4 records over 6 lines
    assert [e.ref.rsplit(":", 1)[1] for e in r.events] == ["1", "2", "3", "6"]
    first = at(r, 1)
    assert first.ts == utc(2016, 10, 25, 14, 49, 34) and first.ts_inferred
    assert first.severity == "error" and first.actor == "nginx"
    assert first.attrs["client"] == "127.0.0.1" and first.attrs["path"] == "/favicon.ico"
    fastcgi = at(r, 3)
    assert fastcgi.ts == utc(2019, 10, 30, 23, 26, 34)
    assert "FEE_Field_Category::wrap" in fastcgi.text  # line 5 was joined in
    assert fastcgi.attrs["connection"] == "180289"


@pytest.mark.needs_shared
def test_nginx_error_with_tz() -> None:
    r = run(real("nginx/error/error.log"), tz=zone("Europe/Paris"))
    assert at(r, 1).ts == utc(2016, 10, 25, 12, 49, 34)  # CEST is UTC+2


# --- synthetic fixtures ----------------------------------------------------------------

# Our own small samples of the LogHub and web-server shapes (the real ones above
# need ../shared): CRLF like LogHub, every level, offsets, continuations.


def test_apache_error_own_sample() -> None:
    r = run(DATA / "apache_error.log")
    check_common(r, "apache_error", 8)
    assert all(e.ts_inferred for e in r.events)  # no zone in the stamp
    old = at(r, 2)  # 2.2: [error] [client ip] msg
    assert old.ts == utc(2026, 2, 8, 14, 3, 25) and old.severity == "error"
    assert old.actor == "apache" and old.attrs["client"] == "10.20.0.14"
    assert old.text == "File does not exist: /srv/www/checkout/favicon.ico"
    new = at(r, 4)  # 2.4: [module:level] [pid n:tid m] [client ip:port], microseconds
    assert new.ts == utc(2026, 2, 8, 14, 4, 2, 418203)
    assert new.actor == "proxy_http" and new.attrs["pid"] == "4211"
    assert new.attrs["client"] == "10.20.0.31:51022" and new.text.startswith("AH01102:")
    assert [e.severity for e in r.events].count("notice") == 3
    assert at(r, 5).severity == "warning" and at(r, 8).severity == "critical"
    paris = run(DATA / "apache_error.log", tz=zone("Europe/Paris"))
    assert at(paris, 2).ts == utc(2026, 2, 8, 13, 3, 25)


def test_bgl_own_sample() -> None:
    r = run(DATA / "bgl.log")
    check_common(r, "bgl", 8)
    first = at(r, 1)  # UTC epoch column, microseconds from the local stamp (UTC-8)
    assert first.ts == utc(2026, 2, 8, 14, 3, 22, 104417) and not first.ts_inferred
    assert first.actor == first.attrs["host"] == "R11-M0-N4-C:J03-U01"
    fatal = at(r, 4)
    assert fatal.severity == "fatal" and fatal.attrs["alert"] == "APPSEV"
    assert fatal.attrs["component"] == "APP" and fatal.text.startswith("ciod: Error reading")
    assert [e.severity for e in r.events].count("fatal") == 2
    assert at(r, 6).severity == "warning" and at(r, 6).attrs["host"] == "NULL"
    assert "alert" not in at(r, 1).attrs  # "-": no alert category


def test_hdfs_own_sample() -> None:
    r = run(DATA / "hdfs.log")
    check_common(r, "hdfs", 8)
    e = at(r, 1)  # 260208 140322 412 INFO dfs.DataNode$DataXceiver: ...
    assert e.ts == utc(2026, 2, 8, 14, 3, 22) and e.ts_inferred
    assert e.actor == "dfs.DataNode$DataXceiver" and e.attrs["pid"] == "412"
    assert e.text.startswith("Receiving block blk_4409188127731226154")
    assert at(r, 3).severity == "warning" and at(r, 6).severity == "error"
    la = run(DATA / "hdfs.log", tz=zone("America/Los_Angeles"))
    assert at(la, 1).ts == utc(2026, 2, 8, 22, 3, 22)  # PST is UTC-8


def test_openstack_own_sample_joins_a_traceback() -> None:
    r = run(DATA / "openstack.log")
    check_common(r, "openstack", 5)  # 5 records over 8 lines
    assert [e.ref.rsplit(":", 1)[1] for e in r.events] == ["1", "2", "3", "4", "8"]
    api = at(r, 1)
    assert api.ts == utc(2026, 2, 8, 14, 3, 22, 104000) and api.actor == "nova-api"
    assert api.attrs["request_id"] == "req-5f0c2a61-7d44-4b8e-9a51-0c6e3b9d2f11"
    failed = at(r, 4)
    assert failed.severity == "error" and failed.actor == "nova-compute"
    assert "Traceback" in failed.text and failed.text.endswith("connecting to monitor")
    assert at(r, 3).severity == "warning"


def test_thunderbird_own_sample() -> None:
    r = run(DATA / "thunderbird.log")
    check_common(r, "thunderbird", 8)
    e = at(r, 1)  # UTC epoch wins over the syslog stamp's local time (06:03 PST)
    assert e.ts == utc(2026, 2, 8, 14, 3, 22) and not e.ts_inferred
    assert e.actor == "sshd" and e.attrs["host"] == "cn142" and e.attrs["pid"] == "2231"
    assert at(r, 2).actor == "crond(pam_unix)"
    vapi = at(r, 4)
    assert vapi.attrs["alert"] == "VAPI" and vapi.actor == "kernel"
    assert vapi.text.startswith("[KERNEL_IB]")
    assert at(r, 6).actor == "pbs_mom"  # no pid


def test_nginx_access_own_sample() -> None:
    r = run(DATA / "nginx_access.log")
    check_common(r, "nginx_access", 8)
    assert not any(e.ts_inferred for e in r.events)  # every stamp has its offset
    assert at(r, 2).ts == utc(2026, 2, 8, 14, 3, 25)  # +0100
    assert at(r, 6).ts == utc(2026, 2, 8, 14, 7, 13)  # -0500
    xff = at(r, 2)
    assert xff.attrs["client"] == "203.0.113.7" and xff.severity == "error"
    quoted = at(r, 3)  # quoted X-Forwarded-For list before the address
    assert quoted.attrs["client"] == "198.51.100.23" and quoted.attrs["status"] == "504"
    v6 = at(r, 4)
    assert v6.attrs["client"] == "2001:db8:4:1::17" and v6.attrs["user"] == "alice"
    assert v6.severity == "warning" and v6.attrs["path"] == "/api/v1/orders/88213"
    empty = at(r, 5)
    assert empty.attrs["status"] == "400" and "method" not in empty.attrs
    assert at(r, 8).text == "POST /api/v1/payments -> 201 (512 bytes) from 10.20.0.14"


def test_nginx_error_own_sample() -> None:
    r = run(DATA / "nginx_error.log")
    check_common(r, "nginx_error", 6)  # 6 records over 8 lines
    assert [e.ref.rsplit(":", 1)[1] for e in r.events] == ["1", "2", "3", "4", "7", "8"]
    up = at(r, 3)
    assert up.ts == utc(2026, 2, 8, 14, 4, 1) and up.ts_inferred and up.severity == "error"
    assert up.attrs["upstream"] == "http://10.20.1.5:8080/api/v1/payments"
    assert up.attrs["method"] == "POST" and up.attrs["connection"] == "5590"
    fastcgi = at(r, 4)
    assert "Uncaught Error: Call to a member function total()" in fastcgi.text  # line 5
    assert fastcgi.attrs["client"] == "10.20.0.31"  # context from line 6
    assert fastcgi.attrs["path"] == "/checkout.php"
    assert at(r, 1).severity == "notice" and at(r, 8).severity == "critical"
    paris = run(DATA / "nginx_error.log", tz=zone("Europe/Paris"))
    assert at(paris, 3).ts == utc(2026, 2, 8, 13, 4, 1)


def test_syslog5424() -> None:
    r = run(DATA / "syslog5424.log")
    check_common(r, "syslog5424", 4)
    (skip,) = r.files[0].skipped
    assert skip.line == 4 and "NILVALUE" in skip.reason
    e = at(r, 1)
    assert e.ts == utc(2026, 2, 8, 14, 3, 22, 123000) and not e.ts_inferred
    assert e.severity == "notice" and e.actor == "checkout"  # PRI 165 = local4.notice
    assert e.attrs["host"] == "web-1.example.com" and e.attrs["msgid"] == "ID47"
    assert e.text == "payment provider timeout after 5000ms"
    assert at(r, 2).ts == utc(2026, 2, 8, 14, 3, 25, 500000)  # +01:00 offset
    crit = at(r, 3)  # escaped "]" inside SD, BOM before the message
    assert crit.severity == "critical" and crit.text.startswith("FATAL: too many")


def test_syslog_rfc3339_stamps() -> None:
    r = run(DATA / "syslog_iso.log")
    check_common(r, "syslog", 3)
    e = at(r, 1)
    assert e.ts == utc(2026, 2, 8, 14, 3, 22, 123456) and not e.ts_inferred
    assert e.actor == "nginx" and e.attrs["host"] == "web-1"


def test_syslog_dec_jan_wrap_with_anchor() -> None:
    r = run(DATA / "syslog_wrap.log", anchor_date=date(2026, 1, 1))
    check_common(r, "syslog", 4)
    assert [e.ts for e in r.events] == [
        utc(2025, 12, 31, 23, 59, 58),
        utc(2025, 12, 31, 23, 59, 59),
        utc(2026, 1, 1, 0, 0, 3),
        utc(2026, 1, 1, 0, 0, 5),
    ]
    assert all(e.ts_inferred for e in r.events)
    assert at(r, 2).severity == "error"  # <11> = user.err


def test_syslog_wrap_year_from_mtime_and_tz(tmp_path: Path) -> None:
    copy = tmp_path / "syslog"
    copy.write_bytes((DATA / "syslog_wrap.log").read_bytes())
    stamp = datetime(2027, 3, 1, tzinfo=UTC).timestamp()
    os.utime(copy, (stamp, stamp))
    r = run(copy, tz=zone("America/New_York"))
    assert at(r, 1).ts == utc(2027, 1, 1, 4, 59, 58)  # Dec 31 2026 23:59:58 EST
    assert at(r, 4).ts == utc(2027, 1, 1, 5, 0, 5)


def test_klog_json() -> None:
    r = run(DATA / "klog.jsonl")
    check_common(r, "jsonlog", 3)
    first = at(r, 1)
    assert first.ts == utc(2026, 2, 8, 14, 3, 22, 123456) and not first.ts_inferred
    assert first.actor == "checkout-7d9f" and first.severity == "info"
    err = at(r, 2)  # klog marks errors by an "err" key, not a level
    assert err.severity == "error" and "CrashLoopBackOff" in err.text
    assert at(r, 3).attrs["host"] == "node-7"


def test_ecs_json_with_garbage_line() -> None:
    r = run(DATA / "ecs.jsonl")
    check_common(r, "jsonlog", 3)
    assert [s.line for s in r.files[0].skipped] == [3]
    e = at(r, 1)
    assert e.ts == utc(2026, 2, 8, 14, 3, 22, 123000)
    assert e.severity == "error" and e.actor == "checkout" and e.attrs["host"] == "web-1"
    assert e.text == "Payment request failed: upstream timeout"
    nested = at(r, 2)  # nested log.level / service.name / host.hostname
    assert nested.severity == "warning" and nested.attrs["host"] == "web-2"
    assert nested.attrs["service"] == "checkout"


def test_generic_json_lines_with_tz() -> None:
    r = run(DATA / "generic.jsonl", tz=zone("Europe/Paris"))
    check_common(r, "jsonlog", 4)
    pino = at(r, 1)
    assert pino.severity == "error" and pino.actor == "orders" and pino.attrs["host"] == "api-1"
    assert pino.ts == utc(2026, 2, 8, 14, 3, 22, 123000)
    docker = at(r, 2)
    assert docker.text == "panic: runtime error: index out of range"
    assert docker.ts == utc(2026, 2, 8, 14, 3, 23, 456789)
    assert at(r, 3).actor == "payments"
    naive = at(r, 4)
    assert naive.ts == utc(2026, 2, 8, 14, 3, 25) and naive.ts_inferred
    assert naive.severity == "warning"


def test_loki_query_result() -> None:
    r = run(DATA / "loki.json")
    check_common(r, "loki", 3)
    first, plain, logfmt = r.events
    assert first.ts == utc(2026, 2, 8, 14, 3, 22, 123456)
    assert first.text == "db timeout" and first.severity == "error"
    assert first.actor == "checkout" and first.attrs["namespace"] == "prod"
    assert first.ref.endswith("#result[0].values[0]")
    assert plain.text == "plain line without level" and plain.severity == "error"  # stream label
    assert logfmt.text == "upstream slow" and logfmt.severity == "warning"
    assert logfmt.actor == "nginx" and logfmt.ts == utc(2026, 2, 8, 14, 3, 25)


def test_generic_fallback_stack_traces_and_garbage() -> None:
    r = run(DATA / "app_stacktrace.log")
    check_common(r, "log", 4)
    assert [s.line for s in r.files[0].skipped] == [1, 2]  # leading garbage, counted
    py = at(r, 3)
    assert py.ts == utc(2026, 2, 8, 14, 3, 22, 123000) and py.ts_inferred
    assert py.severity == "error"
    assert "Traceback" in py.text and py.text.endswith("ZeroDivisionError: division by zero")
    assert at(r, 8).severity == "warning"
    java = at(r, 9)
    assert java.ts == utc(2026, 2, 8, 13, 3, 24) and not java.ts_inferred
    assert java.severity == "error" and "Main.java:5" in java.text
    lf = at(r, 13)
    assert lf.text == "shutting down" and lf.severity == "fatal" and lf.actor == "orders"


def test_specific_format_skips_and_counts_bad_lines(tmp_path: Path) -> None:
    lines = (DATA / "hdfs.log").read_bytes().split(b"\r\n")[:8]
    lines[3] = b"*** garbage ***"
    lines[6] = b"261399 203615 148 INFO dfs.DataNode: month 13"
    f = tmp_path / "hdfs.log"
    f.write_bytes(b"\r\n".join(lines))
    r = run(f)
    (report,) = r.files
    assert report.format == "hdfs" and report.events == 6
    assert [s.line for s in report.skipped] == [4, 7]
    assert "bad timestamp" in report.skipped[1].reason


def test_huge_lines_do_not_crash(tmp_path: Path) -> None:
    big = "x" * (20 * 2**20)
    text = tmp_path / "app.log"
    text.write_text(f"2026-02-08T14:03:22Z ERROR boom {big}\n2026-02-08T14:03:23Z INFO ok\n{big}\n")
    r = run(text)
    assert r.files[0].format == "log" and len(r.events) == 2
    assert len(r.events[0].text) <= 2000
    assert r.events[1].text.startswith("ok | xxx")  # the stamp-less line continues it

    jl = tmp_path / "app.jsonl"
    jl.write_text('{"time":"2026-02-08T14:03:22Z","level":"error","msg":"' + big + '"}\n')
    r = run(jl)
    assert r.files[0].format == "jsonlog" and len(r.events[0].text) <= 2000

    access = tmp_path / "access.log"
    ok = '10.1.1.1 - - [08/Feb/2026:14:03:22 +0000] "GET / HTTP/1.1" 200 1 "-" "curl"\n'
    access.write_text(ok + ok + f'10.1.1.1 - - [08/Feb/2026:14:03:22 +0000] "GET /{big}" 414 0\n')
    r = run(access)
    assert r.files[0].format == "nginx_access" and len(r.events) == 2
    assert len(r.files[0].skipped) == 1  # cut before matching, then counted


SHAPED_JSON = {
    "alerts/opsgenie_create.json": "opsgenie",
    "alerts/pagerduty_v3_triggered.json": "pagerduty",
    "alerts/pagerduty_v3.jsonl": "pagerduty",
    "chat/mattermost.jsonl": "mattermost",
}


@pytest.mark.parametrize(("rel", "fmt"), sorted(SHAPED_JSON.items()))
def test_json_sniffers_leave_alerts_and_chat_alone(rel: str, fmt: str) -> None:
    assert run(DATA.parent / rel).files[0].format == fmt


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        ("alertmanager/alert.json", "alertmanager"),
        ("pagerduty/triggered_v3.json", "pagerduty"),
        ("mattermost/export.json", "mattermost"),
    ],
)
def test_json_sniffers_leave_real_alerts_and_chat_alone(rel: str, fmt: str) -> None:
    assert run(real(rel)).files[0].format == fmt

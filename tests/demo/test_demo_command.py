"""`edgeagent demo` on embedded defaults: finishes by itself and shows the night's alert."""

from __future__ import annotations

import re
import subprocess
import sys

from edgeagent.cli.demo import EXIT_MISSING, cmd_demo
from edgeagent.cli.main import build_parser
from edgeagent.demo import amqtt_broker
from edgeagent.demo import mosquitto as mosquitto_helper
from edgeagent.demo.platform_view import describe


def test_demo_runs_to_completion_and_shows_bed_exit_alert_and_resolution(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "demo", "--speed", "4000",
         "--duration", "7", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    raised = [line for line in out.splitlines() if "bed_exit_no_return" in line and "RAISED" in line]
    resolved = [line for line in out.splitlines()
                if "bed_exit_no_return" in line and "RESOLVED" in line]
    assert raised and resolved, out[-3000:]
    assert out.index(raised[0]) < out.index(resolved[0])
    # The night's ordinary bathroom visit (23:40, back in bed 23:47) raised nothing.
    assert "ALERT" not in out.split("02:1")[0]
    assert "is online" in out and "is offline" in out
    assert (tmp_path / "outbox.db").exists()
    assert "alerts: {'alert/bed_exit_no_return': 2}" in out
    # The reference ingest ran beside the view: every event stored once, in seq, no gap.
    shown = int(re.search(r"done\. (\d+) events at the platform", out).group(1))
    ingest = re.search(r"demo-001: OFFLINE; .*watermark (\d+) \(max (\d+)\); open gaps none; "
                       r"lost none; open alerts none", out)
    assert ingest, out[-1500:]
    assert int(ingest.group(1)) == int(ingest.group(2)) == shown
    assert f"stored {shown}, duplicates 0, invalid 0" in out
    # The broker was a real mosquitto, started and stopped cleanly by the demo.
    broker_log = (tmp_path / "mosquitto" / "mosquitto.log").read_text()
    assert re.search(r"mosquitto version \S+ starting", broker_log), broker_log[-1500:]
    assert re.search(r"mosquitto version \S+ terminating", broker_log), broker_log[-1500:]


def test_demo_with_broker_url_publishes_there_and_starts_no_broker_of_its_own(
        tmp_path, mosquitto, platform):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "demo", "--broker", mosquitto.url,
         "--speed", "4000", "--duration", "2", "--alerts-only", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"broker {mosquitto.url}" in proc.stdout
    events = [m for m in platform.messages if m.topic.startswith("care/demo-001/events/")]
    assert events, proc.stdout[-1500:]
    assert not (tmp_path / "d" / "mosquitto").exists()


# mosquitto "not installed": the demo's lookup finds nothing, as on a machine without it.
WITHOUT_MOSQUITTO = ("import sys, edgeagent.demo.mosquitto as m; m.find_mosquitto = lambda: None; "
                     "from edgeagent.cli.main import main; sys.exit(main(sys.argv[1:]))")


def test_demo_without_mosquitto_falls_back_to_amqtt_on_mqtt_311_and_loses_nothing(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_MOSQUITTO, "demo", "--speed", "4000", "--duration", "3",
         "--start", "01:30", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the in-process amqtt broker (MQTT 3.1.1)" in proc.stderr
    assert "sudo apt-get install -y mosquitto" in proc.stderr
    assert not (tmp_path / "mosquitto").exists()
    assert "out_of_bed" in out and "in_bed" in out, out[-2000:]
    shown = int(re.search(r"done\. (\d+) events at the platform", out).group(1))
    assert shown >= 19, out[-2000:]  # the 01:30-03:05 script: 9 initial states, 10 changes
    ingest = re.search(r"watermark (\d+) \(max (\d+)\); open gaps none; lost none", out)
    assert ingest, out[-1500:]
    assert int(ingest.group(1)) == int(ingest.group(2)) == shown
    assert f"stored {shown}, duplicates 0, invalid 0" in out


def test_demo_without_any_broker_says_what_to_install_and_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mosquitto_helper, "find_mosquitto", lambda: None)
    monkeypatch.setattr(amqtt_broker, "available", lambda: False)
    args = build_parser(["demo"]).parse_args(["demo", "--data-dir", str(tmp_path)])
    assert cmd_demo(args) == EXIT_MISSING == 3
    err = capsys.readouterr().err
    assert "needs mosquitto" in err and "sudo apt-get install -y mosquitto" in err
    assert "--broker URL" in err
    assert not (tmp_path / "outbox.db").exists()


def test_platform_view_line_for_an_alert():
    line, colour = describe({
        "seq": 7, "ts": "2026-11-22T18:32:00.000Z", "kind": "alert", "type": "bed_exit_no_return",
        "severity": "critical", "source": {"room": "hall"},
        "data": {"reason": "out of bed since 02:10"}, "alert": {"id": "a", "state": "raised"},
    }, __import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert "02:32:00" in line and "CRITICAL" in line and "out of bed since 02:10" in line
    assert colour == "critical"


def test_demo_started_at_night_reports_the_entrance_state_and_raises_no_night_exit(tmp_path):
    # The door states read at start-up are baselines: reported, never an opening at night.
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "demo", "--speed", "4000",
         "--duration", "3", "--start", "23:30", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"#\d+\s+state\s+door\s+hall\s+closed", out), out[-2000:]
    assert "night_exit" not in out, out[-2000:]


def test_demo_started_while_she_sleeps_still_alerts_her_bed_exit_without_return(tmp_path):
    # The bed found occupied at 01:06 is what the night rules need: the 02:10 exit and
    # her lying in the hall until 03:00 must raise bed_exit_no_return.
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "demo", "--speed", "4000",
         "--duration", "3", "--start", "01:30", "--alerts-only", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raised = [line for line in proc.stdout.splitlines()
              if "bed_exit_no_return" in line and "RAISED" in line]
    assert raised and "out of bed since 02:10" in raised[0], proc.stdout[-2000:]


def test_demo_speaks_chinese_and_its_home_writes_reasons_in_chinese(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "--lang", "zh_CN", "demo", "--speed",
         "4000", "--duration", "3", "--start", "01:30", "--alerts-only", "--data-dir",
         str(tmp_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "edgeagent demo: 家庭 demo-001" in out and "完成。平台收到" in out, out[-2000:]
    raised = [line for line in out.splitlines() if "已触发" in line]
    assert raised and "离床未归" in raised[0], out[-2000:]
    assert "起床" in raised[0]  # data.reason: the demo home's language follows --lang

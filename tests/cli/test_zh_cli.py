# ruff: noqa: RUF001  (Chinese output uses full-width punctuation)
"""`--lang zh_CN`: help, command output and config errors in Chinese; JSON stays codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeagent import i18n
from edgeagent.cli.main import main
from edgeagent.cli.status import render
from edgeagent.models import Kind, Severity
from edgeagent.outbox import Outbox
from tests.conftest import write_config
from tests.diagnostics.test_doctor_system import draft

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")  # main() switched the process-wide catalog


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # --help
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("args", "chinese"), [
    (["--lang", "zh_CN", "--help"], ["居家智慧照护套件的边缘代理", "离线缓存：统计、导出、清除",
                                     "校验配置文件"]),
    (["outbox", "stats", "--help", "--lang", "zh_CN"], ["输出一个 JSON 对象", "配置文件（默认"]),
    (["--lang", "zh_CN", "test-alarm", "--help"], ["测试告警的级别", "等待 PUBACK 的时长"]),
    (["--lang=zh_CN", "config", "check", "--help"], ["在标准输出上输出一个 JSON 文档"]),
    (["doctor", "--lang", "zh_CN", "--help"], ["运行全部检查", "机器可读的报告"]),
    (["--lang", "zh_CN", "ble", "decode", "--help"], ["示例：", "# 心率 72 bpm"]),
    (["update", "--lang", "zh_CN", "--help"], ["安装、切换、重启，不健康时回滚"]),
    (["--lang", "zh_CN", "walk-test", "--help"], ["列出每个已配置的传感器"]),
])
def test_help_follows_lang_before_or_after_the_command(capsys, args, chinese):
    code, out, _err = cli(capsys, *args)
    assert code == 0
    for text in chinese:
        assert text in out
    assert out.startswith("用法：edgeagent") and "显示此帮助信息并退出" in out  # argparse's words
    english = cli(capsys, *[a for a in args if a not in ("--lang", "zh_CN", "--lang=zh_CN")])[1]
    assert not CHINESE.search(english)  # the same help without --lang is English


def test_outbox_stats_in_chinese_and_its_json_untranslated(tmp_path: Path, capsys):
    config = str(write_config(tmp_path / "kit.toml", f"""
        [home]
        id = "home-1"
        [outbox]
        path = "{tmp_path / 'outbox.db'}"
        """))
    outbox = Outbox(tmp_path / "outbox.db", "home-1", boot_id="b")
    outbox.append([draft(), draft(Kind.ALERT, "sos", Severity.CRITICAL)], synced=True)
    outbox.mark_delivered([1])
    outbox.close()
    code, out, _err = cli(capsys, "--lang", "zh_CN", "outbox", "stats", "-c", config)
    assert code == 0
    assert "发件箱" in out and "待发送" in out and "critical_alert=1" in out
    assert "保留的已送达 1" in out and "pending" not in out
    code, raw, _err = cli(capsys, "outbox", "stats", "-c", config, "--json", "--lang", "zh_CN")
    stats = json.loads(raw)
    assert stats["pending"] == 1 and stats["pending_by_class"] == {"critical_alert": 1}
    assert not CHINESE.search(raw)


@pytest.mark.parametrize(("toml", "key", "reason"), [
    ('[mqtt]\nkeepalive = "often"\n', "mqtt.keepalive", "必须是整数（实际为 'often'）"),
    ('[home]\nidd = "x"\n', "home.idd", "未知"),
    ('[[drivers]]\ntype = "mock.stress"\n', "drivers[0].name", "缺少"),
])
def test_config_error_names_the_key_with_a_chinese_reason(tmp_path: Path, capsys, toml, key,
                                                         reason):
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    code, _out, err = cli(capsys, "--lang", "zh_CN", "config", "check", str(path))
    assert code == 2
    assert f"{key}: " in err and reason in err and "配置错误" in err
    code, _out, err = cli(capsys, "config", "check", str(path), "--lang", "en")
    assert code == 2 and f"{key}: " in err and not CHINESE.search(err)


@pytest.mark.parametrize(("toml", "reason"), [
    ('[mqtt]\nkeepalive = 1\n', "mqtt.keepalive: 必须不小于 5（实际为 1）"),
    ('[mqtt]\nkeepalive = 9999\n', "mqtt.keepalive: 必须不大于 3600（实际为 9999）"),
    ('[mqtt]\nbackoff_initial = 0\n', "mqtt.backoff_initial: 必须大于 0"),
    ('[mqtt]\nprotocol = "4"\n', "mqtt.protocol: 必须是以下之一：'5', '3.1.1'（实际为 '4'）"),
])
def test_config_error_ranges_and_choices_in_chinese(tmp_path: Path, capsys, toml, reason):
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    code, _out, err = cli(capsys, "config", "check", "--lang", "zh_CN", "-c", str(path))
    assert code == 2 and reason in err


def kit_config(tmp_path: Path, url: str) -> str:
    return str(write_config(tmp_path / "kit.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{url}"]
        [outbox]
        path = "{tmp_path / 'outbox.db'}"
        [control]
        socket = "{tmp_path / 'control.sock'}"
        """))


def test_test_alarm_speaks_chinese_against_a_real_broker(tmp_path: Path, mosquitto, capsys):
    config = kit_config(tmp_path, mosquitto.url)
    code, out, err = cli(capsys, "--lang", "zh_CN", "test-alarm", "-c", config)
    assert code == 0, err
    assert "守护进程未运行" in err and "代理服务器在" in err and "确认了测试告警 #1" in err
    code, out, err = cli(capsys, "test-alarm", "-c", config, "--json", "--lang", "zh_CN")
    assert code == 0 and json.loads(out)["acked"] is True
    assert not CHINESE.search(out) and err == ""


def test_watch_and_outbox_purge_speak_chinese(tmp_path: Path, capsys):
    config = kit_config(tmp_path, "mqtt://127.0.0.1:1")
    code, _out, err = cli(capsys, "--lang", "zh_CN", "watch", "-c", config)
    assert code == 2 and "无法监视" in err
    code, _out, err = cli(capsys, "--lang", "zh_CN", "outbox", "purge", "-c", config)
    assert code == 2 and "outbox purge 需要 --delivered" in err


def test_status_screen_in_chinese_keeps_codes_and_its_json(tmp_path: Path, capsys):
    doc = {"home": "home-1", "version": "1.0", "pid": 7, "uptime_s": 65, "clock": "synced",
           "broker": {"state": "connected", "broker": "mqtts://p:8883", "last_error": ""},
           "outbox": {"pending": 2, "oldest_pending_ts": None, "last_seq": 9,
                      "last_acked_seq": 7},
           "drivers": {"front": {"type": "gpio.contact", "state": "running", "reason": "",
                                 "restarts": 0}},
           "outputs": {}, "open_alerts": [], "last_event": None, "warnings": []}
    i18n.set_language("zh_CN")
    text = render(doc, datetime(2026, 1, 1, tzinfo=UTC))
    assert "家庭 home-1：运行中；已运行 1min 5s" in text
    assert "2 个待发送" in text and "front (gpio.contact)" in text and "启动以来没有" in text
    labels = [line.partition(":")[0] for line in text.splitlines()[1:] if ":" in line]
    assert {i18n.display_width(label) for label in labels if not label.startswith("      ")} \
        == {11}  # the labels line up as in English
    code, out, _err = cli(capsys, "--lang", "zh_CN", "status", "--socket",
                          str(tmp_path / "none.sock"))
    assert code == 3 and "未激活（未运行）" in out
    code, out, _err = cli(capsys, "status", "--socket", str(tmp_path / "none.sock"), "--json",
                          "--lang", "zh_CN")
    assert code == 3 and json.loads(out)["running"] is False and not CHINESE.search(out)


def test_config_check_summary_in_chinese(tmp_path: Path, capsys):
    path = write_config(tmp_path / "kit.toml", '[home]\nid = "h1"\n')
    code, out, _err = cli(capsys, "config", "check", str(path), "--lang", "zh_CN")
    assert code == 0 and f"{path}：OK — 家庭 h1，0 个驱动" in out
    code, out, _err = cli(capsys, "config", "check", str(path), "--lang", "en")
    assert code == 0 and f"{path}: OK — home h1, 0 drivers" in out


def test_ble_decode_in_chinese_and_its_json_untranslated(capsys):
    code, out, _err = cli(capsys, "--lang", "zh_CN", "ble", "decode", "2a37", "0648")
    assert code == 0 and "Heart Rate Measurement（0x2A37），2 字节" in out
    assert "heart_rate_bpm: 72" in out  # field names are codes
    code, out, _err = cli(capsys, "ble", "decode", "2a37", "0648", "--json", "--lang", "zh_CN")
    assert json.loads(out)["fields"]["heart_rate_bpm"] == 72 and not CHINESE.search(out)
    code, _out, err = cli(capsys, "ble", "decode", "2a37", "zz", "--lang", "zh_CN")
    assert code != 0 and "不是十六进制字节" in err


def test_update_verify_refusal_in_chinese(tmp_path: Path, capsys):
    bundle = tmp_path / "junk.bundle"
    bundle.write_bytes(b"junk")
    keys = tmp_path / "keys"
    keys.mkdir()
    args = ["update", "verify", str(bundle), "--keys-dir", str(keys)]
    code, out, _err = cli(capsys, "--lang", "zh_CN", *args)
    assert code == 1 and out.startswith("已拒绝：no trusted key")  # the reason stays English
    code, out, _err = cli(capsys, *args)
    assert code == 1 and out.startswith("refused: no trusted key")


def test_config_check_json_reasons_stay_english_whatever_the_language(tmp_path: Path, capsys):
    path = write_config(tmp_path / "kit.toml", """
        [home]
        id = "CHANGE-ME"
        language = "zh_CN"
        """)
    code, out, _err = cli(capsys, "--lang", "zh_CN", "config", "check", str(path))
    assert code == 0 and "占位" in out and "警告 home.id: " in out  # the screen speaks Chinese
    code, raw, _err = cli(capsys, "--lang", "zh_CN", "config", "check", str(path), "--json")
    doc = json.loads(raw)
    assert code == 0 and not CHINESE.search(raw)
    reasons = {w["key"]: w["reason"] for w in doc["warnings"]}
    assert "placeholder" in reasons["home.id"] and "no sensors" in reasons["drivers"]
    code, out, _err = cli(capsys, "--lang", "zh_CN", "config", "check", str(path))
    assert "占位" in out  # and the language is back for whatever comes next


def test_doctor_json_stays_english_under_zh_cn(tmp_path: Path, capsys):
    path = write_config(tmp_path / "kit.toml", '[home]\nid = "CHANGE-ME"\n')
    _code, raw, _err = cli(capsys, "--lang", "zh_CN", "doctor", "-c", str(path), "--json",
                           "--no-network", "--ble-scan-seconds", "0",
                           "--serial-listen-seconds", "0", "--socket",
                           str(tmp_path / "none.sock"))
    report = json.loads(raw)
    assert not CHINESE.search(json.dumps(report, ensure_ascii=False))
    assert any(c["name"] == "config.lint[home.id]" and "placeholder" in c["reason"]
               for c in report["checks"])


@pytest.mark.parametrize(("args", "chinese", "english"), [
    (["doctor", "--bogus"], "无法识别的参数：--bogus", "unrecognized arguments: --bogus"),
    (["replay", "x.log"], "缺少以下必需参数：--map", "the following arguments are required: --map"),
    (["ble", "zzz"], "无效的选择：'zzz'", "invalid choice: 'zzz'"),
    (["config", "check", "-c"], "参数 --config/-c：需要一个参数值",
     "argument --config/-c: expected one argument"),
    (["replay", "x.log", "--map", "m", "--gap-hours", "x"], "参数 --gap-hours：",
     "argument --gap-hours: give hours from 1 to 720 (got 'x')"),
])
def test_argparse_errors_follow_lang(capsys, args, chinese, english):
    code, _out, err = cli(capsys, "--lang", "zh_CN", *args)
    assert code == 2 and chinese in err and "错误：" in err, err
    assert err.startswith("用法：edgeagent") and "usage:" not in err and english not in err
    code, _out, err = cli(capsys, *args, "--lang", "en")
    assert code == 2 and english in err and "error: " in err and not CHINESE.search(err)


@pytest.fixture
def recorded_home(tmp_path: Path) -> tuple[str, str, str]:
    from tests.evaluation import small_home

    events, smap, acts = small_home.write(tmp_path / "home")
    return str(events), str(smap), str(acts)


def test_replay_reads_in_chinese_and_its_json_stays_english(capsys, recorded_home):
    events, smap, _acts = recorded_home
    code, out, _err = cli(capsys, "--lang", "zh_CN", "replay", events, "--map", smap,
                          "--prealarm")
    assert code == 0
    assert "周一 2026-03-02" in out and "持续 50 分钟" in out and "已解除：" in out
    assert "各处无活动" in out  # the alert reasons too, from their codes
    assert "紧急告警：15 次" in out and "预告警：询问" in out and "readings over" not in out
    assert "no alerts" not in out and "escalated" not in out
    code, raw, _err = cli(capsys, "replay", events, "--map", smap, "--json", "--lang", "zh_CN")
    doc = json.loads(raw)
    assert code == 0 and not CHINESE.search(raw)
    assert "no activity anywhere" in doc["alerts"][0]["reason"]
    code, out, _err = cli(capsys, "replay", events, "--map", smap)
    assert "Mon 2026-03-02" in out and "critical alerts: 15" in out and not CHINESE.search(out)


def test_evaluate_reads_in_chinese_and_its_json_stays_english(capsys, recorded_home):
    events, smap, acts = recorded_home
    args = ["evaluate", events, "--map", smap, "--activities", acts]
    code, out, _err = cli(capsys, "--lang", "zh_CN", *args)
    assert code == 0
    assert "夜间跌倒：5 次中有 5 次" in out and "日常生活中的紧急告警：15 次" in out
    assert "19.0 分钟后告警" in out and "已20分钟各处无活动" in out
    assert "night falls" not in out and "alerted after" not in out
    code, raw, _err = cli(capsys, *args, "--json", "--lang", "zh_CN")
    assert code == 0 and not CHINESE.search(raw)
    assert json.loads(raw)["critical_list"][0]["reason"].startswith("no activity anywhere")


def test_demo_lines_in_chinese_align_by_display_width():
    from zoneinfo import ZoneInfo

    from edgeagent.demo.platform_view import describe

    i18n.set_language("zh_CN")
    zone = ZoneInfo("Asia/Shanghai")
    lines = [describe({"seq": n, "ts": "2026-11-23T18:32:00.000Z", "kind": "state",
                       "type": kind, "source": {"room": "hall"}, "data": {"value": 1}},
                      zone)[0] for n, kind in ((1, "motion"), (2, "bed"))]
    assert all(line.startswith("周二 02:32:00") for line in lines)
    assert len({i18n.display_width(line.partition("hall")[0]) for line in lines}) == 1


def test_demo_refusal_in_chinese(capsys):
    code, _out, err = cli(capsys, "--lang", "zh_CN", "demo", "--speed", "0")
    assert code == 2 and "--speed 必须为正数" in err


def test_ble_decoder_rejections_read_in_chinese_and_stay_english_in_json(capsys):
    code, out, _err = cli(capsys, "--lang", "zh_CN", "ble", "decode", "2a37", "10")
    assert code == 1 and "heart rate (uint8) 需要第 1..1 字节，数据只有 1 字节" in out
    code, raw, _err = cli(capsys, "--lang", "zh_CN", "ble", "decode", "2a37", "10", "--json")
    assert json.loads(raw)["reason"].startswith("truncated heart rate measurement")
    code, _out, err = cli(capsys, "--lang", "zh_CN", "ble", "decode", "2a99", "00")
    assert code == 2 and "没有特征 2a99 的解析器" in err
    code, out, _err = cli(capsys, "--lang", "zh_CN", "ble", "decode-advert", "41")
    assert code == 1 and "bthome: 加密的 BTHome 数据帧，但没有此设备的绑定密钥" in out
    code, raw, _err = cli(capsys, "ble", "decode-advert", "41", "--json", "--lang", "zh_CN")
    assert not CHINESE.search(raw) and "no bind key" in json.loads(raw)["reason"]


def test_control_socket_reasons_read_in_chinese_and_stay_english_in_json(tmp_path, capsys):
    sock = str(tmp_path / "none.sock")
    code, out, _err = cli(capsys, "--lang", "zh_CN", "status", "--socket", sock)
    assert code == 3 and f"{sock}: 没有控制套接字（守护进程未运行）" in out
    code, raw, _err = cli(capsys, "status", "--socket", sock, "--json", "--lang", "zh_CN")
    assert json.loads(raw)["reason"] == "no control socket (daemon not running)"


@pytest.mark.parametrize(("english", "chinese"), [
    ("at most 5 test alarms a minute; try again later", "每分钟最多 5 次测试告警；请稍后再试"),
    ("no PUBACK within 2.5 s (link: connecting, no error); the alarm stays in the outbox and "
     "will be sent", "2.5 秒内未收到 PUBACK（连接：connecting，no error）；告警留在发件箱中"),
    ("unknown command 'x' (known: status, health, subscribe, test-alarm, outbox-purge)",
     "未知的命令 'x'"),
    ("counter 7 is older than 9 (a replayed frame, or the device restarted its counter)",
     "计数器 7 早于 9"),
])
def test_english_reasons_from_the_wire_are_localized_by_their_template(english, chinese):
    assert i18n.localize(english) == english  # English: unchanged
    i18n.set_language("zh_CN")
    assert i18n.localize(english).startswith(chinese)
    assert i18n.localize("[Errno 111] something the OS said") == "[Errno 111] something the OS said"


def test_support_bundle_says_so_in_chinese_but_its_doctor_report_is_english(tmp_path, capsys):
    import tarfile

    config = kit_config(tmp_path, "mqtt://127.0.0.1:1")
    out_path = tmp_path / "b.tar.gz"
    code, out, _err = cli(capsys, "--lang", "zh_CN", "bundle", "-c", config, "--no-network",
                          "--ble-scan-seconds", "0", "-o", str(out_path))
    assert code == 0 and "已写入" in out and "技术支持" in out
    with tarfile.open(out_path) as tar:
        member = tar.extractfile("edgeagent-bundle/doctor.json")
        assert member is not None
        doctor = member.read().decode()
    reasons = " ".join(c["reason"] for c in json.loads(doctor)["checks"])  # \u-escaped in the file
    assert "config" in reasons and not CHINESE.search(reasons)

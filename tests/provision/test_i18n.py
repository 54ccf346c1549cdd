"""Translations: catalogs complete and compiled; zh_CN chosen from LANG or --lang."""

from __future__ import annotations

import gettext
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeagent import i18n

PO = {lang: i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "edgeagent.po" for lang in i18n.SHIPPED}
FIELD = re.compile(r"\{(\w+)(?:![rsa])?(?::[^}]*)?\}")


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("lang", i18n.SHIPPED)
def test_committed_mo_is_the_compiled_po(lang: str) -> None:
    po = PO[lang]
    assert po.with_suffix(".mo").read_bytes() == i18n.compile_po(po.read_text("utf-8")), (
        "run: python -m edgeagent.i18n")


def test_every_message_in_the_code_has_a_chinese_translation_with_the_same_fields() -> None:
    messages = i18n.extract(i18n.source_files())
    assert len(messages) > 60
    catalog = i18n.parse_po(PO["zh_CN"].read_text("utf-8"), keep_untranslated=True)
    missing = [m for m in messages if not catalog.get(m)]
    assert missing == [], "untranslated (run `python -m edgeagent.i18n update`)"
    stale = sorted(set(catalog) - set(messages) - {""})
    assert stale == [], "catalog has strings the code no longer uses"
    for msgid in messages:
        assert sorted(FIELD.findall(msgid)) == sorted(FIELD.findall(catalog[msgid])), msgid
        if re.search(r"[A-Za-z]", FIELD.sub("", msgid)):  # words, not just "{a}: {b}"
            assert re.search(r"[\u4e00-\u9fff]", catalog[msgid]), f"not Chinese: {catalog[msgid]}"


PRINTF = re.compile(r"%(?:\(\w+\))?[rsd]")


def test_printf_style_messages_keep_their_placeholders_in_chinese() -> None:
    # argparse's own sentences are %-formatted: a lost %s would break its error line.
    catalog = i18n.parse_po(PO["zh_CN"].read_text("utf-8"))
    printf = {m: t for m, t in catalog.items() if PRINTF.search(m)}
    assert "unrecognized arguments: %s" in printf
    for msgid, msgstr in printf.items():
        assert sorted(PRINTF.findall(msgid)) == sorted(PRINTF.findall(msgstr)), msgid


def test_compiler_output_is_read_by_gettext_including_plurals_and_escapes() -> None:
    po = r'''
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=1; plural=0;\n"

# a comment
msgid "one "
"line"
msgstr "一行"

msgid "tab\there \"quoted\""
msgstr "制表\t\"引号\""

#, fuzzy
msgid "guess"
msgstr "猜的"

msgid "untranslated"
msgstr ""

msgctxt "button"
msgid "Open"
msgstr "打开"

msgid "{n} file"
msgid_plural "{n} files"
msgstr[0] "{n} 个文件"
'''
    catalog = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(po)))
    assert catalog.gettext("one line") == "一行"
    assert catalog.gettext('tab\there "quoted"') == '制表\t"引号"'
    assert catalog.gettext("guess") == "guess"  # fuzzy entries are not used
    assert catalog.gettext("untranslated") == "untranslated"
    assert catalog.pgettext("button", "Open") == "打开"
    assert catalog.ngettext("{n} file", "{n} files", 3) == "{n} 个文件"


def test_a_broken_po_names_the_line() -> None:
    with pytest.raises(i18n.PoSyntaxError, match="line 3"):
        i18n.parse_po('msgid "a"\nmsgstr "b"\nmsgfoo "c"\n')


@pytest.mark.parametrize(("env", "explicit", "first"), [
    ({"LANG": "zh_CN.UTF-8"}, None, "zh_CN"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.utf8"}, None, "zh_CN"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "C"}, None, "zh_CN"),
    ({"LANG": "C"}, None, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "en", "en"),
    ({}, "zh-cn", "zh_CN"),
])
def test_language_comes_from_lang_flag_then_environment(env: dict[str, str],
                                                        explicit: str | None,
                                                        first: str) -> None:
    assert i18n.requested_languages(explicit, env)[0] == first


def test_set_language_switches_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    assert i18n.set_language("zh_CN") == "zh_CN"
    assert i18n._("unchanged") == "未变"
    assert i18n.set_language("en") == "en"
    assert i18n._("unchanged") == "unchanged"
    monkeypatch.setenv("LANGUAGE", "")
    monkeypatch.setenv("LC_ALL", "")
    monkeypatch.setenv("LC_MESSAGES", "")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.set_language() == "zh_CN"
    assert i18n.set_language("fr_FR") == "en"  # not shipped: English, not an error


def run_cli(*args: str, lang: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env["LANG"] = lang
    return subprocess.run([sys.executable, "-m", "edgeagent.cli.main", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_install_speaks_chinese_under_a_chinese_locale(tmp_path: Path) -> None:
    zh = run_cli("install", "--root", str(tmp_path / "r"), "--dry-run", lang="zh_CN.UTF-8")
    assert zh.returncode == 0, zh.stderr
    assert "创建" in zh.stdout and "演练模式" in zh.stdout and "系统用户" in zh.stdout
    en = run_cli("install", "--root", str(tmp_path / "r"), "--dry-run", lang="en_US.UTF-8")
    assert "dry run:" in en.stdout and "创建" not in en.stdout
    flag = run_cli("--lang", "en", "install", "--root", str(tmp_path / "r"), "--dry-run",
                   lang="zh_CN.UTF-8")
    assert "dry run:" in flag.stdout  # --lang beats LANG


def test_errors_speak_chinese_too(tmp_path: Path) -> None:
    result = run_cli("pair", "--config", str(tmp_path / "missing.toml"), lang="zh_CN.UTF-8")
    assert result.returncode == 2
    assert "无法读取" in result.stderr
    bad = run_cli("install", "--root", str(tmp_path / "r"), "--config-template", "x",
                  "--lang", "zh_CN", lang="C")
    assert "未知的配置模板" in bad.stderr


def test_platform_view_reads_in_chinese_but_the_event_stays_codes() -> None:
    from zoneinfo import ZoneInfo

    from edgeagent.demo.platform_view import describe

    event = {"seq": 7, "ts": "2026-11-22T18:32:00.000Z", "kind": "alert",
             "type": "bed_exit_no_return", "severity": "critical", "source": {"room": "hall"},
             "data": {"reason": "out of bed since 02:10"},
             "alert": {"id": "a", "state": "raised"}}
    before = dict(event)
    i18n.set_language("zh_CN")
    line, colour = describe(event, ZoneInfo("Asia/Shanghai"))
    assert "告警" in line and "紧急" in line and "离床未归" in line and "已触发" in line
    assert colour == "critical" and event == before
    i18n.set_language("en")
    line, _colour = describe(event, ZoneInfo("Asia/Shanghai"))
    assert "ALERT CRITICAL" in line and "bed_exit_no_return" in line and "RAISED" in line

"""Technician-facing text in the technician's language (gettext; zh_CN and en shipped).

Technicians and call-centre staff read Chinese, developers read English: every
sentence a person reads (install, pair, identity, doctor, error messages, the
demo's platform view) goes through `_()`. What machines read (event payloads,
JSON output, log keys) stays language-neutral codes and is never translated.

The language comes from `--lang`, else the usual gettext variables
(LANGUAGE, LC_ALL, LC_MESSAGES, LANG). Catalogs live in
`edgeagent/locale/<lang>/LC_MESSAGES/edgeagent.{po,mo}`; the `.po` is the
source, the `.mo` is compiled by `compile_po()` below (the same format as
CPython's Tools/i18n/msgfmt.py, so no gettext tools are needed on the build
machine): `python -m edgeagent.i18n` recompiles every catalog.
"""

from __future__ import annotations

import ast
import contextlib
import gettext
import importlib.util
import os
import re
import struct
import sys
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from edgeagent.errors import EdgeAgentError

DOMAIN = "edgeagent"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SHIPPED = ("en", "zh_CN")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_translation: gettext.NullTranslations | None = None
_language = "en"


def normalize(value: str) -> str:
    """'zh_CN.UTF-8' -> 'zh_CN', 'zh-cn' -> 'zh_CN', 'C'/'POSIX' -> 'en'."""
    code = value.split(".", 1)[0].split("@", 1)[0].strip().replace("-", "_")
    if code in ("", "C", "POSIX"):
        return "en"
    if "_" in code:
        lang, region = code.split("_", 1)
        return f"{lang.lower()}_{region.upper()}"
    return code.lower()


def requested_languages(explicit: str | None = None,
                        environ: dict[str, str] | None = None) -> list[str]:
    """Languages in preference order: `--lang`, then the environment, then English."""
    env = os.environ if environ is None else environ
    wanted: list[str] = []
    if explicit:
        wanted.append(normalize(explicit))
    else:
        for var in ENV_VARS:
            value = env.get(var)
            if value:
                wanted.extend(normalize(part) for part in value.split(":") if part)
                break
    out: list[str] = []
    for code in [*wanted, "en"]:
        for candidate in (code, code.split("_", 1)[0]):
            if candidate not in out:
                out.append(candidate)
    return out


def check_language(value: str) -> str:
    """`value` if a shipped catalog serves it ('zh_CN.UTF-8', 'en_GB'), else ValueError.

    An explicit `--lang` that would silently fall back to English is refused, naming
    the accepted languages.
    """
    code = normalize(value)
    if code in SHIPPED or code.split("_", 1)[0] in SHIPPED:
        return value
    raise ValueError(_("unknown language {value!r} (accepted: {known})").format(
        value=value, known=", ".join(SHIPPED)))


def set_language(explicit: str | None = None) -> str:
    """Load the catalog for `explicit` (or the environment's); returns the language in use."""
    global _translation, _language
    languages = requested_languages(explicit)
    _translation = gettext.translation(DOMAIN, str(LOCALE_DIR), languages=languages,
                                       fallback=True)
    _language = "en"
    for code in languages:
        if (LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo").exists():
            _language = code
            break
    return _language


@contextlib.contextmanager
def untranslated() -> Iterator[None]:
    """English inside the block, then the language before it.

    JSON output is read by machines and must not change with `--lang`; code that
    builds a JSON document from the same sentences as the screen runs under this.
    """
    global _translation, _language
    saved = (_translation, _language)
    _translation, _language = gettext.NullTranslations(), "en"
    try:
        yield
    finally:
        _translation, _language = saved


def current_language() -> str:
    if _translation is None:
        set_language()
    return _language


def _(message: str) -> str:
    """Translate one sentence (the catalog is loaded from the environment on first use)."""
    if _translation is None:
        set_language()
    assert _translation is not None
    return _translation.gettext(message)


_FIELD = re.compile(r"\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")
_patterns: dict[str, re.Pattern[str] | None] = {}
_sorted_templates: list[Any] = [None, []]  # [id of the catalog, its templates in order]


def localize(text: str) -> str:
    """`text`, an English sentence formatted from a catalog template, in the message language.

    What travels as English (a control-socket error, a decoder's rejection, kept so
    for JSON and logs) is translated where a person reads it: the template is found
    by its fixed words, and its translation filled with the values as they were
    formatted. Text that no template formats is returned unchanged.
    """
    if current_language() == "en" or not text:
        return text
    exact = _(text)
    if exact != text:
        return exact
    catalog: dict[Any, str] = getattr(_translation, "_catalog", {})  # GNUTranslations' table
    for template in _templates(catalog):
        pattern = _pattern(template)
        match = pattern.fullmatch(text) if pattern is not None else None
        if match is not None:
            return _fill(catalog[template], match)
    return text


def _templates(catalog: dict[Any, str]) -> list[str]:
    """The catalog's templates with fields, the most specific (most fixed words) first."""
    key = id(catalog)
    if _sorted_templates[0] != key:
        found = [m for m in catalog if isinstance(m, str) and "{" in m]
        _sorted_templates[:] = [key, sorted(found, key=lambda m: -len(_FIELD.sub("", m)))]
    templates: list[str] = _sorted_templates[1]
    return templates


def _fill(translation: str, match: re.Match[str]) -> str:
    """The translated template with each field replaced by the text it matched."""
    return _FIELD.sub(lambda field: match.group(field.group(1)), translation)


def _pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching what `template.format(...)` makes (None: a template of fields only)."""
    if template not in _patterns:
        words = _FIELD.sub("", template)
        if not re.search(r"[A-Za-z]{2}", words):
            _patterns[template] = None
            return None
        parts: list[str] = []
        seen: set[str] = set()
        pos = 0
        for field in _FIELD.finditer(template):
            parts.append(re.escape(template[pos:field.start()].replace("{{", "{")
                                   .replace("}}", "}")))
            name = field.group(1)
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
            pos = field.end()
        parts.append(re.escape(template[pos:].replace("{{", "{").replace("}}", "}")))
        try:
            _patterns[template] = re.compile("".join(parts), re.DOTALL)
        except re.error:
            _patterns[template] = None
    return _patterns[template]


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n`; the catalogs hold each form as its own entry (Chinese has one)."""
    return _(singular if n == 1 else plural)


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a string for extraction without translating it now (tables of templates)."""
    return message


def display_width(text: str) -> int:
    """Terminal columns `text` takes: CJK characters take two (for aligning translated labels)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (`f"{text:<20}"` for CJK text too)."""
    return text + " " * max(0, width - display_width(text))


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def weekday(when: date) -> str:
    """The short weekday name of `when` in the message language (`%a` follows the C locale)."""
    return _(WEEKDAYS[when.weekday()])


# --- .po -> .mo ----------------------------------------------------------------------------


class PoSyntaxError(EdgeAgentError, ValueError):
    """A .po file the compiler cannot read; names the line."""


def parse_po(text: str, *, keep_untranslated: bool = False) -> dict[str, str]:  # noqa: C901, PLR0912, PLR0915 - a .po line parser: one branch per keyword of the format
    """msgid -> msgstr of the translated, non-fuzzy entries (plural forms joined by NUL)."""
    entries: dict[str, str] = {}
    msgctxt: str | None = None
    msgid = msgid_plural = ""
    msgstrs: dict[int, str] = {}
    section: tuple[str, int] | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal msgctxt, msgid, msgid_plural, msgstrs, fuzzy, section
        if section is not None and not fuzzy:
            key = msgid if not msgid_plural else f"{msgid}\0{msgid_plural}"
            if msgctxt is not None:
                key = f"{msgctxt}\x04{key}"
            value = "\0".join(msgstrs[i] for i in sorted(msgstrs))
            if key == "" or keep_untranslated or any(msgstrs.values()):
                entries[key] = value
        msgctxt, msgid, msgid_plural, msgstrs, fuzzy, section = None, "", "", {}, False, None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            if section is not None and section[0] == "msgstr":
                flush()
            fuzzy = True
            continue
        if not line or line.startswith("#"):
            continue
        keyword, _sep, rest = line.partition(" ")
        if line.startswith('"'):
            if section is None:
                raise PoSyntaxError(f"line {lineno}: string outside an entry")
            value = _unquote(line, lineno)
        elif keyword in ("msgctxt", "msgid", "msgid_plural") or keyword.startswith("msgstr"):
            if keyword in ("msgctxt", "msgid") and section is not None \
                    and section[0] == "msgstr":
                flush()
            index = 0
            if keyword.startswith("msgstr["):
                index = int(keyword[7:-1])
                keyword = "msgstr"
            section = (keyword, index)
            value = _unquote(rest.strip(), lineno)
        else:
            raise PoSyntaxError(f"line {lineno}: unexpected {line[:40]!r}")
        name, index = section
        if name == "msgctxt":
            msgctxt = (msgctxt or "") + value
        elif name == "msgid":
            msgid += value
        elif name == "msgid_plural":
            msgid_plural += value
        else:
            msgstrs[index] = msgstrs.get(index, "") + value
    flush()
    return entries


def _unquote(token: str, lineno: int) -> str:
    if len(token) < 2 or not (token.startswith('"') and token.endswith('"')):
        raise PoSyntaxError(f"line {lineno}: expected a quoted string, got {token[:40]!r}")
    try:
        value = ast.literal_eval(token)
    except (SyntaxError, ValueError) as exc:
        raise PoSyntaxError(f"line {lineno}: bad string: {exc}") from None
    assert isinstance(value, str)
    return value


def compile_po(text: str) -> bytes:
    """The GNU .mo bytes for a .po text (little-endian, no hash table, sorted keys)."""
    entries = parse_po(text)
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets: list[tuple[int, int, int, int]] = []
    for key in keys:
        k = key.encode("utf-8")
        v = entries[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    n = len(keys)
    key_start = 7 * 4 + 16 * n
    value_start = key_start + len(ids)
    table = []
    for id_off, id_len, _s, _l in offsets:
        table += [id_len, key_start + id_off]
    for _i, _n, str_off, str_len in offsets:
        table += [str_len, value_start + str_off]
    header = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + n * 8, 0, 0)
    return header + struct.pack(f"<{len(table)}I", *table) + ids + strs


def compile_all(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Recompile every `<lang>/LC_MESSAGES/*.po` beside it; returns the .mo files written."""
    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        mo.write_bytes(compile_po(po.read_text(encoding="utf-8")))
        written.append(mo)
    return written


# Sources whose `_()` strings the catalogs must cover (relative to the package).
SOURCES = ("i18n.py", "provision/*.py", "cli/provision.py", "doctor/*.py", "cli/doctor.py",
           "cli/diagnostics.py", "demo/platform_view.py", "config.py", "secrets.py",
           "cli/core_commands.py", "config_lint.py", "config_roles.py",
           "outputs/messages.py", "walktest/*.py", "cli/walk_test.py",
           "cli/main.py", "cli/status.py", "config_path.py", "cli/ble.py", "cli/demo.py",
           "cli/replay.py", "cli/replay_days.py", "cli/replay_plot.py", "cli/evaluate.py",
           "cli/update.py", "control.py")
# Driver modules (package edgeagent_drivers) whose reasons a technician reads, English on
# the wire and in JSON and shown through `localize()`: the BLE decoders.
DRIVER_SOURCES = ("ble/parsers.py", "ambient/formats.py", "ambient/bthome.py", "ambient/atc.py",
                  "ambient/secure_adverts.py")
HEADERS = {
    "zh_CN": "Language: zh_CN\nPlural-Forms: nplurals=1; plural=0;\n",
    "en": "Language: en\nPlural-Forms: nplurals=2; plural=(n != 1);\n",
}


def source_files(package_dir: Path = LOCALE_DIR.parent) -> list[Path]:
    files = [p for pattern in SOURCES for p in sorted(package_dir.glob(pattern))]
    spec = importlib.util.find_spec("edgeagent_drivers")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        files += [p for pattern in DRIVER_SOURCES for p in sorted(Path(location).glob(pattern))]
    return files


def _quote(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def render_po(language: str, entries: list[tuple[str, str]]) -> str:
    header = ("Project-Id-Version: edgeagent\nMIME-Version: 1.0\n"
              "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
              + HEADERS.get(language, f"Language: {language}\n"))
    lines = [f"# edgeagent messages ({language}). Source of truth for the .mo beside it.",
             "# Update with: python -m edgeagent.i18n update", 'msgid ""',
             'msgstr ""']
    lines += [_quote(line + "\n") for line in header.rstrip("\n").split("\n")]
    for msgid, msgstr in entries:
        lines += ["", f"msgid {_quote(msgid)}", f"msgstr {_quote(msgstr)}"]
    return "\n".join(lines) + "\n"


def update_catalogs(locale_dir: Path = LOCALE_DIR,
                    sources: list[Path] | None = None) -> list[Path]:
    """msgmerge + msgfmt in one: every source string in every shipped catalog, then compile.

    Existing translations are kept; new strings arrive untranslated (the
    catalog test then names them); strings no longer in the code are dropped.
    """
    messages = extract(sources if sources is not None else source_files())
    for language in SHIPPED:
        po = locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        old = parse_po(po.read_text(encoding="utf-8"), keep_untranslated=True) \
            if po.exists() else {}
        po.parent.mkdir(parents=True, exist_ok=True)
        po.write_text(render_po(language, [(m, old.get(m, "")) for m in messages]),
                      encoding="utf-8")
    return compile_all(locale_dir)


def extract(paths: list[Path]) -> list[str]:
    """Every literal passed to `_()` / `N_()` / `ngettext()` in these sources, in order."""
    found: list[str] = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "N_", "ngettext") and node.args):
                continue
            for arg in node.args[: 2 if node.func.id == "ngettext" else 1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and arg.value not in found:
                    found.append(arg.value)
    return found


if __name__ == "__main__":
    written = update_catalogs() if sys.argv[1:] == ["update"] else compile_all()
    for path in written:
        sys.stdout.write(f"{path}\n")

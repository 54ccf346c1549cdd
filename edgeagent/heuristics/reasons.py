# ruff: noqa: RUF001  (Chinese punctuation in the zh_CN templates is intended)
"""Alert reasons as a code and parameters, rendered in the home's language.

The call centre's operators read `data.reason`; it is written in
`home.language` (English or Chinese). Every alert also carries
`data.reason_code` and `data.reason_params`, so a platform can render its own
language from the same facts. A reason may end with the time it becomes
critical and with what the kit cannot tell apart (`doubts`), each a reason of
its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# code -> (English, 中文). Fields in braces come from the reason's parameters.
TEMPLATES: dict[str, tuple[str, str]] = {
    # silences
    "out_of_bed": ("out of bed since {since}, last seen in {room} at {last}, no motion anywhere "
                   "for {silent} min",
                   "{since}起床，最后在{room}出现（{last}），已{silent}分钟各处无活动"),
    "out_of_bed_mat_lags": ("out of bed since {since}, last seen in {room} at {last}, no motion "
                            "anywhere for {silent} min (the bed mat still reports pressure: a "
                            "lagging or stuck mat)",
                            "{since}起床，最后在{room}出现（{last}），已{silent}分钟各处无活动"
                            "（床垫仍显示有压力：床垫滞后或卡住）"),
    "up_on_way_to_bed": ("last seen in {room} at {last}, she had gone to the bedroom at {bedroom} "
                         "and is not back in it",
                         "最后在{room}出现（{last}），她{bedroom}进过卧室，之后没有回去"),
    "up_small_hours": ("last seen in {room} at {last}, up after midnight and not in bed",
                       "最后在{room}出现（{last}），午夜后起来，不在床上"),
    "not_up": ("still in the bedroom at {at}, usually up by then; in bed since {since} and "
               "nothing outside the bedroom since then",
               "{at}仍在卧室，平时此时已起床；{since}上床，之后卧室外无任何活动"),
    "not_seen_morning": ("not seen since {last} (last in {room}), usually up by {at}",
                         "自{last}起未见活动（最后在{room}），平时{at}前已起床"),
    "day_silence": ("no activity anywhere since {last}, last seen in {room} (longer than usual "
                    "at this hour)",
                    "自{last}起各处无活动，最后在{room}出现（比此时段平常更久）"),
    "silence_since": ("no activity anywhere since {last}, last seen in {room}",
                      "自{last}起各处无活动，最后在{room}出现"),
    "bathroom_stay": ("in the {room} since {since}, nothing elsewhere for {stay} min",
                      "{since}起在{room}，其他地方已{stay}分钟无活动"),
    "seated": ("in the {seat} in the {room} since {since}, nothing else moving for {stay} min: "
               "she may be unable to get up",
               "{since}起坐在{room}的{seat}上，已{stay}分钟无其他活动：她可能无法起身"),
    # what the layout cannot tell apart
    "doubt_no_entrance": ("no entrance contact: an outing looks like a silence at home",
                          "没有入户门传感器：外出与在家无活动看起来一样"),
    "doubt_bed_unseen": ("no bed mat, bedroom motion sensor or bedroom door contact: going to "
                         "bed is not seen",
                         "没有床垫、卧室人体传感器或卧室门磁：看不到她上床"),
    "doubt_mat_partner_out": ("the bed mat still reports someone lying down (a partner, a "
                              "visitor, or a lagging mat) and without an entrance contact she "
                              "may have gone out",
                              "床垫仍显示有人躺着（伴侣、访客或床垫滞后），且没有入户门传感器，"
                              "她可能已外出"),
    "doubt_mat_pet": ("the bed mat still reports someone lying down and only motion sensors "
                      "saw someone up: a pet or another person look the same",
                      "床垫仍显示有人躺着，只有人体传感器看到有人起来：宠物或其他人看起来一样"),
    "doubt_linked": ("one sensor outside the bedroom saw her minutes after the mat went empty: "
                     "a sensor firing by itself looks the same",
                     "床垫变空几分钟后，卧室外只有一个传感器看到她：传感器误触发看起来一样"),
    "doubt_one_sensor": ("one sensor outside the bedroom fired, nothing in the bedroom before "
                         "it: a sensor firing by itself looks the same",
                         "卧室外只有一个传感器触发，之前卧室内无活动：传感器误触发看起来一样"),
    "doubt_door_open": ("she may have gone back to bed through a door left open",
                        "她可能穿过开着的门回到了床上"),
    "doubt_maybe_back": ("she went out (entrance door at {door}) and only one sensor inside "
                         "fired since: her back without the door, a pet or a sensor firing by "
                         "itself look the same",
                         "她已外出（入户门{door}），此后室内只有一个传感器触发：未经入户门回家、"
                         "宠物或传感器误触发看起来一样"),
    # suffixes
    "critical_at": ("critical at {time} if nothing moves", "若无动静，{time}升级为紧急"),
    "cannot_tell": ("cannot tell apart: ", "无法区分："),
    "resolved": ("resolved: ", "已解除："),
    "open_for": ("{words}; open for {minutes} min without resolution",
                 "{words}；已持续{minutes}分钟未解除"),
    # signs of life and other resolutions
    "seen": ("{what} in {room} at {time}", "{time}在{room}{what}"),
    "back_home": ("back home: {seen}", "已回家：{seen}"),
    "stayed_inside": ("stayed inside: {seen}", "未外出：{seen}"),
    "up": ("up: {seen}", "已起床：{seen}"),
    "left_room": ("left the {room}: {seen}", "已离开{room}：{seen}"),
    "superseded": ("superseded by a critical alert", "已升级为紧急告警"),
    "went_out": ("resident went out (entrance door at {time})", "老人已外出（入户门{time}）"),
    # doors, devices, wearables
    "night_exit_after_bed": ("entrance door opened at {time} at night, after going to bed",
                             "夜间{time}入户门被打开，已上床之后"),
    "night_exit_before_bed": ("entrance door opened at {time} at night, before going to bed",
                              "夜间{time}入户门被打开，上床之前"),
    "seat_stuck": ("{what} in the {room} held since {since} without a change: stuck, ignored "
                   "until it changes",
                   "{room}的{what}自{since}起一直未变：已卡住，变化前忽略"),
    "seat_changed": ("{device} changed again", "{device}已恢复变化"),
    "device_reporting": ("{device} reporting again", "{device}已恢复上报"),
    "device_offline": ("{device} offline", "{device}离线"),
    "device_offline_detail": ("{device} offline: {detail}", "{device}离线：{detail}"),
    "device_online": ("{device} back online", "{device}已重新上线"),
    "low_battery": ("battery of {device} at {percent}% (below {limit}%)",
                    "{device}电量{percent}%（低于{limit}%）"),
    "battery_ok": ("battery of {device} at {percent}%", "{device}电量{percent}%"),
    "wandering": ("{tag} not heard since {last}, entrance door opened at {door}",
                  "自{last}起收不到{tag}信号，入户门{door}被打开"),
    "tag_back": ("{tag} back at {time}", "{tag}已于{time}回来"),
    # alarm inputs
    "sos": ("SOS button {device}{where} pressed", "紧急按钮{device}{where}被按下"),
    "sos_again": ("SOS pressed again at {time} ({device}{where})",
                  "{time}再次按下紧急按钮（{device}{where}）"),
    "sos_cancelled": ("cancelled at {device}", "已在{device}取消"),
    "input_activated": ("{input} input {device} activated", "{input}输入{device}已触发"),
    "detector_on": ("{detector} detector {device} activated", "{detector}探测器{device}报警"),
    "detector_clear": ("{detector} detector {device} clear", "{detector}探测器{device}已恢复正常"),
    # vital signs
    "vital_out": ("{label} {first} {unit} then {value} {unit} {minutes} min apart, {broken}",
                  "{label}{first}{unit}，{minutes}分钟后{value}{unit}，{broken}"),
    "vital_back": ("{label} back to {value} {unit}", "{label}已恢复到{value}{unit}"),
    "below": ("below {limit} {unit}", "低于{limit}{unit}"),
    "above": ("above {limit} {unit}", "高于{limit}{unit}"),
    # room temperature
    "temperature": ("{room} {value} °C for {duration} (limit {limit} °C)",
                    "{room}{value}°C已持续{duration}（限值{limit}°C）"),
    "temperature_extreme": ("{room} {value} °C for {duration} (limit {limit} °C), {word} "
                            "{critical} °C since {since}",
                            "{room}{value}°C已持续{duration}（限值{limit}°C），自{since}起"
                            "{word}{critical}°C"),
    "temperature_back": ("{room} back to {value} °C after {duration} ({worst_word} {worst} °C, "
                         "limit {limit} °C)",
                         "{room}经过{duration}已恢复到{value}°C（{worst_word}{worst}°C，"
                         "限值{limit}°C）"),
    "duration_hm": ("{h} h {m} min", "{h}小时{m}分钟"),
    "duration_h": ("{h} h", "{h}小时"),
    "duration_m": ("{m} min", "{m}分钟"),
    # daily checks, check-in, routine
    "not_done_by": ("no {what} by {by}", "{by}前没有{what_zh}"),
    "not_done_by_seen": ("no {what} by {by}; {seen}", "{by}前没有{what_zh}；{seen}"),
    "not_done_by_learned": ("no {what} by {by} (her usual time plus {margin} min; fixed check "
                            "{fixed})",
                            "{by}前没有{what_zh}（她平时的时间加{margin}分钟；固定检查时间{fixed}）"),
    "not_done_by_learned_seen": ("no {what} by {by} (her usual time plus {margin} min; fixed "
                                 "check {fixed}); {seen}",
                                 "{by}前没有{what_zh}（她平时的时间加{margin}分钟；固定检查时间"
                                 "{fixed}）；{seen}"),
    "last_seen": ("last seen in {room} at {time}", "最后在{room}出现（{time}）"),
    "no_checkin": ("no check-in {window} and no sign of activity since {since}",
                   "{window}没有报平安，自{since}起也无活动迹象"),
    "checked_in": ("checked in at {time}", "已于{time}报平安"),
    "no_checkin_moving": ("no check-in {window}; activity seen at {time}",
                          "{window}没有报平安；{time}看到有活动"),
    "routine_change": ("{metric} {value} against a usual {base} for {days} days in a row",
                       "{metric}{value}，平时为{base}，已连续{days}天"),
    "routine_back": ("{metric} {value} against a usual {base}", "{metric}{value}，平时为{base}"),
    # escalations: what is still the case
    "still_sos": ("SOS not cancelled", "紧急呼叫尚未取消"),
    "still_out": ("resident not back inside", "老人尚未回到室内"),
    "still_cold": ("home still cold", "室内仍然过冷"),
    "still_hot": ("home still hot", "室内仍然过热"),
    "still_wandering": ("wristband still not back", "手环信号仍未恢复"),
    "still_no_checkin": ("still no check-in", "仍未报平安"),
    "still_not_back": ("resident still not back and no activity", "老人仍未回来且无活动"),
    "still_no_activity": ("still no activity", "仍无活动"),
    "still_not_up": ("still not up", "仍未起床"),
    "still_no_sign": ("still no sign of life", "仍无任何活动迹象"),
    "still_in_chair": ("still in the chair", "仍坐在椅子上"),
    "still_in_bathroom": ("still in the bathroom", "仍在卫生间"),
    # a plain sentence (older snapshots, third-party text)
    "text": ("{text}", "{text}"),
}

# Words inside parameters, translated when the reason is rendered in Chinese.
ZH_WORDS: dict[str, str] = {
    "bathroom": "卫生间", "toilet": "厕所", "wc": "厕所", "shower": "淋浴间",
    "bedroom": "卧室", "kitchen": "厨房", "living": "客厅", "hall": "门厅",
    "dining": "餐厅", "study": "书房", "office": "办公室", "balcony": "阳台",
    "entrance": "入户门", "garage": "车库", "garden": "花园", "laundry": "洗衣房",
    "unknown": "未知房间", "den": "起居室",
    "motion": "有活动", "in bed": "躺下", "out of bed": "起床", "sat down": "坐下",
    "got up": "站起", "ok used": "按了“我没事”按钮",
    "chair": "椅子", "sofa": "沙发", "radar": "雷达", "seat": "座位",
    "occupancy sensor": "占位传感器", "kettle": "水壶", "fridge": "冰箱",
    "fridge_door": "冰箱门", "microwave": "微波炉", "oven": "烤箱", "toaster": "烤面包机",
    "tv": "电视", "door": "门",
    "smoke": "烟雾", "gas": "燃气", "co": "一氧化碳", "sos": "紧急按钮",
    "below": "低于", "above": "高于", "lowest": "最低", "highest": "最高",
    "heart rate": "心率", "SpO2": "血氧", "systolic blood pressure": "收缩压",
    "diastolic blood pressure": "舒张压", "body temperature": "体温", "weight": "体重",
    "bed exits at night": "夜间离床次数", "bathroom visits at night": "夜间如厕次数",
    "minutes in bed": "卧床分钟数", "active hours": "活动小时数", "minutes away": "外出分钟数",
}
_TRANSLATED = frozenset({"room", "what", "seat", "detector", "word", "worst_word", "metric",
                         "label", "input"})


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason as facts: a template code, its parameters, and optional clauses."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    critical_at: str | None = None
    doubts: tuple[Reason, ...] = ()

    def text(self, language: str = "en") -> str:
        zh = language == "zh_CN"
        out = render(self.code, self.params, zh)
        if self.critical_at is not None:
            out += ("；" if zh else "; ") + render("critical_at", {"time": self.critical_at}, zh)
        if self.doubts:
            sep = "；" if zh else "; "
            out += sep + render("cannot_tell", {}, zh) + sep.join(
                d.text(language) for d in self.doubts)
        return out

    def data(self) -> dict[str, Any]:
        """`reason_code` and `reason_params` for the alert's `data` (plain JSON: a nested
        reason is `{"code": ..., "params": ...}`)."""
        params: dict[str, Any] = {k: _plain(v) for k, v in self.params.items()}
        if self.critical_at is not None:
            params["critical_at"] = self.critical_at
        if self.doubts:
            params["doubts"] = [{"code": d.code, "params": d.params} for d in self.doubts]
        return {"reason_code": self.code, "reason_params": params}

    def with_params(self, **params: Any) -> Reason:
        return Reason(self.code, {**self.params, **params}, self.critical_at, self.doubts)


def _plain(value: Any) -> Any:
    if isinstance(value, Reason):
        inner = value.data()
        return {"code": inner["reason_code"], "params": inner["reason_params"]}
    return value


def say(code: str, **params: Any) -> Reason:
    if code not in TEMPLATES:
        raise KeyError(f"no reason template {code!r}")
    return Reason(code, params)


def still(text: str) -> Reason:
    """The escalation words for `text` ("still no activity"), as a reason."""
    for code, (english, _) in TEMPLATES.items():
        if code.startswith("still_") and english == text:
            return Reason(code)
    return Reason("text", {"text": text})


def from_data(code: str, params: dict[str, Any]) -> Reason:
    """The reason back from `Reason.data()` (a snapshot keeps reasons as plain data)."""
    rest: dict[str, Any] = {}
    critical_at: str | None = None
    doubts: tuple[Reason, ...] = ()
    for key, value in params.items():
        if key == "critical_at":
            critical_at = str(value)
        elif key == "doubts" and isinstance(value, list):
            doubts = tuple(from_data(str(d.get("code", "text")), dict(d.get("params", {})))
                           for d in value if isinstance(d, dict))
        elif isinstance(value, dict) and "code" in value and set(value) <= {"code", "params"}:
            rest[key] = from_data(str(value["code"]), dict(value.get("params", {})))
        else:
            rest[key] = value
    return Reason(code, rest, critical_at, doubts)


def as_reason(reason: str | Reason) -> Reason:
    return reason if isinstance(reason, Reason) else Reason("text", {"text": reason})


def render(code: str, params: dict[str, Any], zh: bool) -> str:
    english, chinese = TEMPLATES.get(code, ("{text}", "{text}"))
    if not zh:
        return english.format_map(_Params(params, zh=False))
    return chinese.format_map(_Params(params, zh=True))


class _Params(dict[str, Any]):
    """Parameters for `str.format_map`: nested reasons rendered, words translated."""

    def __init__(self, params: dict[str, Any], *, zh: bool) -> None:
        super().__init__(params)
        self.zh = zh

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, Reason):
            return value.text("zh_CN" if self.zh else "en")
        if self.zh and key in _TRANSLATED and isinstance(value, str):
            return ZH_WORDS.get(value, ZH_WORDS.get(value.removesuffix(" used"), value)
                                if value.endswith(" used") else value)
        if self.zh and key == "where" and isinstance(value, str) and value.startswith(" in "):
            room = value.removeprefix(" in ")
            return f"（{ZH_WORDS.get(room, room)}）"
        return value

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"

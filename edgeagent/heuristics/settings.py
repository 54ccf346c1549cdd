"""Per-home tuning of the safety heuristics (the `[heuristics]` table of the config).

Every field has a default chosen on real recordings (docs/heuristics.md) so
that a kit works out of the box; a care plan overrides what it must (a
resident's own vital limits, a later bedtime). Unknown keys are rejected so
a typo never silently falls back to a default.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VitalLimits(_Strict):
    """Care-plan limits. A reading outside them twice in `confirm_minutes` raises an alert."""

    heart_rate_min: float = 40.0
    heart_rate_max: float = 130.0
    spo2_min: float = 90.0
    systolic_min: float = 90.0
    systolic_max: float = 180.0
    diastolic_min: float = 50.0
    diastolic_max: float = 110.0
    temperature_min: float = 35.0
    temperature_max: float = 38.0
    weight_min: float = 0.0
    weight_max: float = 500.0
    confirm_minutes: float = Field(default=30.0, gt=0)
    critical_heart_rate_min: float = 35.0
    critical_heart_rate_max: float = 150.0
    critical_spo2_min: float = 85.0


class RoomClimate(_Strict):
    """Room temperature limits for `cold_home` / `hot_home` (°C, minutes).

    Defaults follow public-health guidance for older people (sources in
    docs/heuristics.md): at least 18 °C indoors (WHO Housing and Health
    Guidelines 2018; UKHSA/NHS), below 16 °C a risk to the lungs and below
    12 °C to the heart (UK Cold Weather Plan); above 26 °C a bedroom
    overheats (CIBSE TM59), above 32 °C is beyond the WHO daytime maximum.
    """

    cold_below: float = 18.0
    cold_critical_below: float = 16.0
    hot_above: float = 26.0
    hot_critical_above: float = 32.0
    minutes: float = Field(default=60.0, gt=0,
                           description="out of range this long before an alert")
    critical_minutes: float = Field(
        default=60.0, gt=0, description="beyond the critical limit this long: critical")
    escalate_hours: float = Field(
        default=12.0, gt=0, description="a warning still open after this long becomes critical")
    hysteresis: float = Field(
        default=1.0, ge=0, description="degrees back inside the limit before it resolves")

    @model_validator(mode="after")
    def _ordered(self) -> RoomClimate:
        if not (self.cold_critical_below <= self.cold_below < self.hot_above
                <= self.hot_critical_above):
            raise ValueError("need cold_critical_below <= cold_below < hot_above "
                             "<= hot_critical_above")
        return self


class DailyCheck(_Strict):
    """Something that should have happened by a time of day ("kettle or fridge by 10:00").

    Done by activity with one of `roles` (an appliance switched on, a fridge
    door) or any activity in one of `rooms`. Once `HeuristicsSettings.
    routine_min_days` days of history exist, the deadline is the later of
    `by` and her usual time (90th percentile of the days it was done) plus
    `margin_minutes`.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    roles: list[str] = Field(default_factory=list)
    rooms: list[str] = Field(default_factory=list)
    by: time
    margin_minutes: float = Field(default=60.0, ge=0)
    learn: bool = True

    @model_validator(mode="after")
    def _something(self) -> DailyCheck:
        if not self.roles and not self.rooms:
            raise ValueError(f"daily check {self.name!r} needs roles or rooms")
        return self


class HeuristicsSettings(_Strict):
    """Thresholds of every rule; minutes unless the name says otherwise."""

    enabled: bool = True
    night_start: time = time(22, 0)
    night_end: time = time(6, 0)
    settle_minutes: float = Field(
        default=10.0, ge=0, description="quiet in the bedroom at night = in bed for the night")
    settle_bed_minutes: float = Field(
        default=1.0, ge=0, description="the same when the bed mat has been pressed")
    unseen_settle_minutes: float = Field(
        default=60.0, gt=0,
        description="silence at night this long, then the bedroom = had gone to bed unseen")
    bedtime_glimpse_seconds: float = Field(
        default=60.0, ge=0, description="accepted for older configs; no longer used")
    bedtime_quiet_max_minutes: float = Field(
        default=180.0, gt=0,
        description="a bedroom quiet for longer than this before the night starts is a "
                    "daytime silence, not going to bed")
    bed_exit_no_return_minutes: float = Field(
        default=20.0, gt=0,
        description="up at night, last seen outside the bedroom, silent this long: alarm")
    night_urgent_minutes: float = Field(
        default=45.0, gt=0,
        description="the same with a doubt (one sensor, or not yet been to bed): critical "
                    "after this (care homes' urgent out-of-bed limit)")
    exit_evidence_seconds: float = Field(
        default=180.0, ge=0,
        description="a bedroom door, mat or PIR event this soon before confirms a bed exit")
    exit_confirm_seconds: float = Field(
        default=30.0, ge=0,
        description="else activity outside the bedroom lasting this long confirms it")
    mat_stuck_hours: float = Field(
        default=14.0, gt=0,
        description="a mat pressed this long without a break is reported as stuck")
    chatter_changes: int = Field(
        default=6, ge=0,
        description="a contact changing more often than this within chatter_seconds is "
                    "a bouncing switch: further changes are not activity (0: off)")
    chatter_seconds: float = Field(default=60.0, gt=0)
    bathroom_overstay_minutes: float = Field(default=45.0, gt=0)
    bathroom_night_critical_minutes: float = Field(
        default=45.0, ge=0,
        description="accepted for older configs; night_urgent_minutes covers the bathroom")
    bathroom_rooms: list[str] = Field(
        default_factory=lambda: ["bathroom", "toilet", "wc", "shower"])
    bedroom_rooms: list[str] = Field(default_factory=lambda: ["bedroom"])
    distant_rooms: list[tuple[str, str]] = Field(
        default_factory=list,
        description="room pairs one person cannot cover within visitor_seconds (installer's map)")
    visitor_seconds: float = Field(default=5.0, gt=0)
    visitor_minutes: float = Field(
        default=60.0, ge=0, description="silence alarms wait this long after a visitor is seen")
    away_minutes: float = Field(
        default=10.0, gt=0, description="entrance door then nothing inside for this long = away")
    fence_minutes: float = Field(
        default=5.0, gt=0,
        description="her wristband gone after the entrance door opened, not back this long: "
                    "wandering (critical)")
    fence_always: bool = Field(
        default=False, description="the fence applies day and night (else the night window)")
    occupancy_stuck_hours: float = Field(
        default=14.0, gt=0,
        description="a chair pad or radar held this long without a change is stuck")
    chair_overstay_hours: float = Field(
        default=6.0, gt=0,
        description="sitting, nothing else moving, this long in the day: chair_overstay "
                    "(or her own longest sit x 1.25, if longer)")
    chair_night_minutes: float = Field(
        default=120.0, gt=0,
        description="still in the chair this long after the night window starts: chair_overstay")
    chair_escalate_minutes: float = Field(
        default=120.0, gt=0, description="chair_overstay becomes critical this much later")
    prealarm_seconds: float = Field(
        default=120.0, ge=0,
        description="ask her this long before a silence alarm goes critical (0: off; only on "
                    "a kit with an annunciator and an I'm OK button)")
    prealarm_alerts: list[str] = Field(
        default_factory=lambda: ["fall_suspected", "bed_exit_no_return", "bathroom_overstay",
                                 "chair_overstay"],
        description="the critical alerts she is asked about first")
    checkin: bool = Field(default=False, description="daily check-in with the I'm OK button")
    checkin_start: time = time(7, 0)
    checkin_end: time = time(10, 0)
    return_sensors: int = Field(
        default=3, ge=1,
        description="away, back without the entrance door only on this many sensors ...")
    return_rooms: int = Field(default=2, ge=1, description="... in this many rooms ...")
    return_minutes: float = Field(default=10.0, gt=0, description="... within this long")
    inactivity_default_minutes: float = Field(
        default=120.0, gt=0, description="silence warning while her routine is learned")
    inactivity_floor_minutes: float = Field(default=60.0, gt=0)
    inactivity_ceiling_minutes: float = Field(
        default=150.0, gt=0, description="the silence warning never waits longer than this")
    inactivity_escalate_minutes: float = Field(
        default=60.0, gt=0, description="a silence warning becomes critical no sooner than this")
    long_silence_minutes: float = Field(
        default=240.0, gt=0,
        description="known home, silent this long in the day: critical (while learning, and "
                    "the least it ever is)")
    long_silence_contacts_minutes: float = Field(
        default=360.0, gt=0,
        description="the same where only contacts are fitted (they see her use things, "
                    "not sit: an afternoon in the armchair is silent)")
    long_silence_margin: float = Field(
        default=1.5, ge=1, description="learned: her longest ordinary day silence times this")
    routine_window_days: int = Field(default=28, ge=1)
    routine_min_days: int = Field(default=7, ge=1)
    routine_percentile: float = Field(default=0.95, gt=0, le=1)
    routine_margin: float = Field(default=1.25, ge=1)
    fall_burst_events: int = Field(default=3, ge=1,
                                   description="activity events in the 10 min before the silence")
    not_up_default: time = time(11, 0)
    not_up_margin_minutes: float = Field(default=90.0, ge=0)
    not_up_earliest: time = time(7, 0)
    not_up_latest: time = time(13, 0)
    not_up_critical_minutes: float = Field(
        default=120.0, gt=0, description="not_up becomes critical this long after it is raised")
    escalate_critical_minutes: float = Field(
        default=30.0, gt=0, description="an open critical alert escalates after this")
    low_battery_percent: float = Field(default=20.0, ge=0, le=100)
    battery_hysteresis_percent: float = Field(default=5.0, ge=0)
    vitals: VitalLimits = Field(default_factory=VitalLimits)
    climate: RoomClimate = Field(default_factory=RoomClimate)
    daily_checks: list[DailyCheck] = Field(
        default_factory=list, description="e.g. kettle or fridge used by 10:00 (off by default)")
    meal_roles: list[str] = Field(
        default_factory=lambda: ["microwave", "oven", "cooker", "hob", "stove", "toaster",
                                 "air_fryer"],
        description="appliances whose use counts as a meal prepared in the daily summary")
    meal_gap_minutes: float = Field(
        default=60.0, ge=0, description="meal-appliance uses closer than this are one meal")
    summary_hour: time = Field(default=time(12, 0),
                               description="local time a day's summary closes (after the night)")
    baseline_days: int = Field(default=14, ge=3)
    routine_change_days: int = Field(default=3, ge=1,
                                     description="consecutive days a deviation must last")

    @model_validator(mode="after")
    def _ordered(self) -> HeuristicsSettings:
        if self.inactivity_floor_minutes > self.inactivity_ceiling_minutes:
            raise ValueError("inactivity_floor_minutes must not exceed inactivity_ceiling_minutes")
        if self.night_start == self.night_end:
            raise ValueError("night_start and night_end must differ")
        if self.checkin_start >= self.checkin_end:
            raise ValueError("checkin_start must be before checkin_end")
        names = [check.name for check in self.daily_checks]
        if len(names) != len(set(names)):
            raise ValueError("daily_checks names must be unique")
        return self

"""Spec-derived and cross-implementation vectors for the GATT health-profile parsers.

VECTORS is a verbatim copy (as Python literals) of the 63 entries of the
project's shared GATT vector set: payloads with the values other
implementations' test suites expect (Nordic Android-BLE-Library and
nRF Toolbox, StanfordSpezi/SpeziBluetooth, openScale, HL7 PHD guide), plus
two spec-derived entries. `{"valid": False}` = the source rejects the payload.
The one entry marked `spec_conformance: disputed` is a robustness case.
"""

from __future__ import annotations

from typing import Any

import pytest
from edgeagent_drivers.ble import parsers as p

from edgeagent.errors import PayloadError

VECTORS: list[dict[str, Any]] = [{'uuid': '2A37',
  'hex': '0055',
  'expected': {'heart_rate_bpm': 85,
               'sensor_contact': None,
               'energy_expended_kj': None,
               'rr_intervals_raw': None},
  'source': 'Android-BLE-Library',
  'test': 'onHeartRateMeasurementReceived_simple'},
 {'uuid': '2A37',
  'hex': '04ff',
  'expected': {'heart_rate_bpm': 255,
               'sensor_contact': False,
               'energy_expended_kj': None,
               'rr_intervals_raw': None},
  'source': 'Android-BLE-Library',
  'test': 'onHeartRateMeasurementReceived_noContact'},
 {'uuid': '2A37',
  'hex': '1e5532002100',
  'expected': {'heart_rate_bpm': 85,
               'sensor_contact': True,
               'energy_expended_kj': 50,
               'rr_intervals_raw': [33]},
  'source': 'Android-BLE-Library',
  'test': 'onHeartRateMeasurementReceived_uint8'},
 {'uuid': '2A37',
  'hex': '1f0101320101000201ffff',
  'expected': {'heart_rate_bpm': 257,
               'sensor_contact': True,
               'energy_expended_kj': 306,
               'rr_intervals_raw': [1, 258, 65535]},
  'source': 'Android-BLE-Library',
  'test': 'onHeartRateMeasurementReceived_uint16'},
 {'uuid': '2A37',
  'hex': '170101',
  'expected': {'valid': False},
  'source': 'Android-BLE-Library',
  'test': 'onInvalidDataReceived'},
 {'uuid': '2A37',
  'hex': '0064',
  'expected': {'heart_rate_bpm': 100,
               'sensor_contact': False,
               'energy_expended_kj': None,
               'rr_intervals_raw': []},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with UINT8 heart rate and no additional data'},
 {'uuid': '2A37',
  'hex': '076400',
  'expected': {'heart_rate_bpm': 100,
               'sensor_contact': True,
               'energy_expended_kj': None,
               'rr_intervals_raw': []},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with UINT16 heart rate and sensor contact'},
 {'uuid': '2A37',
  'hex': '194b00380404043804',
  'expected': {'heart_rate_bpm': 75,
               'sensor_contact': False,
               'energy_expended_kj': 1080,
               'rr_intervals_raw': [1028, 1080]},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with energy expanded and RR intervals'},
 {'uuid': '2A37',
  'hex': '00',
  'expected': {'valid': False},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with insufficient data'},
 {'uuid': '2A37',
  'hex': 'ff64',
  'expected': {'valid': False},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with unsupported flag combinations'},
 {'uuid': '2A35',
  'hex': '1e8a00580078000000041114293b3c00012700',
  'expected': {'systolic': 138.0,
               'diastolic': 88.0,
               'mean_arterial_pressure': 120.0,
               'unit': 'mmHg',
               'pulse_rate': 60.0,
               'user_id': 1,
               'status': {'body_movement_detected': True,
                          'cuff_too_loose': True,
                          'irregular_pulse_detected': True,
                          'pulse_rate_in_range': True,
                          'pulse_rate_exceeds_upper_limit': False,
                          'pulse_rate_below_lower_limit': False,
                          'improper_measurement_position': True},
               'timestamp': {'year': None,
                             'month': 4,
                             'day': 17,
                             'hour': 20,
                             'minute': 41,
                             'second': 59}},
  'source': 'Android-BLE-Library',
  'test': 'onBloodPressureMeasurementReceived_full'},
 {'uuid': '2A35',
  'hex': '15bdf00b009ff03c001200',
  'expected': {'systolic': 18.9,
               'diastolic': 11.0,
               'mean_arterial_pressure': 15.9,
               'unit': 'kPa',
               'pulse_rate': 60.0,
               'user_id': None,
               'status': {'body_movement_detected': False,
                          'cuff_too_loose': True,
                          'irregular_pulse_detected': False,
                          'pulse_rate_in_range': False,
                          'pulse_rate_exceeds_upper_limit': False,
                          'pulse_rate_below_lower_limit': True,
                          'improper_measurement_position': False},
               'timestamp': None},
  'source': 'Android-BLE-Library',
  'test': 'onBloodPressureMeasurementReceived_some'},
 {'uuid': '2A35',
  'hex': '00bdf00b009ff0',
  'expected': {'systolic': 18.9,
               'diastolic': 11.0,
               'mean_arterial_pressure': 15.9,
               'unit': 'mmHg',
               'pulse_rate': None,
               'user_id': None,
               'status': None,
               'timestamp': None},
  'source': 'Android-BLE-Library',
  'test': 'onBloodPressureMeasurementReceived_minimal'},
 {'uuid': '2A35',
  'hex': '010203040506',
  'expected': {'valid': False},
  'source': 'Android-BLE-Library',
  'test': 'onInvalidDataReceived_toShort'},
 {'uuid': '2A35',
  'hex': '03020304050607',
  'expected': {'valid': False},
  'source': 'Android-BLE-Library',
  'test': 'onInvalidDataReceived_noTimestamp'},
 {'uuid': '2A35',
  'hex': '1f790051006a00e40705150a1e2d4800010600',
  'expected': {'systolic': 121.0,
               'diastolic': 81.0,
               'mean_arterial_pressure': 106.0,
               'unit': 'kPa',
               'pulse_rate': 72.0,
               'user_id': 1,
               'status': {'irregular_pulse_detected': True},
               'timestamp': {'year': 2020, 'month': 5}},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse valid data with all fields'},
 {'uuid': '2A35',
  'hex': '00480051004000',
  'expected': {'systolic': 72.0,
               'diastolic': 81.0,
               'mean_arterial_pressure': 64.0,
               'unit': 'mmHg',
               'pulse_rate': None,
               'user_id': None,
               'status': None,
               'timestamp': None},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse valid data without optional fields'},
 {'uuid': '2A35',
  'hex': '0848005100400001',
  'expected': {'systolic': 72.0,
               'diastolic': 81.0,
               'mean_arterial_pressure': 64.0,
               'user_id': 1,
               'pulse_rate': None,
               'timestamp': None},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with missing timestamp and pulse rate'},
 {'uuid': '2A35',
  'hex': '1f0048',
  'expected': {'valid': False},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse invalid data length'},
 {'uuid': '2A36',
  'hex': '1e0400000000000000041114293b3c00012700',
  'expected': {'cuff_pressure': 4.0,
               'unit': 'mmHg',
               'pulse_rate': 60.0,
               'user_id': 1,
               'timestamp': {'year': None,
                             'month': 4,
                             'day': 17,
                             'hour': 20,
                             'minute': 41,
                             'second': 59}},
  'source': 'Android-BLE-Library',
  'test': 'onIntermediateCuffPressureReceived_full'},
 {'uuid': '2A36',
  'hex': '156ff0000000003c001200',
  'expected': {'cuff_pressure': 11.1, 'unit': 'kPa', 'pulse_rate': 60.0},
  'source': 'Android-BLE-Library',
  'test': 'onIntermediateCuffPressureReceived_some'},
 {'uuid': '2A1C',
  'hex': '06b00e00fedc070c050b321b04',
  'expected': {'temperature': 37.6,
               'unit': 'C',
               'timestamp': {'year': 2012,
                             'month': 12,
                             'day': 5,
                             'hour': 11,
                             'minute': 50,
                             'second': 27},
               'temperature_type': 4,
               'temperature_type_name': 'finger'},
  'source': 'Android-BLE-Library',
  'test': 'onTemperatureMeasurementReceived'},
 {'uuid': '2A1C',
  'hex': '06b00e00fedc070c050b321b',
  'expected': {'valid': False},
  'source': 'Android-BLE-Library',
  'test': 'onInvalidDataReceived'},
 {'uuid': '2A1C',
  'hex': '06710e00fee40705150a1e2d01',
  'expected': {'temperature': 36.97,
               'unit': 'C',
               'timestamp': {'year': 2020,
                             'month': 5,
                             'day': 21,
                             'hour': 10,
                             'minute': 30,
                             'second': 45},
               'temperature_type': 1,
               'temperature_type_name': 'armpit'},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with all fields present'},
 {'uuid': '2A1C',
  'hex': '00c40900fe',
  'expected': {'temperature': 25.0, 'unit': 'C', 'timestamp': None, 'temperature_type': None},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse without optional fields'},
 {'uuid': '2A1C',
  'hex': '00ffff7f00',
  'expected': {'temperature': 'NaN', 'unit': 'C'},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with NaN float'},
 {'uuid': '2A1C',
  'hex': '00ffffff7f',
  'expected': {'temperature': '+Infinity', 'unit': 'C'},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with infinity float',
  'spec_conformance': 'disputed'},
 {'uuid': '2A1C',
  'hex': '08c40900fe',
  'expected': {'valid': False},
  'source': 'Android-nRF-Toolbox',
  'test': 'test parse with invalid flag'},
 {'uuid': '2A1C',
  'hex': '01da0300ff',
  'expected': {'temperature': 98.6, 'unit': 'F', 'timestamp': None, 'temperature_type': None},
  'source': ' IEEE 11073-20601 FLOAT)',
  'test': '',
  'expected_by': 'spec-derived'},
 {'uuid': '2A5F',
  'hex': '00e8f384f3',
  'expected': {'spo2_percent': 100, 'pulse_rate_bpm': 90},
  'source': 'SpeziBluetooth',
  'test': 'PLXContinuousMeasurement (encode)'},
 {'uuid': '2A5F',
  'hex': '0064005a00',
  'expected': {'spo2_percent': 100, 'pulse_rate_bpm': 90},
  'source': 'SpeziBluetooth',
  'test': 'PLXContinuousMeasurement (decode)'},
 {'uuid': '2A5F',
  'hex': '1c5f005a00200000000057f0',
  'expected': {'spo2_percent': 95,
               'pulse_rate_bpm': 90,
               'measurement_status': ['measurementIsOngoing'],
               'device_and_sensor_status': [],
               'pulse_amplitude_index': 8.7},
  'source': 'SpeziBluetooth',
  'test': 'PLXContinuousMeasurement Simple'},
 {'uuid': '2A5F',
  'hex': '1fdef3caf3caf35af5d4f3b2f220010000007ae3',
  'expected': {'spo2_percent': 99,
               'pulse_rate_bpm': 97,
               'spo2_fast': 97,
               'pulse_rate_fast': 137,
               'spo2_slow': 98,
               'pulse_rate_slow': 69,
               'measurement_status': ['measurementIsOngoing', 'fullyQualifiedData'],
               'device_and_sensor_status': [],
               'pulse_amplitude_index': 8.9},
  'source': 'SpeziBluetooth',
  'test': 'PLXContinuousMeasurement Full'},
 {'uuid': '2A5E',
  'hex': '0facf3bef5e8070b1d170839204022000066e3',
  'expected': {'spo2_percent': 94,
               'pulse_rate_bpm': 147,
               'timestamp': {'year': 2024,
                             'month': 11,
                             'day': 29,
                             'hour': 23,
                             'minute': 8,
                             'second': 57},
               'measurement_status': ['measurementIsOngoing', 'questionableMeasurementDetected'],
               'device_and_sensor_status': ['equipmentMalfunctionDetected',
                                            'lowPerfusionDetected'],
               'pulse_amplitude_index': 8.7},
  'source': 'SpeziBluetooth',
  'test': 'PLXSpotCheckMeasurement'},
 {'uuid': '2A9D',
  'hex': '025433ea070816082a24',
  'expected': {'weight_kg': 65.7,
               'timestamp': {'year': 2026,
                             'month': 8,
                             'day': 22,
                             'hour': 8,
                             'minute': 42,
                             'second': 36}},
  'source': 'openScale',
  'test': 'decodes captured standard weight indications'},
 {'uuid': '2A9D',
  'hex': '024033ea070816082b0b',
  'expected': {'weight_kg': 65.6,
               'timestamp': {'year': 2026,
                             'month': 8,
                             'day': 22,
                             'hour': 8,
                             'minute': 43,
                             'second': 11}},
  'source': 'openScale',
  'test': 'decodes captured standard weight indications'},
 {'uuid': '2A9D',
  'hex': '027c33ea070816082b28',
  'expected': {'weight_kg': 65.9,
               'timestamp': {'year': 2026,
                             'month': 8,
                             'day': 22,
                             'hour': 8,
                             'minute': 43,
                             'second': 40}},
  'source': 'openScale',
  'test': 'decodes captured standard weight indications'},
 {'uuid': '2A9D',
  'hex': '00a438',
  'expected': {'weight_kg': 72.5},
  'source': 'openScale',
  'test': 'weightPacket() helper'},
 {'uuid': '2A9D',
  'hex': '01983a',
  'expected': {'weight_lb': 150.0, 'timestamp': None},
  'source': 'spec-derived (Bluetooth Weight Scale Service 1.0)',
  'test': '',
  'expected_by': 'spec-derived'},
 {'uuid': 'format:SFLOAT',
  'hex': '65f0',
  'expected': {'value': 10.1},
  'source': 'Android-BLE-Library',
  'test': 'setValue_SFLOAT_hex'},
 {'uuid': 'format:FLOAT',
  'hex': '87d612fe',
  'expected': {'value': 12345.67},
  'source': 'Android-BLE-Library',
  'test': 'setValue_FLOAT_hex'},
 {'uuid': 'format:FLOAT',
  'hex': '01000000',
  'expected': {'value': 1.0},
  'source': 'Android-BLE-Library',
  'test': 'setValue_FLOAT_basic'},
 {'uuid': 'format:SFLOAT',
  'hex': '0200',
  'expected': {'value': 2.0, 'fhir_value': '2'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': '14f0',
  'expected': {'value': 2.0, 'fhir_value': '2.0'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': 'c8e0',
  'expected': {'value': 2.0, 'fhir_value': '2.00'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': '0210',
  'expected': {'value': 20.0, 'fhir_value': '20'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': '0220',
  'expected': {'value': 200.0, 'fhir_value': '200'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': 'c800',
  'expected': {'value': 200.0, 'fhir_value': '200'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': 'd204',
  'expected': {'value': 1234.0, 'fhir_value': '1234'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': '2e0b',
  'expected': {'value': -1234.0, 'fhir_value': '-1234'},
  'source': 'phd',
  'test': 'SFLOAT Encoding table'},
 {'uuid': 'format:FLOAT',
  'hex': '140000ff',
  'expected': {'value': 2.0, 'fhir_value': '2.0'},
  'source': 'phd',
  'test': 'FLOAT Encoding table'},
 {'uuid': 'format:FLOAT',
  'hex': 'c80000fe',
  'expected': {'value': 2.0, 'fhir_value': '2.00'},
  'source': 'phd',
  'test': 'FLOAT Encoding table'},
 {'uuid': 'format:FLOAT',
  'hex': '2efbff00',
  'expected': {'value': -1234.0, 'fhir_value': '-1234'},
  'source': 'phd',
  'test': 'FLOAT Encoding table'},
 {'uuid': 'format:SFLOAT',
  'hex': 'ff07',
  'expected': {'special': 'NaN', 'fhir_dataAbsentReason': 'not-a-number'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:FLOAT',
  'hex': 'ffff7f00',
  'expected': {'special': 'NaN', 'fhir_dataAbsentReason': 'not-a-number'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:SFLOAT',
  'hex': 'fe07',
  'expected': {'special': '+INF', 'fhir_dataAbsentReason': 'positive-infinity'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:FLOAT',
  'hex': 'feff7f00',
  'expected': {'special': '+INF', 'fhir_dataAbsentReason': 'positive-infinity'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:SFLOAT',
  'hex': '0208',
  'expected': {'special': '-INF', 'fhir_dataAbsentReason': 'negative-infinity'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:FLOAT',
  'hex': '02008000',
  'expected': {'special': '-INF', 'fhir_dataAbsentReason': 'negative-infinity'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:SFLOAT',
  'hex': '0008',
  'expected': {'special': 'NRes', 'fhir_dataAbsentReason': 'error'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:FLOAT',
  'hex': '00008000',
  'expected': {'special': 'NRes', 'fhir_dataAbsentReason': 'error'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:SFLOAT',
  'hex': '0108',
  'expected': {'special': 'RFU', 'fhir_dataAbsentReason': 'error'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'},
 {'uuid': 'format:FLOAT',
  'hex': '01008000',
  'expected': {'special': 'RFU', 'fhir_dataAbsentReason': 'error'},
  'source': 'phd',
  'test': 'Special FLOAT and SFLOAT Values'}]

# SpeziBluetooth spells status bits in camelCase; ours follow the spec's words.
STATUS_NAMES = {
    "measurementIsOngoing": "measurement_ongoing",
    "fullyQualifiedData": "fully_qualified_data",
    "questionableMeasurementDetected": "questionable_measurement_detected",
    "equipmentMalfunctionDetected": "equipment_malfunction_detected",
    "lowPerfusionDetected": "low_perfusion_detected",
}


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [f"{v['uuid']}-{v['hex']}" for v in vectors]


def _select(*uuids: str, valid: bool = True) -> list[dict[str, Any]]:
    return [
        v for v in VECTORS
        if v["uuid"] in uuids and ("valid" not in v["expected"]) == valid
        and v.get("spec_conformance") != "disputed"
    ]


def _check_timestamp(actual: p.GattDateTime | None, expected: dict[str, Any] | None) -> None:
    if expected is None:
        assert actual is None
        return
    assert actual is not None
    fields = actual.as_dict()
    for key, value in expected.items():
        assert fields[key] == value, key


def test_vector_table_is_complete() -> None:
    assert len(VECTORS) == 63
    assert sum(1 for v in VECTORS if v["expected"].get("valid") is False) == 8


@pytest.mark.parametrize("vector", _select("2A37"), ids=_ids(_select("2A37")))
def test_heart_rate_vectors(vector: dict[str, Any]) -> None:
    hr = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(hr, p.HeartRateMeasurement)
    assert hr.heart_rate_bpm == exp["heart_rate_bpm"]
    flags = bytes.fromhex(vector["hex"])[0]
    if exp["sensor_contact"] is False and not flags & 0x04:
        # nRF Toolbox reports False where the sensor has no contact feature (flag
        # bit 2 clear); we say None (unknown), the Android-BLE-Library convention.
        assert hr.sensor_contact is None
    else:
        assert hr.sensor_contact is exp["sensor_contact"]
    assert hr.energy_expended_kj == exp["energy_expended_kj"]
    assert list(hr.rr_intervals_raw) == (exp["rr_intervals_raw"] or [])
    assert hr.rr_intervals_s == tuple(rr / 1024 for rr in hr.rr_intervals_raw)


BP_STATUS_FIELDS = (
    "body_movement_detected", "cuff_too_loose", "irregular_pulse_detected",
    "pulse_rate_in_range", "pulse_rate_exceeds_upper_limit", "pulse_rate_below_lower_limit",
    "improper_measurement_position",
)


@pytest.mark.parametrize("vector", _select("2A35"), ids=_ids(_select("2A35")))
def test_blood_pressure_vectors(vector: dict[str, Any]) -> None:
    bp = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(bp, p.BloodPressureMeasurement)
    assert bp.systolic == exp["systolic"]
    assert bp.diastolic == exp["diastolic"]
    assert bp.mean_arterial_pressure == exp["mean_arterial_pressure"]
    if "unit" in exp:
        assert bp.unit == exp["unit"]
    assert bp.pulse_rate_bpm == exp["pulse_rate"]
    assert bp.user_id == exp["user_id"]
    if "status" in exp:
        if exp["status"] is None:
            assert bp.status is None
        else:
            assert bp.status is not None
            for key, value in exp["status"].items():
                assert key in BP_STATUS_FIELDS
                assert getattr(bp.status, key) is value, key
    _check_timestamp(bp.timestamp, exp["timestamp"])


@pytest.mark.parametrize("vector", _select("2A36"), ids=_ids(_select("2A36")))
def test_intermediate_cuff_pressure_vectors(vector: dict[str, Any]) -> None:
    icp = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(icp, p.IntermediateCuffPressure)
    assert icp.cuff_pressure == exp["cuff_pressure"]
    assert icp.unit == exp["unit"]
    assert icp.pulse_rate_bpm == exp["pulse_rate"]
    if "user_id" in exp:
        assert icp.user_id == exp["user_id"]
    if "timestamp" in exp:
        _check_timestamp(icp.timestamp, exp["timestamp"])


@pytest.mark.parametrize("vector", _select("2A1C"), ids=_ids(_select("2A1C")))
def test_temperature_vectors(vector: dict[str, Any]) -> None:
    t = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(t, p.TemperatureMeasurement)
    if exp["temperature"] == "NaN":
        assert t.temperature is None
        assert t.absent == (("temperature", "NaN"),)
    else:
        assert t.temperature == exp["temperature"]
    assert t.unit == exp["unit"]
    if "timestamp" in exp:
        _check_timestamp(t.timestamp, exp["timestamp"])
    if "temperature_type" in exp:
        assert t.temperature_type == exp["temperature_type"]
    if "temperature_type_name" in exp:
        assert t.temperature_type_name == exp["temperature_type_name"]


def test_fahrenheit_temperature_converts_to_celsius() -> None:
    t = p.parse_temperature(bytes.fromhex("01da0300ff"))
    assert (t.temperature, t.unit, t.celsius) == (98.6, "F", 37.0)


def test_disputed_plus_infinity_temperature_never_becomes_a_number() -> None:
    """nRF Toolbox calls 0x7FFFFFFF "+Infinity"; per IEEE-11073 it is -1e127, below 0 K.

    Robustness only: whatever the bytes, the result is a clear rejection or
    "no reading", never an infinite or absurd temperature.
    """
    (vector,) = [v for v in VECTORS if v.get("spec_conformance") == "disputed"]
    with pytest.raises(p.GattPayloadError, match="absolute zero"):
        p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))


def _status(names: list[str]) -> tuple[str, ...]:
    return tuple(STATUS_NAMES[n] for n in names)


@pytest.mark.parametrize("vector", _select("2A5F", "2A5E"), ids=_ids(_select("2A5F", "2A5E")))
def test_pulse_oximeter_vectors(vector: dict[str, Any]) -> None:
    m = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(m, p.PlxContinuous | p.PlxSpotCheck)
    assert m.spo2_pct == exp["spo2_percent"]
    assert m.pulse_rate_bpm == exp["pulse_rate_bpm"]
    if "measurement_status" in exp:
        assert m.measurement_status == _status(exp["measurement_status"])
    if "device_and_sensor_status" in exp:
        assert m.device_and_sensor_status == _status(exp["device_and_sensor_status"])
    if "pulse_amplitude_index" in exp:
        assert m.pulse_amplitude_index == exp["pulse_amplitude_index"]
    if isinstance(m, p.PlxContinuous):
        for ours, theirs in [("spo2_fast_pct", "spo2_fast"), ("pulse_rate_fast_bpm",
                             "pulse_rate_fast"), ("spo2_slow_pct", "spo2_slow"),
                             ("pulse_rate_slow_bpm", "pulse_rate_slow")]:
            assert getattr(m, ours) == exp.get(theirs)
    else:
        _check_timestamp(m.timestamp, exp["timestamp"])


@pytest.mark.parametrize("vector", _select("2A9D"), ids=_ids(_select("2A9D")))
def test_weight_vectors(vector: dict[str, Any]) -> None:
    w = p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    exp = vector["expected"]
    assert isinstance(w, p.WeightMeasurement)
    if "weight_kg" in exp:
        assert (w.unit, w.weight, w.weight_kg) == ("kg", exp["weight_kg"], exp["weight_kg"])
    else:
        assert (w.unit, w.weight) == ("lb", exp["weight_lb"])
        assert w.weight_kg == pytest.approx(exp["weight_lb"] * 0.45359237, abs=0.001)
    if "timestamp" in exp:
        _check_timestamp(w.timestamp, exp["timestamp"])


REJECTED = [v for v in VECTORS if v["expected"].get("valid") is False]


@pytest.mark.parametrize("vector", REJECTED, ids=_ids(REJECTED))
def test_sources_rejected_payloads_are_rejected_with_a_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(p.GattPayloadError) as info:
        p.decode(vector["uuid"], bytes.fromhex(vector["hex"]))
    assert isinstance(info.value, PayloadError)
    assert info.value.reason
    assert info.value.uuid == vector["uuid"].lower()


NUMBERS = [v for v in VECTORS if v["uuid"].startswith("format:")]


@pytest.mark.parametrize("vector", NUMBERS, ids=_ids(NUMBERS))
def test_ieee11073_number_vectors(vector: dict[str, Any]) -> None:
    raw = int.from_bytes(bytes.fromhex(vector["hex"]), "little")
    n = p.decode_sfloat(raw) if vector["uuid"] == "format:SFLOAT" else p.decode_float(raw)
    exp = vector["expected"]
    if "special" in exp:
        assert n.value is None
        assert n.special == exp["special"]
    else:
        assert n.special is None
        assert n.value == exp["value"]
        if "fhir_value" in exp:
            assert f"{n.value:.{n.decimals}f}" == exp["fhir_value"]
